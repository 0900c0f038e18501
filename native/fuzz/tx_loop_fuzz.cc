// libFuzzer harness: the transmit loop's real per-batch code (TxBatch::Run, engine/tx_batch.h) over fake I/O
// (loop_fakes.h). The input is a small program that builds the packets the fake TUN queue serves: plain
// TCP/UDP packets (IPv4/IPv6, routed, unrouted, NEEDS_CSUM with fuzzed offsets), TSO super-packets of up
// to 64 KiB with any MSS (up to 65,535: segments larger than a UDP datagram) and fuzzed virtio-net headers,
// repeats of the last super-packet (so the predicted scattered layout is used and missed), and raw reads
// of sizes at every limit; with UDP GSO on or off (or broken), 1 to 4 transmit sockets per family of an
// IPv4, IPv6 or dual-stack underlay (the table's peer 0 is dual-stack, peer 1 IPv6-only: loop_fakes.h),
// failing sends and a running capture with a fuzzed filter.
//
// Input layout (bytes; an input that runs out reads as zeros):
//   flags: bit0 udpGso, bit1 capture, bits2-3 senders−1, bit4 failing sends, bit5 GSO broken,
//          bits6-7 the underlay: 0 IPv4, 1 IPv6, 2-3 both (3: with remote checksum offload on, peer 0 accepting it)
//   [failEvery], [capture: filter length %24, filter bytes, snap]
//   then packets while a non-zero byte precedes them: op (bits0-1 kind, bits2-7 variant) and operands.
// Invariants: every message sent is well-formed (FakeSender: VXLAN header, datagrams ≤ 65,507 bytes);
// every packet read is forwarded, dropped under a reason, counted too big or has no endpoint of our families
// (peer 1 from an IPv4-only underlay); the datagrams counted sent are those the senders took, the errors at
// least those they failed plus the packets without an endpoint; ASan/UBSan clean.
#include <algorithm>
#include <vector>

#include "engine/capture.h"
#include "engine/tx_batch.h"
#include "loop_fakes.h"

using namespace vxtun;
using namespace vxtun::fuzz;

