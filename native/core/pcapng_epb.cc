#include "core/pcapng_epb.h"

#include <string.h>

#include <algorithm>
#include <string>

#include "core/checksum.h"
#include "core/vxlan.h"

namespace vxtun {
namespace {

constexpr uint32_t kEpb = 6;
constexpr uint16_t kOptComment = 1;
constexpr uint16_t kOptDropCount = 4;
constexpr size_t kOuterHdr4 = 20 + 8;               // IPv4 + UDP
constexpr size_t kOuterHdr6 = kIpv6Header + 8;      // IPv6 + UDP
constexpr size_t kCommentMax = 64 + 255 + 32;       // with an IPv4 VTEP (or none)
constexpr size_t kCommentMaxV6 = kCommentMax + 32;  // an IPv6 VTEP's text is up to 30 bytes longer

size_t Pad4(size_t n) { return (n + 3) & ~static_cast<size_t>(3); }
void Le16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v), p[1] = static_cast<uint8_t>(v >> 8); }
void Le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void Be16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8), p[1] = static_cast<uint8_t>(v); }

// "dir=rx peer=node-2 vtep=10.0.0.2 verdict=drop:bad-mac" into c (≥ CommentMax(h) bytes); returns the length.
// Appended by hand: this runs for every captured packet on the daemon's JS thread.
size_t Comment(const CaptureRecordHeader& h, const char* name, char* c) {
  char* p = c;
  auto put = [&p](const char* s, size_t n) {
    memcpy(p, s, n);
    p += n;
  };
  auto putByte = [&p](uint8_t v) {
    if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
    if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
    *p++ = static_cast<char>('0' + v % 10);
  };
  put(h.dir == kCaptureTx ? "dir=tx peer=" : "dir=rx peer=", 12);
  if (h.nameLen)
    put(name, h.nameLen);
  else
    *p++ = '-';
  put(" vtep=", 6);
  if (h.vtep.IsV6()) {
    const std::string v = h.vtep.ToString();
    put(v.data(), v.size());
  } else {  // IPv4, or none as 0.0.0.0
    for (int i = 0; i < 4; i++) {
      if (i) *p++ = '.';
      putByte(h.vtep.bytes[i]);
    }
  }
  put(" verdict=", 9);
  if (h.verdict == 0) {
    put("forward", 7);
  } else {
    const char* v = VerdictName(static_cast<Verdict>(h.verdict));
    if (!v) v = "?";
    put("drop:", 5);
    put(v, std::min<size_t>(strlen(v), 32));
  }
  return static_cast<size_t>(p - c);
}

size_t OuterHdr(const EpbOuter& o) { return o.publicIp.IsV6() ? kOuterHdr6 : kOuterHdr4; }

// The synthesised outer IP + UDP header (src/dump/pcapng.ts outerDatagram) at out, followed by the
// kCapturePrefix + innerCap bytes already written after it (the IPv6 UDP checksum covers them).
void OuterHeader(const CaptureRecordHeader& h, const uint8_t* inner, size_t innerCap, size_t innerOrig,
                 const EpbOuter& o, uint8_t* out) {
  const bool v6 = o.publicIp.IsV6();
  const size_t hdr = v6 ? kOuterHdr6 : kOuterHdr4;
  const size_t alen = v6 ? 16 : 4;
  memset(out, 0, hdr);
  const size_t afterIp = kCapturePrefix + innerOrig;
  const uint16_t udpLen = static_cast<uint16_t>(std::min<size_t>(0xffff, 8 + afterIp));
  // The remote end: the VTEP when it is of the outer's family, else the unspecified address (a VTEP of none
  // has zero bytes, so it is 0.0.0.0 under IPv4 as it is in the comment).
  static const uint8_t kZero[16] = {};
  const uint8_t* remote = h.vtep.IsV6() == v6 ? h.vtep.bytes : kZero;
  const uint8_t* local = o.publicIp.bytes;
  uint8_t* src = out + (v6 ? 8 : 12);
  memcpy(src, h.dir == kCaptureTx ? local : remote, alen);
  memcpy(src + alen, h.dir == kCaptureTx ? remote : local, alen);
  if (v6) {
    out[0] = 0x60;
    Be16(out + 4, udpLen);
    out[6] = 17;
    out[7] = 64;
  } else {
    out[0] = 0x45;
    Be16(out + 2, static_cast<uint16_t>(std::min<size_t>(0xffff, kOuterHdr4 + afterIp)));
    Be16(out + 6, 0x4000);  // DF
    out[8] = 64;
    out[9] = 17;
    Be16(out + 10, static_cast<uint16_t>(~Fold(SumBytes(out, 20)) & 0xffff));
  }
  uint32_t hash = 0;
  for (size_t i = 12; i < std::min<size_t>(innerCap, 40); i++) hash = hash * 31 + inner[i];
  const uint16_t flowPort = static_cast<uint16_t>(32768 + hash % 28232);
  uint8_t* udp = out + hdr - 8;
  Be16(udp, h.dir == kCaptureTx ? flowPort : o.port);
  Be16(udp + 2, h.dir == kCaptureTx ? o.port : flowPort);
  Be16(udp + 4, udpLen);
  if (v6) {  // pseudo-header (addresses, UDP length, next header) + UDP header + prefix + the inner bytes kept
    const uint64_t pseudo = SumBytes(src, 32) + udpLen + 17;
    const uint16_t c = static_cast<uint16_t>(~Fold(SumBytes(udp, 8 + kCapturePrefix + innerCap, pseudo)) & 0xffff);
    Be16(udp + 6, c == 0 ? 0xffff : c);  // 0 means "no checksum", which IPv6 forbids
  }
}

