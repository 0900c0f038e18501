#include "core/segment.h"

#include <sys/uio.h>

#include <cstring>

#include "core/checksum.h"

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
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
         p[3];
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

TcpSegmenter::TcpSegmenter(const uint8_t* pkt, const InnerIp& ip, size_t th, bool seedOnly)
    : pkt_(pkt), ip_(&ip), th_(th), seedOnly_(seedOnly) {
  uint8_t t[60];  // headers are at most 60 bytes each (IHL, data offset)
  if (ip.family == 4) {
    std::memcpy(t, pkt, ip.headerLen);
    Put16(t + 2, 0);
    Put16(t + 4, 0);
    Put16(t + 10, 0);
    ipBase_ = SumBytes(t, ip.headerLen);
    id_ = static_cast<uint16_t>((pkt[4] << 8) | pkt[5]);
  }
  const uint8_t* tcp = pkt + ip.headerLen;
  std::memcpy(t, tcp, th);
  Put32(t + 4, 0);
  Put16(t + 12, 0);
  Put16(t + 16, 0);
  pseudo_ = PseudoHeaderSum(ip, 0);
  tcpBase_ = SumBytes(t, th, pseudo_);
  seq_ = Get32(tcp + 4);
}

void TcpSegmenter::Write(size_t i, size_t n, size_t off, size_t len, uint8_t* hdr, const uint8_t* payload) const {
  const InnerIp& ip = *ip_;
  const size_t hlen = ip.headerLen + th_;
  std::memcpy(hdr, pkt_, hlen);
  if (ip.family == 4) {
    const uint16_t total = static_cast<uint16_t>(hlen + len), id = static_cast<uint16_t>(id_ + i);
    Put16(hdr + 2, total);
    Put16(hdr + 4, id);
    Put16(hdr + 10, static_cast<uint16_t>(~Fold(ipBase_ + total + id)));
  } else {
    Put16(hdr + 4, static_cast<uint16_t>(hlen + len - kIpv6Header));
  }
  uint8_t* tcp = hdr + ip.headerLen;
  const uint32_t seq = seq_ + static_cast<uint32_t>(off);
  Put32(tcp + 4, seq);
  uint8_t flags = tcp[13];
  if (i + 1 < n) flags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
  if (i > 0) flags &= static_cast<uint8_t>(~kTcpCwr);
  tcp[13] = flags;
  const size_t l4 = th_ + len;
  if (seedOnly_) {
    Put16(tcp + 16, Fold(pseudo_ + (l4 & 0xffff) + (l4 >> 16)));
    return;
  }
  uint64_t sum = tcpBase_ + (seq >> 16) + (seq & 0xffff) + (static_cast<uint32_t>(tcp[12]) << 8 | flags) +
                 (l4 & 0xffff) + (l4 >> 16);
  // th is a multiple of 4, so the payload's words line up with the segment's.
  sum = SumBytes(payload, len, sum);
  Put16(tcp + 16, static_cast<uint16_t>(~Fold(sum)));
}

int SegmentTcp(const uint8_t* pkt, const InnerIp& ip, size_t mss, uint8_t* out, size_t outCap, struct iovec* segs,
               int maxSegs) {
  const size_t th = TcpHeaderLen(pkt, ip);
  if (th == 0 || mss == 0) return 0;
  const size_t hlen = ip.headerLen + th;
  const size_t payload = ip.length - hlen;
  const size_t n = payload == 0 ? 1 : (payload + mss - 1) / mss;
  if (n > static_cast<size_t>(maxSegs) || n * hlen + payload > outCap) return 0;
  uint8_t* w = out;
  const TcpSegmenter seg(pkt, ip, th);
  for (size_t i = 0; i < n; i++) {
    const size_t off = i * mss;
    const size_t len = payload - off < mss ? payload - off : mss;
    seg.Write(i, n, off, len, w, pkt + hlen + off);
    std::memcpy(w + hlen, pkt + hlen + off, len);
    segs[i] = {w, hlen + len};
    w += hlen + len;
  }
  return static_cast<int>(n);
}

}  // namespace vxtun