namespace {

constexpr size_t kRawSizes[10] = {0, 1, 9, 10, 11, 30, 31, 65535, 65545, 96 * 1024};

struct World {
  TableHolder holder;
  CaptureHub hub{2, &holder};
  WorkerSettings s;
  FakeTun tun;
  FakeSender senders[8];  // up to 4 per family: IPv4 ones first
  Counters c;
  TableHolder::ReaderSlot* slot;
  TxBatch batch;
  int session;
  World()
      : slot(Setup()),
        batch(0, &tun, TxSenders{{&senders[0]}, {}}, &holder, slot, s, &c),
        session(hub.Start(CaptureOptions{})) {}
  TableHolder::ReaderSlot* Setup() {
    holder.Replace(FixedTable());
    return holder.RegisterReader();
  }
};

// Writes [virtio-net header | packet] into out (a recycled read: cleared, its buffer kept).
void WithVnet(std::vector<uint8_t>& out, const VnetHdr& v, const PacketSpec& ps) {
  out.resize(kVnetHdrLen);
  WriteVnetHdr(out.data(), v);
  AppendPacket(out, ps);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The batch's sockets are fixed at construction, so a world per sender count and underlay.
  static World* worlds[4][3] = {};
  Reader r(data, size);
  const uint8_t flags = r.U8();
  const int nsend = 1 + ((flags >> 2) & 3);
  const int under = std::min(2, flags >> 6);  // 0 IPv4, 1 IPv6, 2 both
  const bool have4 = under != 1, have6 = under != 0;
  if (!worlds[nsend - 1][under]) {
    worlds[nsend - 1][under] = new World;
    // Rebuild the batch with nsend senders per family.
    World* w = worlds[nsend - 1][under];  // reset below: the settings, fakes and queue here, the layout and tally
    w->batch.Reset();
    TxSenders ss;
    for (int i = 0; i < nsend; i++) {
      if (have4) ss.v4.push_back(&w->senders[i]);
      if (have6) ss.v6.push_back(&w->senders[4 + i]);
    }
    w->batch.~TxBatch();
    new (&w->batch) TxBatch(0, &w->tun, ss, &w->holder, w->slot, w->s, &w->c);
  }
  World* w = worlds[nsend - 1][under];
  WorkerSettings& s = w->s;
  s = WorkerSettings{};
  s.policy.vni = 1;
  std::memcpy(s.policy.mac, kOurMac, 6);
  s.portNet = htons(8472);
  s.offloads.udpGso = flags & 0x01;
  s.policy.remoteChecksum = (flags >> 6) == 3;
  s.offloads.tso = true;
  const unsigned failEvery = (flags & 0x10) ? 1 + r.U8() % 8 : 0;
  for (int i = 0; i < 8; i++) {
    FakeSender& f = w->senders[i];
    f = FakeSender{};
    f.failEvery = failEvery;
    f.broken = flags & 0x20;
    f.rco = s.policy.remoteChecksum;
    f.family = i < 4 ? 4 : 6;
    f.have4 = have4;
    f.have6 = have6;
  }
  // Capture: the world's long-running session (every packet), and with a filter program given, a session
  // of this input's own (sessions cost megabytes of rings: most inputs use the first).
  int session = -1;
  if (flags & 0x02) {
    s.capture = &w->hub;
    uint8_t prog[24];
    const size_t plen = r.U8() % 24;
    r.Bytes(prog, plen);
    const uint8_t snap = r.U8();
    CaptureOptions o;
    std::string err;
    if (plen > 0 && CaptureFilter::Decode(prog, plen, &o.filter, &err)) {
      o.snaplen = 1 + snap * 8 % kCaptureMaxSnap;
      session = w->hub.Start(o);
      FUZZ_CHECK(session > 0);
    }
  }
  FakeTun& tun = w->tun;
  tun.reads.clear();
  static std::vector<uint8_t> last;  // this input's last super-packet (the buffer is kept between inputs)
  last.clear();
  uint32_t seq = 1;
  while (r.U8() != 0 || tun.reads.empty()) {
    if (tun.reads.size() >= 96) break;
    const uint8_t op = r.U8();
    const int kind = op & 3, variant = op >> 2;
    PacketSpec ps;
    ps.v6 = variant & 1;
    ps.srcNet = 0;
    ps.dstNet = static_cast<uint8_t>(1 + (variant >> 1) % 3);  // 3: no route
    if (ps.v6 && ps.dstNet == 2) ps.dstNet = 1;
    ps.sport = static_cast<uint16_t>(1000 + (variant >> 3));
    ps.seq = seq;
    VnetHdr v;
    if (kind == 0) {
      ps.proto = (variant & 0x20) ? 17 : 6;
      ps.payload = r.U16() % 9000;
      if (r.U8() & 1) {  // NEEDS_CSUM: the right offsets, or fuzzed ones
        v.flags = kVnetFlagNeedsCsum;
        v.csumStart = static_cast<uint16_t>(ps.v6 ? 40 : 20);
        v.csumOffset = ps.proto == 6 ? 16 : 6;
        if (variant & 0x10) v.csumStart = r.U16(), v.csumOffset = r.U16();
      }
      WithVnet(tun.reads.emplace(), v, ps);
    } else if (kind == 1) {
      // A TSO super-packet.
      const size_t hl = (ps.v6 ? 40 : 20) + 20;
      ps.payload = r.U16() % (65536 - hl);
      const uint16_t mssSel = r.U16();
      const size_t mss = (variant & 0x10) ? mssSel : 512 + mssSel % 8500;
      v.flags = kVnetFlagNeedsCsum;
      v.gsoType = ps.v6 ? kVnetGsoTcpv6 : kVnetGsoTcpv4;
      if (variant & 0x20) v.gsoType = r.U8();
      v.gsoSize = static_cast<uint16_t>(mss);
      v.hdrLen = static_cast<uint16_t>(hl);
      v.csumStart = static_cast<uint16_t>(hl - 20);
      v.csumOffset = 16;
      seq += static_cast<uint32_t>(ps.payload);
      std::vector<uint8_t>& p = tun.reads.emplace();
      WithVnet(p, v, ps);
      last.assign(p.begin(), p.end());
    } else if (kind == 2) {
      // A raw read of a size at a limit: a header of fuzzed bytes, then a valid packet's head.
      const size_t len = (variant & 1) ? r.U16() : kRawSizes[r.U8() % 10];
      VnetHdr rv;
      rv.flags = r.U8();
      rv.gsoType = r.U8();
      rv.gsoSize = r.U16();
      rv.csumStart = r.U16();
      rv.csumOffset = r.U16();
      ps.payload = 1500;
      std::vector<uint8_t>& p = tun.reads.emplace();
      WithVnet(p, rv, ps);
      p.resize(len, static_cast<uint8_t>(op));
    } else {
      // The last super-packet again (its layout is predicted for the next batch), up to 8 times.
      const int times = 1 + (variant & 7);
      for (int k = 0; k < times && !last.empty(); k++) tun.reads.emplace().assign(last.begin(), last.end());
      if (last.empty()) WithVnet(tun.reads.emplace(), v, ps);
    }
  }
  const uint64_t queued = tun.reads.size();
  Counters& c = w->c;
  const TxBatch::Tally t0 = w->batch.tally();
  const uint64_t p0 = c.packets.load(), e0 = c.errors.load();
  uint64_t d0 = 0;
  for (int k = 0; k < kVerdictCount; k++) d0 += c.drops[k].load();
  uint64_t dk0[kVerdictCount];
  for (int k = 0; k < kVerdictCount; k++) dk0[k] = c.drops[k].load();
  int rc = 1;
  // The first batch reads one packet when the input's packet count is odd (as a loop does after sleeping or in
  // waiting mode, engine/worker.cc; waiting when the count is 1 mod 4), else a full batch.
  const int firstMax = (queued & 1) ? 1 : kBatch;
  tun.SetWaiting((queued & 3) == 1);
  for (int guard = 0; guard < 10000 && (rc > 0 || !tun.reads.empty()); guard++) {
    rc = w->batch.Run(guard == 0 ? firstMax : kBatch, guard == 0 && tun.waiting());
    FUZZ_CHECK(rc >= 0);
  }
  FUZZ_CHECK(tun.reads.empty());
  static std::vector<uint8_t> out(1 << 18);
  uint64_t capBytes = 0;
  if (flags & 0x02) capBytes += w->hub.Drain(w->session, out.data(), out.size(), 128).bytes;
  if (session > 0) {
    capBytes += w->hub.Drain(session, out.data(), out.size(), 64).bytes;
    FUZZ_CHECK(w->hub.Stop(session));
  }
  // Executions stay independent (libFuzzer replays one input alone): the world's capture session ends every
  // input empty with no drops pending (a ring this input filled would carry its drop count into the next
  // input's first record): drained, or restarted when it dropped.
  if (flags & 0x02) {
    CaptureSessionStats st;
    FUZZ_CHECK(w->hub.SessionStats(w->session, &st));
    if (st.dropped > 0) {
      FUZZ_CHECK(w->hub.Stop(w->session));
      w->session = w->hub.Start(CaptureOptions{});
      FUZZ_CHECK(w->session > 0);
    } else {
      while (w->hub.Drain(w->session, out.data(), out.size(), kCaptureSlots).records > 0) {
      }
    }
  }
  const TxBatch::Tally& t1 = w->batch.tally();
  uint64_t drops = 0, sent = 0, failed = 0;
  for (int k = 0; k < kVerdictCount; k++) drops += c.drops[k].load();
  for (const auto& f : w->senders) sent += f.sent, failed += f.failedDatagrams;
  uint64_t dropMix = 0, msgs = 0;
  for (int k = 0; k < kVerdictCount; k++) dropMix = dropMix * 31 + (c.drops[k].load() - dk0[k]);
  for (const auto& f : w->senders) msgs = msgs * 31 + f.msgs;
  const uint64_t noEndpoint = t1.noEndpoint - t0.noEndpoint;
  Digest({queued, t1.forwarded - t0.forwarded, t1.tooBig - t0.tooBig, c.packets.load() - p0, c.errors.load() - e0,
          dropMix, sent, failed, msgs, capBytes, noEndpoint});
  FUZZ_CHECK(c.drops[0].load() == 0);
  FUZZ_CHECK(t1.read - t0.read == queued);
  FUZZ_CHECK((t1.forwarded - t0.forwarded) + (drops - d0) + (t1.tooBig - t0.tooBig) + noEndpoint == queued);
  if (have6) FUZZ_CHECK(noEndpoint == 0);  // every peer has an IPv6 endpoint
  FUZZ_CHECK(c.packets.load() - p0 == sent);
  FUZZ_CHECK(c.errors.load() - e0 >= failed + noEndpoint);
  if (t1.tooBig == t0.tooBig) FUZZ_CHECK(c.errors.load() - e0 == failed + noEndpoint);
  return 0;
}
