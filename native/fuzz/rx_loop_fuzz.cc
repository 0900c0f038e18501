// libFuzzer harness: the receive loop's real per-batch code (RxBatch::Run, engine/rx_batch.h) over fake I/O
// (loop_fakes.h). The input is a small program that builds the messages the fake socket serves: UDP GRO
// trains of 1 to 256 VXLAN datagrams (TCP or UDP, IPv4 or IPv6, from known and unknown VTEPs, some
// corrupted, some with remote checksum offload), raw messages of sizes at every limit (0, 1, 21, 22, kBufSize, 65535…),
// and single datagrams with one byte changed; with coalescing on or off, 1 to 4 TUN queues, MTUs at their limits,
// failing TUN writes and a running capture with a fuzzed filter.
//
// Input layout (bytes; an input that runs out reads as zeros):
//   flags: bit0 gro, bit1 acceptUnknownVteps, bit2 no inner-source check, bit3 capture, bits4-5 queues−1,
//          bit6 failing writes, bit7 the device is gone
//   mtu selector (bits0-2; bit7 remote checksum offload accepted), failEvery (with bit6), [capture: filter
//   length %24, filter bytes]
//   then messages, each: op (bits0-1 kind, bits2-3 source, bits4-7 variant) and its operands (below).
// Invariants: every TUN write is well-formed (FakeTun); every datagram received is counted once:
// packets + errors + drops = datagrams; errors = the datagrams of failed writes; ASan/UBSan clean.
#include <vector>

#include "engine/capture.h"
#include "engine/rx_batch.h"
#include "loop_fakes.h"

using namespace vxtun;
using namespace vxtun::fuzz;

