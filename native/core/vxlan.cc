#include "core/vxlan.h"

#include <cstring>

namespace vxtun {

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::Forward: return "forward";
    case Verdict::Short: return "short";
    case Verdict::BadHeader: return "bad-header";
    case Verdict::Vni: return "vni";
    case Verdict::UnknownVtep: return "unknown-vtep";
    case Verdict::BadMac: return "bad-mac";
    case Verdict::Ethertype: return "ethertype";
    case Verdict::BadIp: return "bad-ip";
    case Verdict::SpoofedSource: return "spoofed-source";
    case Verdict::NotLocal: return "not-local";
    case Verdict::NoRoute: return "no-route";
    case Verdict::kCount: break;
  }
  return "unknown";
}

static inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

Verdict ParseInnerIp(const uint8_t* p, size_t len, InnerIp* out) {
  if (len < 1) return Verdict::Short;
  const uint8_t version = p[0] >> 4;
  if (version == 4) {
    if (len < kIpv4MinHeader) return Verdict::Short;
    const size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
    const size_t total = Be16(p + 2);
    if (ihl < kIpv4MinHeader || ihl > len || total < ihl || total > len) return Verdict::BadIp;
    out->family = 4;
    out->src = p + 12;
    out->dst = p + 16;
    out->length = total;
    out->headerLen = ihl;
    out->proto = p[9];
    return Verdict::Forward;
  }
  if (version == 6) {
    if (len < kIpv6Header) return Verdict::Short;
    const size_t total = kIpv6Header + Be16(p + 4);
    if (total > len) return Verdict::BadIp;
    out->family = 6;
    out->src = p + 8;
    out->dst = p + 24;
    out->length = total;
    out->headerLen = kIpv6Header;
    out->proto = p[6];
    return Verdict::Forward;
  }
  return Verdict::BadIp;
}

bool Ipv4HeaderChecksumOk(const uint8_t* hdr, size_t headerLen) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < headerLen; i += 2) sum += Be16(hdr + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

void WriteEncapPrefix(uint8_t* out, uint32_t vni, const uint8_t* dstMac, const uint8_t* srcMac, uint16_t ethertype) {
  out[0] = kVxlanFlagI;
  out[1] = out[2] = out[3] = 0;
  out[4] = static_cast<uint8_t>(vni >> 16);
  out[5] = static_cast<uint8_t>(vni >> 8);
  out[6] = static_cast<uint8_t>(vni);
  out[7] = 0;
  std::memcpy(out + 8, dstMac, 6);
  std::memcpy(out + 14, srcMac, 6);
  out[20] = static_cast<uint8_t>(ethertype >> 8);
  out[21] = static_cast<uint8_t>(ethertype);
}

Verdict CheckVxlanHeader(const uint8_t* d, size_t len, uint32_t vni, bool acceptRco) {
  if (len < kEncapPrefix) return Verdict::Short;
  const bool rco = acceptRco && d[1] == kVxlanFlagRco;
  if (d[0] != kVxlanFlagI || (d[1] != 0 && !rco) || d[2] != 0 || d[3] != 0 || (d[7] != 0 && !rco))
    return Verdict::BadHeader;
  const uint32_t got = static_cast<uint32_t>(d[4]) << 16 | static_cast<uint32_t>(d[5]) << 8 | d[6];
  if (got != vni) return Verdict::Vni;
  return Verdict::Forward;
}

namespace {
constexpr size_t kRcoMaxStart = 0x7f << 1;
constexpr uint8_t kRcoUdp = 0x80;
inline bool Unfragmented(const uint8_t* pkt, const InnerIp& ip) {
  return ip.family == 6 || (Be16(pkt + 6) & 0x3fff) == 0;
}
}  // namespace

bool RcoEligible(const uint8_t* pkt, const InnerIp& ip, size_t csumStart, size_t csumOffset) {
  if (ip.proto != 6 && ip.proto != 17) return false;
  return csumStart == ip.headerLen && csumOffset == L4ChecksumOffset(ip.proto) &&
         kEthHeader + csumStart <= kRcoMaxStart && ip.length >= csumStart + csumOffset + 2 && Unfragmented(pkt, ip);
}

void WriteRco(uint8_t* prefix, const InnerIp& ip) {
  prefix[1] = kVxlanFlagRco;
  prefix[7] = static_cast<uint8_t>(((kEthHeader + ip.headerLen) >> 1) | (ip.proto == 17 ? kRcoUdp : 0));
}

bool RcoMatches(const uint8_t* d, const uint8_t* pkt, const InnerIp& ip) {
  if (d[1] != kVxlanFlagRco) return false;
  const size_t start = static_cast<size_t>(d[7] & 0x7f) << 1;
  const uint8_t proto = d[7] & kRcoUdp ? 17 : 6;
  return ip.proto == proto && start == kEthHeader + ip.headerLen &&
         RcoEligible(pkt, ip, ip.headerLen, L4ChecksumOffset(proto));
}

uint32_t InnerFlowHash(const uint8_t* pkt, const InnerIp& ip) {
  // FNV-1a over addresses, protocol and (when present and unfragmented) ports.
  uint32_t h = 2166136261u;
  auto mix = [&h](const uint8_t* b, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
  };
  const size_t alen = ip.family == 4 ? 4 : 16;
  mix(ip.src, alen);
  mix(ip.dst, alen);
  mix(&ip.proto, 1);
  const bool fragment = ip.family == 4 && (Be16(pkt + 6) & 0x1fff) != 0;
  if ((ip.proto == 6 || ip.proto == 17) && !fragment && ip.length >= ip.headerLen + 4) {
    mix(pkt + ip.headerLen, 4);
  }
  return h ^ (h >> 16);
}

}  // namespace vxtun
