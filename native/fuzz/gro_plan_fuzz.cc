// libFuzzer harness: the receive-side write plan (PlanTunWrites, core/gro.h). The input steers a train
// of TCP segments built from a valid base packet — sequence gaps, PSH, short payloads, another
// flow, a corrupted payload, from a UDP GRO train or not, IPv4 or IPv6 — so that coalescing is
// actually reached; two bytes after the train make one packet's checksum a partial seed and
// break one IPv4 header checksum; a third marks packets as carrying remote checksum offload (RxPkt::rco, bit i % 8
// for packet i). Invariants:
//   - every packet lands in exactly one write, in order;
//   - a coalesced write gathers into one valid super-packet: its IP length equals the gathered
//     length (≤ 65535), its payload is the members' payloads in order, every member but the last
//     carries exactly gso_size bytes, and every member's TCP (and IPv4 header) checksum verified
//     as received — whether or not it came in a UDP GRO train;
//   - a plain write gathers exactly one packet, unchanged but for a completed checksum, which only
//     a packet whose field held a partial seed may get;
//   - a super-packet is segmented (GSO write or split) only when its checksums verified or its
//     field held a partial seed;
//   - a packet with RCO (which vouches for its own checksum) is written alone with NEEDS_CSUM at its TCP field,
//     unchanged but for that field, which holds the pseudo-header seed; or it heads or joins a coalesced write;
//     or, a super-packet with a bad IPv4 header checksum, alone and unchanged without NEEDS_CSUM.
#include <sys/uio.h>

#include <vector>

#include "core/checksum.h"
#include "core/gro.h"
#include "core/segment.h"
#include "fuzz_input.h"
#include "slow_checksum.h"

using namespace vxtun;