namespace {

constexpr size_t kMtus[8] = {576, 1280, 1450, 1500, 9000, 65485, 68, 1};
constexpr size_t kRawSizes[12] = {0, 1, 21, 22, 41, 42, 1514, 65507, 65535, kBufSize - 1, kBufSize, kBufSize + 1};

// The datagrams RxBatch cuts a message into (engine/rx_batch.cc): a train at its gso size, unless it is one
// kernel GSO_UDP_TUNNEL packet delivered whole.
uint64_t Datagrams(const FakeUdp::Msg& m) {
  const size_t size = m.data.size() > kBufSize ? 0 : m.data.size();
  size_t step = m.gso == 0 || m.gso >= size ? size : m.gso;
  if (step < size && size >= kEncapPrefix + kIpv4MinHeader) {
    InnerIp probe;
    if (ParseInnerIp(m.data.data() + kEncapPrefix, size - kEncapPrefix, &probe) == Verdict::Forward &&
        kEncapPrefix + probe.length == size)
      step = size;
  }
  return size == 0 ? 1 : (size + step - 1) / step;
}

// Appends a VXLAN datagram carrying the packet to out; returns its offset.
size_t AppendDatagram(std::vector<uint8_t>& out, const PacketSpec& s) {
  const size_t at = out.size();
  out.resize(at + kEncapPrefix);
  WriteEncapPrefix(out.data() + at, 1, kOurMac, kPeerMac[0], s.v6 ? kEthPIpv6 : kEthPIp);
  AppendPacket(out, s);
  return at;
}

// Built once (the batch's arrays are megabytes): the batch reads the settings and fakes by reference, and
// each input resets them.
struct World {
  TableHolder holder;
  CaptureHub hub{2, &holder};
  WorkerSettings s;
  FakeUdp udp;
  FakeTun tuns[4];
  Counters c;
  TableHolder::ReaderSlot* slot;
  RxBatch batch;
  int session;
  World() : slot(Setup()), batch(0, &udp, &tuns[0], &holder, slot, s, &c), session(hub.Start(CaptureOptions{})) {}
  TableHolder::ReaderSlot* Setup() {
    holder.Replace(FixedTable());
    return holder.RegisterReader();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* w = new World;  // reset below: the settings, fakes and queue here, the batch's predictions
  w->batch.Reset();
  Reader r(data, size);
  const uint8_t flags = r.U8();
  WorkerSettings& s = w->s;
  s = WorkerSettings{};
  s.policy.vni = 1;
  std::memcpy(s.policy.mac, kOurMac, 6);
  s.policy.acceptUnknownVteps = flags & 0x02;
  s.policy.checkInnerSource = !(flags & 0x04);
  s.offloads.gro = flags & 0x01;
  s.offloads.udpGro = true;
  const uint8_t mtuSel = r.U8();
  s.mtu = kMtus[mtuSel % 8];
  s.policy.remoteChecksum = mtuSel & 0x80;
  const unsigned failEvery = (flags & 0x40) ? 1 + r.U8() % 8 : 0;
  // Capture: the world's long-running session (empty filter: every packet), and with a filter program
  // given, a session of this input's own (sessions cost megabytes of rings: most inputs use the first).
  CaptureHub& hub = w->hub;
  int session = -1;
  if (flags & 0x08) {
    s.capture = &hub;
    uint8_t prog[24];
    const size_t plen = r.U8() % 24;
    r.Bytes(prog, plen);
    const uint8_t snap = r.U8();
    CaptureOptions o;
    std::string err;
    if (plen > 0 && CaptureFilter::Decode(prog, plen, &o.filter, &err)) {
      o.snaplen = 1 + snap * 8 % kCaptureMaxSnap;
      // With outer headers (odd snap), an IPv4 node: peer 0 (IPv4) is the far end, peer 1 (IPv6) 0.0.0.0.
      o.outer = snap & 1;
      o.publicIp = UnderlayAddr::V4Net(htonl(0xc0000264));
      o.port = 8472;
      o.vni = 1;
      session = hub.Start(o);
      FUZZ_CHECK(session > 0);
    }
  }
  const int queues = 1 + ((flags >> 4) & 3);
  for (auto& t : w->tuns) {
    t = FakeTun{};
    t.failEvery = failEvery;
    t.gone = flags & 0x80;
    t.rco = s.policy.remoteChecksum;
  }
  if (queues > 1)
    for (int q = 0; q < queues; q++) s.tunQueues.push_back(&w->tuns[q]);

  FakeUdp& udp = w->udp;
  udp.queue.clear();
  uint32_t seq[4] = {1000, 50000, 7, 0x7fffffff};
  while (r.U8() != 0 || udp.queue.empty()) {  // an input that runs out ends the program
    if (udp.queue.size() >= 160) break;
    const uint8_t op = r.U8();
    const int kind = op & 3, srcSel = (op >> 2) & 3, variant = op >> 4;
    FakeUdp::Msg& m = udp.queue.emplace();  // recycled: cleared, its buffer kept
    m.src = VtepAddr(srcSel);               // 3: peer 0 by its IPv6 endpoint
    PacketSpec ps;
    ps.v6 = variant & 1;
    ps.proto = (variant & 2) ? 17 : 6;
    ps.srcNet = static_cast<uint8_t>(srcSel == 1 ? 2 : 1);
    ps.dstNet = (variant & 4) ? 3 : 0;  // 3: not local
    ps.sport = static_cast<uint16_t>(3000 + (variant >> 3));
    const int flow = variant & 3;
    if (kind == 0 || kind == 3) {
      // A train: count datagrams of seg payload bytes (the last may be shorter), some with PSH or corrupted.
      const int count = 1 + r.U8();
      const size_t payload = r.U8() % 2 ? r.U8() : r.U16() % 1500;
      const uint8_t mutate = r.U8();
      m.data.reserve(std::min<size_t>(static_cast<size_t>(count) * (kEncapPrefix + 60 + payload), kBufSize + 2048));
      for (int i = 0; i < count && m.data.size() <= kBufSize; i++) {
        ps.seq = seq[flow];
        ps.payload = (i == count - 1 && (mutate & 1)) ? payload / 2 : payload;
        ps.tcpFlags = (i == count - 1 && (mutate & 2)) ? 0x18 : 0x10;
        ps.fill = static_cast<uint8_t>(i);
        const size_t at = AppendDatagram(m.data, ps);
        if ((mutate & 0x04) && i == (mutate >> 3) % count) m.data.back() ^= 0x5a;  // a bad inner checksum
        if ((mutate & 0x80) && i == count / 2) m.data[at] = 0;                     // a bad VXLAN header
        if (mutate & 0x40) {  // remote checksum offload describing the packet (the start odd for one: no match)
          m.data[at + 1] = 0x20;
          m.data[at + 7] = static_cast<uint8_t>(((kEthHeader + (ps.v6 ? 40 : 20)) >> 1) + (i == 1 ? 1 : 0));
          if (ps.proto == 17) m.data[at + 7] |= 0x80;
        }
        seq[flow] += static_cast<uint32_t>(ps.payload);
        if (i == 0) m.gso = static_cast<uint16_t>(m.data.size());
      }
      if (kind == 3) m.gso = r.U16();
    } else if (kind == 1) {
      // A raw message of a size at a limit: a valid datagram's head, then filler.
      const size_t len = (variant & 8) ? r.U16() : kRawSizes[r.U8() % 12];
      ps.payload = 64;
      AppendDatagram(m.data, ps);
      m.data.resize(len, static_cast<uint8_t>(op));
      m.gso = (variant & 4) ? r.U16() : 0;
    } else {
      // One datagram with one byte changed.
      ps.seq = seq[flow];
      ps.payload = r.U16() % 9000;
      AppendDatagram(m.data, ps);
      seq[flow] += static_cast<uint32_t>(ps.payload);
      const uint16_t at = r.U16();
      const uint8_t x = r.U8();
      if (variant & 8) m.data[at % m.data.size()] ^= x;
    }
  }
  uint64_t datagrams = 0;
  for (const auto& m : udp.queue) datagrams += Datagrams(m);

  Counters& c = w->c;
  const uint64_t p0 = c.packets.load(), e0 = c.errors.load();
  uint64_t d0 = 0;
  for (int k = 0; k < kVerdictCount; k++) d0 += c.drops[k].load();
  uint64_t dk0[kVerdictCount];
  for (int k = 0; k < kVerdictCount; k++) dk0[k] = c.drops[k].load();
  int rc = 1;
  for (int guard = 0; guard < 10000 && (rc > 0 || !udp.queue.empty()); guard++) {
    rc = w->batch.Run(guard == 0);  // the fake never blocks: a waiting receive of an empty queue returns 0
    if (rc < 0) break;
  }
  if (flags & 0x80) {
    FUZZ_CHECK(rc >= 0 || w->batch.FatalMessage(rc).find("TUN device") != std::string::npos);
  } else {
    FUZZ_CHECK(rc == 0 && udp.queue.empty());
  }
  static std::vector<uint8_t> out(1 << 18);
  uint64_t capBytes = 0;
  if (flags & 0x08) capBytes += hub.Drain(w->session, out.data(), out.size(), 128).bytes;
  if (session > 0) {
    capBytes += hub.Drain(session, out.data(), out.size(), 64).bytes;
    FUZZ_CHECK(hub.Stop(session));
  }
  // Executions stay independent (libFuzzer replays one input alone): the world's capture session ends every
  // input empty with no drops pending (a ring this input filled would carry its drop count into the next
  // input's first record): drained, or restarted when it dropped.
  if (flags & 0x08) {
    CaptureSessionStats st;
    FUZZ_CHECK(hub.SessionStats(w->session, &st));
    if (st.dropped > 0) {
      FUZZ_CHECK(hub.Stop(w->session));
      w->session = hub.Start(CaptureOptions{});
      FUZZ_CHECK(w->session > 0);
    } else {
      while (hub.Drain(w->session, out.data(), out.size(), kCaptureSlots).records > 0) {
      }
    }
  }
  uint64_t dropMix = 0, writes = 0;
  for (int k = 0; k < kVerdictCount; k++) dropMix = dropMix * 31 + (c.drops[k].load() - dk0[k]);
  for (const auto& t : w->tuns) writes = writes * 31 + t.writes;
  Digest(
      {datagrams, static_cast<uint64_t>(rc), c.packets.load() - p0, c.errors.load() - e0, dropMix, writes, capBytes});
  if (flags & 0x80) {
    // The device is gone: the worker's loop would end here; the rest of the batch is lost with it.
    udp.queue.clear();
    return 0;
  }
  uint64_t drops = 0, failedWrites = 0;
  for (int k = 0; k < kVerdictCount; k++) drops += c.drops[k].load();
  for (const auto& t : w->tuns) failedWrites += t.writesFailed;
  FUZZ_CHECK(c.drops[0].load() == 0);
  FUZZ_CHECK((c.packets.load() - p0) + (c.errors.load() - e0) + (drops - d0) == datagrams);
  // A failed write costs its datagrams; a super-packet that cannot be segmented (MTU too small) is an error
  // without a write.
  if (failedWrites > 0) FUZZ_CHECK(c.errors.load() > e0);
  return 0;
}
