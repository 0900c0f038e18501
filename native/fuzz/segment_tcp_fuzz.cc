// libFuzzer harness: TCP segmentation (SegmentTcp) with a fuzzer-chosen MSS, segment limit and
// output capacity. Invariants (core/segment.h): the segments' payloads concatenate to the original
// payload; every segment is at most headers + mss, all but the last exactly that; each segment is a
// well-formed IP packet with a valid IPv4 header checksum and a valid TCP checksum, sequence numbers
// advancing by the payload offset, IPv4 IDs by one, FIN/PSH only on the last segment and CWR only on
// the first; every other header byte is the original's. SegmentTcp returns 0 exactly when the packet
// cannot be segmented or the segments do not fit.
//
// Input: mss u16, maxSegs u8 (+1), capacity u8 (0: the addon's 2 × kBufSize; k > 0: the exact
// size needed minus k − 1, so k == 1 fits exactly and k > 1 must be refused), then the IP packet.
#include "core/checksum.h"
#include "core/segment.h"
#include "fuzz_input.h"

using namespace vxtun;

namespace {
uint32_t Get32(const uint8_t* p) { return static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader r(data, size);
  const size_t mss = r.U16();
  const int maxSegs = r.U8() + 1;
  const uint8_t capMode = r.U8();
  size_t len;
  auto pkt = r.Rest(&len);
  InnerIp ip;
  if (ParseInnerIp(pkt.get(), len, &ip) != Verdict::Forward) return 0;

  const size_t th = TcpHeaderLen(pkt.get(), ip);
  const size_t hlen = ip.headerLen + th;
  const size_t payload = th ? ip.length - hlen : 0;
  const size_t want = th == 0 || mss == 0 ? 0 : payload == 0 ? 1 : (payload + mss - 1) / mss;
  const size_t needed = want * hlen + payload;
  size_t cap = 2 * kBufSize;
  if (capMode > 0) {
    if (capMode - 1u > needed) return 0;
    cap = needed - (capMode - 1u);
  }
  std::unique_ptr<uint8_t[]> out(new uint8_t[cap ? cap : 1]);
  std::vector<struct iovec> segs(static_cast<size_t>(maxSegs));
  const int n = SegmentTcp(pkt.get(), ip, mss, out.get(), cap, segs.data(), maxSegs);

  const bool fits = want > 0 && want <= static_cast<size_t>(maxSegs) && needed <= cap;
  FUZZ_CHECK(n >= 0);
  FUZZ_CHECK((n == 0) == !fits);
  if (n == 0) return 0;
  FUZZ_CHECK(static_cast<size_t>(n) == want);

  const uint8_t* l4 = pkt.get() + ip.headerLen;
  const uint32_t seq0 = Get32(l4 + 4);
  const uint8_t flags0 = l4[13];
  size_t off = 0;
  const uint8_t* expectAt = out.get();
  for (int i = 0; i < n; i++) {
    const uint8_t* s = static_cast<const uint8_t*>(segs[i].iov_base);
    const size_t slen = segs[i].iov_len;
    FUZZ_CHECK(s == expectAt && s + slen <= out.get() + cap);
    expectAt = s + slen;
    FUZZ_CHECK(slen >= hlen && slen <= hlen + mss);
    const size_t plen = slen - hlen;
    if (i + 1 < n) FUZZ_CHECK(plen == mss);
    FUZZ_CHECK(std::memcmp(s + hlen, pkt.get() + hlen + off, plen) == 0);

    InnerIp sip;
    FUZZ_CHECK(ParseInnerIp(s, slen, &sip) == Verdict::Forward);
    FUZZ_CHECK(sip.family == ip.family && sip.length == slen && sip.headerLen == ip.headerLen && sip.proto == 6);
    if (ip.family == 4) {
      FUZZ_CHECK(Ipv4HeaderChecksumOk(s, sip.headerLen));
      FUZZ_CHECK(Get16(s + 4) == static_cast<uint16_t>(Get16(pkt.get() + 4) + i));
      // Everything but total length (2..3), ID (4..5) and header checksum (10..11) is copied.
      FUZZ_CHECK(std::memcmp(s, pkt.get(), 2) == 0 && std::memcmp(s + 6, pkt.get() + 6, 4) == 0 &&
                 std::memcmp(s + 12, pkt.get() + 12, ip.headerLen - 12) == 0);
    } else {
      FUZZ_CHECK(std::memcmp(s, pkt.get(), 4) == 0 && std::memcmp(s + 6, pkt.get() + 6, 34) == 0);
    }
    const uint8_t* st = s + sip.headerLen;
    FUZZ_CHECK(Fold(SumBytes(st, slen - sip.headerLen, PseudoHeaderSum(sip, slen - sip.headerLen))) == 0xffff);
    FUZZ_CHECK(Get32(st + 4) == seq0 + static_cast<uint32_t>(off));
    uint8_t flags = flags0;
    if (i + 1 < n) flags &= static_cast<uint8_t>(~0x09);  // FIN, PSH
    if (i > 0) flags &= static_cast<uint8_t>(~0x80);      // CWR
    FUZZ_CHECK(st[13] == flags);
    // TCP header: ports, ack, data offset, window, urgent pointer, options are the original's.
    FUZZ_CHECK(std::memcmp(st, l4, 4) == 0 && std::memcmp(st + 8, l4 + 8, 5) == 0 &&
               std::memcmp(st + 14, l4 + 14, 2) == 0 && std::memcmp(st + 18, l4 + 18, th - 18) == 0);
    off += plen;
  }
  FUZZ_CHECK(off == payload);
  return 0;
}
