#include "checksum.h"

#include <cstring>

namespace vxtun {

uint64_t SumBytes(const uint8_t* p, size_t n, uint64_t acc) {
  // One's-complement sums do not depend on byte order (RFC 1071 §2): sum native-order 64-bit
  // words with end-around carry (a 128-bit accumulator keeps every carry), fold, and swap the
  // 16-bit result into network order once at the end.
  unsigned __int128 s = 0;
  while (n >= 32) {
    uint64_t w[4];
    std::memcpy(w, p, 32);
    s += w[0];
    s += w[1];
    s += w[2];
    s += w[3];
    p += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    s += w;
    p += 8;
    n -= 8;
  }
  while (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    s += w;
    p += 2;
    n -= 2;
  }
  if (n) s += *p;  // the odd byte is the high-order byte of a network-order word: low byte here
  uint64_t lo = static_cast<uint64_t>(s), hi = static_cast<uint64_t>(s >> 64);
  uint64_t r = lo + hi;
  if (r < lo) r++;
  r = (r & 0xffffffffu) + (r >> 32);
  r = (r & 0xffffu) + (r >> 16);
  r = (r & 0xffffu) + (r >> 16);
  r = (r & 0xffffu) + (r >> 16);
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "SumBytes assumes a little-endian host");
  return acc + __builtin_bswap16(static_cast<uint16_t>(r));
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
