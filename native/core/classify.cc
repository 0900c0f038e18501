#include "core/classify.h"

#include <cstring>

namespace vxtun {

Verdict ClassifyTx(const Table& t, const uint8_t* pkt, size_t len, TxResult* out) {
  InnerIp ip;
  const Verdict v = ParseInnerIp(pkt, len, &ip);
  if (v != Verdict::Forward) return v;
  int peer;
  if (ip.family == 4) {
    const uint32_t dst = Load4(ip.dst);
    peer = t.IsLocal4(dst) ? -1 : t.Lookup4(dst);
  } else {
    uint64_t hi, lo;
    Load6(ip.dst, &hi, &lo);
    peer = t.IsLocal6(hi, lo) ? -1 : t.Lookup6(hi, lo);
  }
  if (peer < 0) return Verdict::NoRoute;
  out->peer = peer;
  out->length = ip.length;
  out->ethertype = ip.family == 4 ? kEthPIp : kEthPIpv6;
  out->flowHash = InnerFlowHash(pkt, ip);
  out->ip = ip;
  return Verdict::Forward;
}

Verdict ClassifyRx(const Table& t, const RxPolicy& pol, const UnderlayAddr& src, const uint8_t* d, size_t len,
                   RxResult* out) {
  Verdict v = CheckVxlanHeader(d, len, pol.vni, pol.remoteChecksum);
  if (v != Verdict::Forward) return v;
  const int peer = t.PeerByIp(src);
  if (peer < 0 && !pol.acceptUnknownVteps) return Verdict::UnknownVtep;
  if (std::memcmp(d + kVxlanHeader, pol.mac, 6) != 0) return Verdict::BadMac;
  const uint16_t type = static_cast<uint16_t>(d[20] << 8 | d[21]);
  if (type != kEthPIp && type != kEthPIpv6) return Verdict::Ethertype;
  const uint8_t* pkt = d + kEncapPrefix;
  InnerIp ip;
  v = ParseInnerIp(pkt, len - kEncapPrefix, &ip);
  if (v != Verdict::Forward || ip.family != (type == kEthPIp ? 4 : 6)) return Verdict::BadIp;
  if (ip.family == 4 && !Ipv4HeaderChecksumOk(pkt, ip.headerLen)) return Verdict::BadIp;
  if (ip.family == 4) {
    if (pol.checkInnerSource && peer >= 0 && !Table::Contains4(t.peer(peer).v4, Load4(ip.src)))
      return Verdict::SpoofedSource;
    if (!t.IsLocal4(Load4(ip.dst))) return Verdict::NotLocal;
  } else {
    uint64_t hi, lo;
    Load6(ip.src, &hi, &lo);
    if (pol.checkInnerSource && peer >= 0 && !Table::Contains6(t.peer(peer).v6, hi, lo)) return Verdict::SpoofedSource;
    Load6(ip.dst, &hi, &lo);
    if (!t.IsLocal6(hi, lo)) return Verdict::NotLocal;
  }
  out->peer = peer;
  out->length = ip.length;
  out->ip = ip;
  out->rco = pol.remoteChecksum && RcoMatches(d, pkt, ip);
  return Verdict::Forward;
}

}  // namespace vxtun
