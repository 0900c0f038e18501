#include "tso.h"

#include <cstring>

#include "checksum.h"
#include "segment.h"

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
                        uint8_t* hdrs, size_t hdrsCap, struct iovec* iov, int maxSegs) {
  TsoPlan plan;
  const size_t hlen = ip.headerLen + th;
  const size_t block = kEncapPrefix + hlen;
  const size_t payload = ip.length - hlen;
  const size_t n = payload == 0 ? 1 : (payload + mss - 1) / mss;
  if (n > static_cast<size_t>(maxSegs) || n * block > hdrsCap) return plan;
  for (size_t i = 0; i < n; i++) {
    const size_t off = i * mss;
    const size_t len = payload - off < mss ? payload - off : mss;
    uint8_t* b = hdrs + i * block;
    std::memcpy(b, prefix, kEncapPrefix);
    WriteTcpSegmentHeader(pkt, ip, th, i, n, off, len, b + kEncapPrefix);
    iov[2 * i] = {b, block};
    iov[2 * i + 1] = {const_cast<uint8_t*>(pkt + hlen + off), len};
  }
  plan.segments = static_cast<int>(n);
  plan.segBytes = block + mss;
  return plan;
}

}  // namespace vxtun
