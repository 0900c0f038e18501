// libFuzzer harness: one capture record written as a pcapng packet block (WriteCaptureEpb, core/pcapng_epb.h),
// with and without a synthesised outer header, for a node and a VTEP of either family or none (IPv4 and IPv6
// outer headers, and the mixed records written with the unspecified address), any prefix flag, snap length,
// original length, peer name and drop count.
//
// Input layout (an input that runs out reads as zeros):
//   flags: bit0 rx, bit1 the prefix flag, bits2-3 VTEP (0 none, 1 IPv4, 2-3 IPv6), bits4-5 node (0 IPv4,
//          1 IPv6, 2 none, 3 no outer context), bit6 a drop count
//   verdict u8 (%kVerdictCount), origLen extra u16, dropsBefore u16, VTEP[16], node address[16], port u16,
//   vni u24, nameLen u8, the name, then the data (at most kCapturePrefix + kCaptureMaxSnap bytes kept).
// Invariants: the block fits CaptureEpbBound and is well-formed (lengths at both ends, 4-aligned); its captured
// length is the outer bytes (EpbOuterBytes: 50 or 70) + the inner bytes, its original length never below that;
// the outer header's version is the node's family, its lengths agree, the IPv4 header checksum verifies, the
// IPv6 UDP checksum is never 0 and verifies (summed here byte by byte) when the block holds the whole datagram;
// the remote address is the VTEP when of the node's family, else zeros; a buffer one byte short gets nothing
// written; the same record writes the same bytes. ASan/UBSan clean.
#include <cstring>
#include <memory>

#include "core/pcapng_epb.h"
#include "core/vxlan.h"
#include "fuzz_input.h"

using namespace vxtun;
using namespace vxtun::fuzz;

