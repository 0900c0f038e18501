#include "checksum.h"

#include <cstring>

namespace vxtun {

uint64_t SumBytes(const uint8_t* p, size_t n, uint64_t acc) {
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    w = __builtin_bswap64(w);
    acc += (w >> 32) + (w & 0xffffffffu);
    p += 8;
    n -= 8;
  }
  while (n >= 2) {
    acc += static_cast<uint64_t>(p[0] << 8 | p[1]);
    p += 2;
    n -= 2;
  }
  if (n) acc += static_cast<uint64_t>(p[0]) << 8;
  return acc;
}

uint16_t Fold(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}

uint64_t PseudoHeaderSum(const InnerIp& ip, size_t l4len) {
  const size_t alen = ip.family == 4 ? 4 : 16;
  uint64_t acc = SumBytes(ip.src, alen);
  acc = SumBytes(ip.dst, alen, acc);
  return acc + ip.proto + (l4len & 0xffff) + (l4len >> 16);
}

CsumFix CompletePartialChecksum(uint8_t* pkt, const InnerIp& ip) {
  if (ip.proto != 6 && ip.proto != 17) return CsumFix::NotApplicable;
  if (ip.family == 4 && (((pkt[6] << 8) | pkt[7]) & 0x3fff) != 0) return CsumFix::NotApplicable;  // MF or offset
  const size_t l4len = ip.length - ip.headerLen;
  const size_t off = ip.proto == 6 ? 16 : 6;
  if (l4len < off + 2) return CsumFix::NotApplicable;
  uint8_t* l4 = pkt + ip.headerLen;
  const uint16_t field = static_cast<uint16_t>(l4[off] << 8 | l4[off + 1]);
  if (ip.proto == 17 && ip.family == 4 && field == 0) return CsumFix::NotApplicable;
  const uint64_t pseudo = PseudoHeaderSum(ip, l4len);
  if (Fold(SumBytes(l4, l4len, pseudo)) == 0xffff) return CsumFix::Valid;
  // Linux seeds a partial checksum with the pseudo-header sum including the L4 length, or, for
  // GSO packets, without it.
  const uint64_t pseudoNoLen = pseudo - (l4len & 0xffff) - (l4len >> 16);
  if (field != Fold(pseudo) && field != Fold(pseudoNoLen)) return CsumFix::Bad;
  l4[off] = l4[off + 1] = 0;
  uint16_t sum = static_cast<uint16_t>(~Fold(SumBytes(l4, l4len, pseudo)));
  if (ip.proto == 17 && sum == 0) sum = 0xffff;
  l4[off] = static_cast<uint8_t>(sum >> 8);
  l4[off + 1] = static_cast<uint8_t>(sum);
  return CsumFix::Completed;
}

}  // namespace vxtun
