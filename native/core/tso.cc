#include "core/tso.h"

#include <algorithm>
#include <cstring>

#include "core/checksum.h"
#include "core/segment.h"

namespace vxtun {

bool CompleteNeedsCsum(uint8_t* pkt, size_t len, uint16_t csumStart, uint16_t csumOffset) {
  if (static_cast<size_t>(csumStart) + csumOffset + 2 > len) return false;
  uint8_t* field = pkt + csumStart + csumOffset;
  // The field holds the seed; summing the whole range (field included) folds it in.
  const uint16_t sum = static_cast<uint16_t>(~Fold(SumBytes(pkt + csumStart, len - csumStart)));
  field[0] = static_cast<uint8_t>(sum >> 8);
  field[1] = static_cast<uint8_t>(sum);
  return true;
}

size_t CheckTsoPacket(const uint8_t* pkt, const InnerIp& ip, const VnetHdr& v) {
  const uint8_t type = v.gsoType & static_cast<uint8_t>(~kVnetGsoEcn);
  if (!((type == kVnetGsoTcpv4 && ip.family == 4) || (type == kVnetGsoTcpv6 && ip.family == 6))) return 0;
  if (v.gsoSize == 0) return 0;
  return TcpHeaderLen(pkt, ip);
}

TsoPlan PlanTsoSegments(const uint8_t* pkt, const InnerIp& ip, size_t th, size_t mss, const uint8_t* prefix,
                        uint8_t* hdrs, size_t hdrsCap, struct iovec* iov, int maxSegs, bool seedOnly) {
  TsoPlan plan;
  const size_t hlen = ip.headerLen + th;
  const size_t block = kEncapPrefix + hlen;
  const size_t payload = ip.length - hlen;
  const size_t n = payload == 0 ? 1 : (payload + mss - 1) / mss;
  if (n > static_cast<size_t>(maxSegs) || n * block > hdrsCap) return plan;
  const TcpSegmenter seg(pkt, ip, th, seedOnly);
  for (size_t i = 0; i < n; i++) {
    const size_t off = i * mss;
    const size_t len = payload - off < mss ? payload - off : mss;
    uint8_t* b = hdrs + i * block;
    std::memcpy(b, prefix, kEncapPrefix);
    seg.Write(i, n, off, len, b + kEncapPrefix, pkt + hlen + off);
    iov[2 * i] = {b, block};
    iov[2 * i + 1] = {const_cast<uint8_t*>(pkt + hlen + off), len};
  }
  plan.segments = static_cast<int>(n);
  plan.segBytes = block + mss;
  return plan;
}

namespace {
constexpr size_t kMaxIpPacket = 65535;
inline size_t PayloadAt(size_t i, const TsoLayout& l) { return i * l.stride() + kEncapPrefix + l.h; }
}  // namespace

int TsoScatterIovecs(uint8_t* slot, size_t room, const TsoLayout& l, struct iovec* iov, int maxIov) {
  if (l.mss == 0 || maxIov < 1 || kEncapPrefix + l.h + l.mss > room) return 0;
  int k = 0;
  iov[k++] = {slot + kEncapPrefix - kVnetHdrLen, kVnetHdrLen + l.h + l.mss};
  size_t covered = l.h + l.mss;
  for (size_t i = 1; covered < kMaxIpPacket; i++) {
    if (k >= maxIov || PayloadAt(i, l) + l.mss > room) return 0;
    iov[k++] = {slot + PayloadAt(i, l), l.mss};
    covered += l.mss;
  }
  return k;
}

void TsoUnscatter(uint8_t* slot, size_t n, const TsoLayout& l) {
  if (n < kVnetHdrLen || n - kVnetHdrLen <= l.h + l.mss) return;
  size_t left = n - kVnetHdrLen - l.h - l.mss;
  uint8_t* dst = slot + kEncapPrefix + l.h + l.mss;
  for (size_t i = 1; left > 0; i++) {
    const size_t len = left < l.mss ? left : l.mss;
    std::memmove(dst, slot + PayloadAt(i, l), len);  // dst < source: chunks only move down, in order
    dst += len;
    left -= len;
  }
}

size_t TsoScatterCopy(const uint8_t* slot, size_t len, const TsoLayout& l, uint8_t* out, size_t room) {
  const size_t total = kEncapPrefix + len;
  const size_t first = kEncapPrefix + l.h + l.mss;
  size_t have = std::min(room, std::min(total, first));
  std::memcpy(out, slot, have);
  for (size_t i = 1; have < room && have < total; i++) {
    const size_t take = std::min({l.mss, room - have, total - have});
    std::memcpy(out + have, slot + PayloadAt(i, l), take);
    have += take;
  }
  return have;
}

TsoPlan PlanTsoInPlace(uint8_t* slot, const InnerIp& ip, size_t th, const TsoLayout& l, const uint8_t* prefix,
                       uint8_t* tmpl, int maxSegs, bool seedOnly) {
  TsoPlan plan;
  const size_t hlen = ip.headerLen + th;
  if (hlen != l.h || l.mss == 0 || ip.length < hlen) return plan;
  const size_t payload = ip.length - hlen;
  const size_t n = payload == 0 ? 1 : (payload + l.mss - 1) / l.mss;
  if (n > static_cast<size_t>(maxSegs)) return plan;
  std::memcpy(tmpl, slot + kEncapPrefix, hlen);
  const TcpSegmenter seg(tmpl, ip, th, seedOnly);
  for (size_t i = 0; i < n; i++) {
    const size_t off = i * l.mss;
    const size_t len = payload - off < l.mss ? payload - off : l.mss;
    uint8_t* d = slot + i * l.stride();
    if (d != prefix) std::memcpy(d, prefix, kEncapPrefix);
    seg.Write(i, n, off, len, d + kEncapPrefix, d + kEncapPrefix + hlen);
  }
  plan.segments = static_cast<int>(n);
  plan.segBytes = l.stride();
  return plan;
}

}  // namespace vxtun