namespace {

uint32_t Le32At(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }
uint16_t Be16At(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// One's-complement sum of big-endian words, byte by byte (independent of core/checksum.cc), folded.
uint16_t SlowSum(const uint8_t* p, size_t n, uint64_t acc = 0) {
  for (size_t i = 0; i < n; i++) acc += i % 2 ? p[i] : p[i] << 8;
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}

UnderlayAddr ReadAddr(Reader& r, int sel) {
  uint8_t b[16];
  r.Bytes(b, 16);
  if (sel == 1) return UnderlayAddr::V4(b);
  if (sel >= 2) return UnderlayAddr::V6(b);
  return UnderlayAddr{};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* input, size_t size) {
  Reader r(input, size);
  const uint8_t flags = r.U8();
  CaptureRecordHeader h{};
  h.dir = flags & 1 ? kCaptureRx : kCaptureTx;
  h.flags = flags & 2 ? kCaptureHasPrefix : 0;
  h.verdict = static_cast<uint8_t>(r.U8() % kVerdictCount);
  const uint16_t extra = r.U16();
  h.dropsBefore = flags & 0x40 ? 1u + r.U16() : 0;
  h.vtep = ReadAddr(r, (flags >> 2) & 3);
  const int nodeSel = (flags >> 4) & 3;
  EpbOuter outer{};
  outer.publicIp = ReadAddr(r, nodeSel == 0 ? 1 : nodeSel == 1 ? 2 : 0);
  outer.port = r.U16();
  outer.vni = static_cast<uint32_t>(r.U8() << 16 | r.U8() << 8 | r.U8());
  const EpbOuter* o = nodeSel == 3 ? nullptr : &outer;
  char name[255];
  h.nameLen = r.U8();
  for (int i = 0; i < h.nameLen; i++) name[i] = static_cast<char>(r.U8());
  size_t len;
  auto data = r.Rest(&len);
  h.capLen = static_cast<uint16_t>(std::min(len, kCapturePrefix + kCaptureMaxSnap));
  h.origLen = h.capLen + extra;
  h.tsNs = 1'700'000'000'000'000'000ull + size;

  const size_t bound = CaptureEpbBound(h);
  std::unique_ptr<uint8_t[]> out(new uint8_t[bound]);
  const size_t n = WriteCaptureEpb(h, name, data.get(), o, out.get(), bound);
  FUZZ_CHECK(n >= 32 && n <= bound && n % 4 == 0);
  FUZZ_CHECK(Le32At(out.get()) == 6 && Le32At(out.get() + 4) == n && Le32At(out.get() + n - 4) == n);

  const bool hasPrefix = (h.flags & kCaptureHasPrefix) && h.capLen >= kCapturePrefix;
  const size_t innerCap = hasPrefix ? h.capLen - kCapturePrefix : h.capLen;
  const size_t innerOrig = hasPrefix ? h.origLen - kCapturePrefix : h.origLen;
  const size_t outerLen = o ? EpbOuterBytes(*o) : 0;
  const bool v6 = o && outer.publicIp.IsV6();
  FUZZ_CHECK(!o || outerLen == (v6 ? 70u : 50u));
  const uint32_t capLen = Le32At(out.get() + 20), origLen = Le32At(out.get() + 24);
  FUZZ_CHECK(capLen == outerLen + innerCap && origLen == std::max<size_t>(capLen, outerLen + innerOrig));
  const uint8_t* d = out.get() + 28;
  FUZZ_CHECK(std::memcmp(d + outerLen, hasPrefix ? data.get() + kCapturePrefix : data.get(), innerCap) == 0);

  if (o) {
    const size_t ipLen = v6 ? 40 : 20, alen = v6 ? 16 : 4;
    const uint8_t* udp = d + ipLen;
    const uint16_t udpLen = Be16At(udp + 4);
    FUZZ_CHECK(udpLen == std::min<size_t>(0xffff, 8 + kCapturePrefix + innerOrig));
    FUZZ_CHECK(Be16At(udp + (h.dir == kCaptureTx ? 2 : 0)) == outer.port);
    static const uint8_t kZero[16] = {};
    const uint8_t* remote = h.vtep.IsV6() == v6 ? h.vtep.bytes : kZero;
    const uint8_t* src = d + (v6 ? 8 : 12);
    FUZZ_CHECK(std::memcmp(src, h.dir == kCaptureTx ? outer.publicIp.bytes : remote, alen) == 0);
    FUZZ_CHECK(std::memcmp(src + alen, h.dir == kCaptureTx ? remote : outer.publicIp.bytes, alen) == 0);
    if (v6) {
      FUZZ_CHECK(d[0] == 0x60 && d[1] == 0 && d[2] == 0 && d[3] == 0 && d[6] == 17 && d[7] == 64);
      FUZZ_CHECK(Be16At(d + 4) == udpLen && Be16At(udp + 6) != 0);
      const bool whole = capLen == origLen && 8 + kCapturePrefix + innerOrig <= 0xffff;
      if (whole) FUZZ_CHECK(SlowSum(udp, capLen - ipLen, SlowSum(src, 32) + udpLen + 17u) == 0xffff);
    } else {
      FUZZ_CHECK(d[0] == 0x45 && d[8] == 64 && d[9] == 17 && SlowSum(d, 20) == 0xffff);
      FUZZ_CHECK(Be16At(d + 2) == std::min<size_t>(0xffff, 20 + udpLen) && Be16At(udp + 6) == 0);
    }
  }

  // One byte short: nothing written. The same record again: the same bytes.
  std::unique_ptr<uint8_t[]> again(new uint8_t[n]);
  std::memset(again.get(), 0xa5, n);
  FUZZ_CHECK(WriteCaptureEpb(h, name, data.get(), o, again.get(), n - 1) == 0);
  for (size_t i = 0; i < n; i++) FUZZ_CHECK(again[i] == 0xa5);
  FUZZ_CHECK(WriteCaptureEpb(h, name, data.get(), o, again.get(), n) == n);
  FUZZ_CHECK(std::memcmp(again.get(), out.get(), n) == 0);
  return 0;
}