namespace {

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// A TCP packet (IPv4 or IPv6) with `payload` bytes of `fill`, valid checksums.
std::vector<uint8_t> Tcp(bool v6, uint16_t sport, uint32_t seq, uint8_t flags, size_t payload, uint8_t fill) {
  const size_t ihl = v6 ? 40 : 20;
  std::vector<uint8_t> p(ihl + 20 + payload, fill);
  std::memset(p.data(), 0, ihl + 20);
  if (v6) {
    p[0] = 0x60;
    Put16(&p[4], static_cast<uint16_t>(20 + payload));
    p[6] = 6;
    p[7] = 64;
    p[23] = 1;
    p[39] = 2;
  } else {
    p[0] = 0x45;
    Put16(&p[2], static_cast<uint16_t>(p.size()));
    p[8] = 64;
    p[9] = 6;
    p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
    Put16(&p[10], static_cast<uint16_t>(~Fold(SumBytes(p.data(), 20))));
  }
  uint8_t* t = &p[ihl];
  Put16(t, sport);
  Put16(t + 2, 80);
  t[4] = static_cast<uint8_t>(seq >> 24), t[5] = static_cast<uint8_t>(seq >> 16);
  t[6] = static_cast<uint8_t>(seq >> 8), t[7] = static_cast<uint8_t>(seq);
  t[11] = 1;
  t[12] = 5 << 4;
  t[13] = flags;
  Put16(t + 14, 512);
  InnerIp ip;
  ParseInnerIp(p.data(), p.size(), &ip);
  Put16(t + 16, static_cast<uint16_t>(~Fold(SumBytes(t, 20 + payload, PseudoHeaderSum(ip, 20 + payload)))));
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader r(data, size);
  const bool v6 = r.U8() & 1;
  const bool coalesce = r.U8() & 1;
  const size_t mtu = 576 + r.U16() % 9000;
  const size_t mss = 1 + r.U16() % 1400;
  const int n = 1 + r.U8() % 64;
  std::vector<std::vector<uint8_t>> store;
  std::vector<bool> train;
  uint32_t seq = 1000;
  for (int i = 0; i < n; i++) {
    const uint8_t c = r.U8();
    size_t len = (c & 0x03) == 3 ? r.U8() % (mss + 1) : mss;  // sometimes short
    if (c & 0x04) seq += 7;                                   // a gap
    const uint8_t flags = static_cast<uint8_t>(0x10 | ((c & 0x08) ? 0x08 : 0) | ((c & 0x80) ? 0x01 : 0));
    auto p = Tcp(v6, (c & 0x10) ? 4000 : 3000, seq, flags, len, static_cast<uint8_t>(i));
    if ((c & 0x20) && len > 0) p.back() ^= 0x5a;  // corrupted after its checksum was taken
    seq += static_cast<uint32_t>(len);
    store.push_back(std::move(p));
    train.push_back(c & 0x40);
  }
  // After the train (zeros when the input ends): a packet whose checksum field becomes a partial
  // seed (with or without the L4 length), and one whose IPv4 header checksum breaks.
  const uint8_t seedAt = r.U8(), seedKind = r.U8(), ipAt = r.U8(), rcoBits = r.U8();
  if (seedAt != 0) {
    auto& p = store[static_cast<size_t>((seedAt - 1) % n)];
    InnerIp ip;
    FUZZ_CHECK(ParseInnerIp(p.data(), p.size(), &ip) == Verdict::Forward);
    Put16(&p[ip.headerLen + 16], Fold(PseudoHeaderSum(ip, (seedKind & 1) ? 0 : ip.length - ip.headerLen)));
  }
  if (ipAt != 0 && !v6) store[static_cast<size_t>((ipAt - 1) % n)][4] ^= 0x01;  // the ID: no other rule sees it
  std::vector<std::vector<uint8_t>> orig = store;
  std::vector<RxPkt> pkts(static_cast<size_t>(n));
  // What each packet's checksums were as received (independently of PlanTunWrites).
  std::vector<bool> verified(static_cast<size_t>(n)), seeded(static_cast<size_t>(n)), rco(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) {
    RxPkt& k = pkts[static_cast<size_t>(i)];
    k.p = store[static_cast<size_t>(i)].data();
    FUZZ_CHECK(ParseInnerIp(k.p, store[static_cast<size_t>(i)].size(), &k.ip) == Verdict::Forward);
    k.len = k.ip.length;
    k.outerVerified = train[static_cast<size_t>(i)];
    k.rco = rco[static_cast<size_t>(i)] = (rcoBits >> (i % 8)) & 1;
    const size_t l4len = k.ip.length - k.ip.headerLen;
    const uint8_t* tcp = k.p + k.ip.headerLen;
    const uint16_t field = static_cast<uint16_t>(tcp[16] << 8 | tcp[17]);
    const bool l4ok = L4Valid(k.p, k.ip);
    verified[static_cast<size_t>(i)] = l4ok && (v6 || Ipv4HeaderChecksumOk(k.p, k.ip.headerLen));
    seeded[static_cast<size_t>(i)] =
        !l4ok && (field == Fold(PseudoHeaderSum(k.ip, l4len)) || field == Fold(PseudoHeaderSum(k.ip, 0)));
  }
  std::vector<uint8_t> vnet(static_cast<size_t>(n) * kVnetHdrLen);
  std::vector<struct iovec> iov(2 * static_cast<size_t>(n) + 8);
  std::vector<TunWrite> writes(static_cast<size_t>(n));
  const GroScratch s{vnet.data(), iov.data(), static_cast<int>(iov.size()), writes.data(), n};
  GroStats st;
  const int nw = PlanTunWrites(pkts.data(), n, coalesce, mtu, s, &st);
  FUZZ_CHECK(nw >= 1 && nw <= n);

  int next = 0;  // the next packet that must start a write
  for (int w = 0; w < nw; w++) {
    const TunWrite& tw = writes[static_cast<size_t>(w)];
    FUZZ_CHECK(tw.pkt == next);
    FUZZ_CHECK(tw.iovcnt >= 1 && iov[static_cast<size_t>(tw.firstIov)].iov_len == kVnetHdrLen);
    const VnetHdr v = ReadVnetHdr(static_cast<const uint8_t*>(iov[static_cast<size_t>(tw.firstIov)].iov_base));
    std::vector<uint8_t> g;  // the gathered packet
    for (int k = 1; k < tw.iovcnt; k++) {
      const auto& e = iov[static_cast<size_t>(tw.firstIov + k)];
      g.insert(g.end(), static_cast<uint8_t*>(e.iov_base), static_cast<uint8_t*>(e.iov_base) + e.iov_len);
    }
    const size_t at = static_cast<size_t>(tw.pkt);
    const bool ipOk = v6 || Ipv4HeaderChecksumOk(orig[at].data(), 20);
    if (tw.kind == TunWrite::kSplit) {
      FUZZ_CHECK(!coalesce && tw.segments == 1);
      FUZZ_CHECK(ipOk && (verified[at] || seeded[at] || rco[at]));
      next++;
      continue;
    }
    // An RCO packet written without NEEDS_CSUM: only a super-packet whose IPv4 header is bad, written unchanged.
    if (rco[at] && v.flags == 0) FUZZ_CHECK(!ipOk);
    if (tw.segments == 1 && v.gsoType == kVnetGsoNone && rco[at] && v.flags != 0) {
      const auto& o = orig[at];
      const size_t csumAt = (v6 ? 40u : 20u) + 16;
      FUZZ_CHECK(v.flags == kVnetFlagNeedsCsum && v.csumStart == csumAt - 16 && v.csumOffset == 16);
      FUZZ_CHECK(g.size() == o.size());
      for (size_t i = 0; i < g.size(); i++) FUZZ_CHECK(g[i] == o[i] || i == csumAt || i == csumAt + 1);
      InnerIp ip;
      FUZZ_CHECK(ParseInnerIp(g.data(), g.size(), &ip) == Verdict::Forward);
      FUZZ_CHECK((g[csumAt] << 8 | g[csumAt + 1]) == Fold(PseudoHeaderSum(ip, ip.length - ip.headerLen)));
      next++;
      continue;
    }
    if (tw.segments == 1 && v.gsoType == kVnetGsoNone) {
      FUZZ_CHECK(v.flags == 0);
      const auto& o = orig[at];
      FUZZ_CHECK(g.size() == o.size());
      // Only a partial checksum may change: completed.
      const size_t csumAt = (v6 ? 40u : 20u) + 16;
      for (size_t i = 0; i < g.size(); i++)
        FUZZ_CHECK(g[i] == o[i] || ((i == csumAt || i == csumAt + 1) && seeded[at]));
      if (std::memcmp(g.data(), o.data(), g.size()) != 0) {
        InnerIp ip;
        FUZZ_CHECK(ParseInnerIp(g.data(), g.size(), &ip) == Verdict::Forward && L4Valid(g.data(), ip));
      }
      next++;
      continue;
    }
    FUZZ_CHECK(v.flags == kVnetFlagNeedsCsum && v.gsoSize > 0);
    if (tw.segments == 1) FUZZ_CHECK(ipOk && (verified[at] || seeded[at] || rco[at]));  // a super-packet
    InnerIp ip;
    FUZZ_CHECK(ParseInnerIp(g.data(), g.size(), &ip) == Verdict::Forward);
    FUZZ_CHECK(ip.length == g.size() && g.size() <= 65535);
    const size_t hlen = ip.headerLen + 20;
    if (tw.segments > 1) {
      size_t off = hlen;
      for (int m = 0; m < tw.segments; m++) {
        const auto& o = orig[static_cast<size_t>(tw.pkt + m)];
        FUZZ_CHECK(verified[static_cast<size_t>(tw.pkt + m)] || rco[static_cast<size_t>(tw.pkt + m)]);
        const size_t pl = o.size() - hlen;
        if (m + 1 < tw.segments) FUZZ_CHECK(pl == v.gsoSize);
        FUZZ_CHECK(pl <= v.gsoSize && off + pl <= g.size());
        FUZZ_CHECK(std::memcmp(&g[off], &o[hlen], pl) == 0);
        off += pl;
      }
      FUZZ_CHECK(off == g.size());
    }
    next += tw.segments;
  }
  FUZZ_CHECK(next == n);
  return 0;
}