size_t CommentMax(const CaptureRecordHeader& h) { return h.vtep.IsV6() ? kCommentMaxV6 : kCommentMax; }

}  // namespace

size_t EpbOuterBytes(const EpbOuter& o) { return OuterHdr(o) + kCapturePrefix; }

EpbOuter EpbOuterFor(const EpbOuter& o, const CaptureRecordHeader& h) {
  EpbOuter r = o;
  if (h.vtep.IsV6() && o.publicIp6.IsV6()) r.publicIp = o.publicIp6;
  r.publicIp6 = UnderlayAddr{};
  return r;
}

size_t CaptureEpbBound(const CaptureRecordHeader& h) {
  return 28 + Pad4(kOuterHdr6 + kCapturePrefix + h.capLen) + 4 + Pad4(CommentMax(h)) + 12 + 4 + 4;
}

size_t WriteCaptureEpb(const CaptureRecordHeader& h, const char* name, const uint8_t* data, const EpbOuter* node,
                       uint8_t* out, size_t cap) {
  EpbOuter forRecord;
  const EpbOuter* outer = nullptr;
  if (node) outer = &(forRecord = EpbOuterFor(*node, h));
  const bool hasPrefix = (h.flags & kCaptureHasPrefix) && h.capLen >= kCapturePrefix;
  const uint8_t* inner = hasPrefix ? data + kCapturePrefix : data;
  const size_t innerCap = hasPrefix ? h.capLen - kCapturePrefix : h.capLen;
  const size_t innerOrig = hasPrefix ? h.origLen - kCapturePrefix : h.origLen;
  char comment[kCommentMaxV6];
  const size_t clen = Comment(h, name, comment);
  const size_t outerLen = outer ? EpbOuterBytes(*outer) : 0;
  const size_t dataLen = outerLen + innerCap;
  const size_t origLen = std::max(outerLen + innerOrig, dataLen);
  const size_t optLen = 4 + Pad4(clen) + (h.dropsBefore ? 12 : 0) + 4;
  const size_t total = 28 + Pad4(dataLen) + optLen + 4;
  if (total > cap) return 0;
  memset(out, 0, total);
  Le32(out, kEpb);
  Le32(out + 4, static_cast<uint32_t>(total));
  Le32(out + 8, 0);  // interface 0
  Le32(out + 12, static_cast<uint32_t>(h.tsNs >> 32));
  Le32(out + 16, static_cast<uint32_t>(h.tsNs));
  Le32(out + 20, static_cast<uint32_t>(dataLen));
  Le32(out + 24, static_cast<uint32_t>(origLen));
  uint8_t* d = out + 28;
  if (outer) {  // the prefix and the inner bytes first: the IPv6 UDP checksum covers them
    uint8_t* ip = d;
    d += OuterHdr(*outer);
    if (hasPrefix) {
      memcpy(d, data, kCapturePrefix);
    } else {
      d[0] = 0x08;  // VXLAN I flag; VNI; zero MACs; ethertype from the IP version
      d[4] = static_cast<uint8_t>(outer->vni >> 16), d[5] = static_cast<uint8_t>(outer->vni >> 8);
      d[6] = static_cast<uint8_t>(outer->vni);
      Be16(d + 20, innerCap > 0 && inner[0] >> 4 == 6 ? 0x86dd : 0x0800);
    }
    d += kCapturePrefix;
    if (innerCap) memcpy(d, inner, innerCap);
    OuterHeader(h, inner, innerCap, innerOrig, *outer, ip);
  } else if (innerCap) {
    memcpy(d, inner, innerCap);
  }
  uint8_t* o = out + 28 + Pad4(dataLen);
  Le16(o, kOptComment);
  Le16(o + 2, static_cast<uint16_t>(clen));
  memcpy(o + 4, comment, clen);
  o += 4 + Pad4(clen);
  if (h.dropsBefore) {
    Le16(o, kOptDropCount);
    Le16(o + 2, 8);
    Le32(o + 4, h.dropsBefore);
    o += 12;
  }
  o += 4;  // opt_endofopt (zeroed)
  Le32(o, static_cast<uint32_t>(total));
  return total;
}

}  // namespace vxtun
