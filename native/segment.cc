#include "segment.h"

#include <sys/uio.h>

#include <cstring>

#include "checksum.h"

namespace vxtun {

namespace {
constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpCwr = 0x80;

inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}
inline uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
}  // namespace

size_t TcpHeaderLen(const uint8_t* pkt, const InnerIp& ip) {
  if (ip.proto != 6) return 0;
  if (ip.family == 4 && (((pkt[6] << 8) | pkt[7]) & 0x3fff) != 0) return 0;
  if (ip.length < ip.headerLen + 20) return 0;
  const size_t th = static_cast<size_t>(pkt[ip.headerLen + 12] >> 4) * 4;
  if (th < 20 || ip.headerLen + th > ip.length) return 0;
  return th;
}

int SegmentTcp(const uint8_t* pkt, const InnerIp& ip, size_t mss, uint8_t* out, size_t outCap, struct iovec* segs,
               int maxSegs) {
  const size_t th = TcpHeaderLen(pkt, ip);
  if (th == 0 || mss == 0) return 0;
  const size_t hlen = ip.headerLen + th;
  const size_t payload = ip.length - hlen;
  const size_t n = payload == 0 ? 1 : (payload + mss - 1) / mss;
  if (n > static_cast<size_t>(maxSegs) || n * hlen + payload > outCap) return 0;
  const uint32_t seq0 = Get32(pkt + ip.headerLen + 4);
  const uint16_t id0 = ip.family == 4 ? static_cast<uint16_t>(pkt[4] << 8 | pkt[5]) : 0;
  const uint8_t flags0 = pkt[ip.headerLen + 13];
  uint8_t* w = out;
  for (size_t i = 0; i < n; i++) {
    const size_t off = i * mss;
    const size_t len = payload - off < mss ? payload - off : mss;
    std::memcpy(w, pkt, hlen);
    std::memcpy(w + hlen, pkt + hlen + off, len);
    const size_t total = hlen + len;
    if (ip.family == 4) {
      Put16(w + 2, static_cast<uint16_t>(total));
      Put16(w + 4, static_cast<uint16_t>(id0 + i));
      Put16(w + 10, 0);
      Put16(w + 10, static_cast<uint16_t>(~Fold(SumBytes(w, ip.headerLen))));
    } else {
      Put16(w + 4, static_cast<uint16_t>(total - kIpv6Header));
    }
    uint8_t* tcp = w + ip.headerLen;
    Put32(tcp + 4, seq0 + static_cast<uint32_t>(off));
    uint8_t flags = flags0;
    if (i + 1 < n) flags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (i > 0) flags &= static_cast<uint8_t>(~kTcpCwr);
    tcp[13] = flags;
    Put16(tcp + 16, 0);
    InnerIp seg = ip;
    seg.src = w + (ip.src - pkt);
    seg.dst = w + (ip.dst - pkt);
    const uint64_t sum = SumBytes(tcp, th + len, PseudoHeaderSum(seg, th + len));
    Put16(tcp + 16, static_cast<uint16_t>(~Fold(sum)));
    segs[i] = {w, total};
    w += total;
  }
  return static_cast<int>(n);
}

}  // namespace vxtun
