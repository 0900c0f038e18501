// The slow reference for the fuzzers' checksum invariants: a TCP/UDP checksum verified byte by byte, independent of
// native/core/checksum.cc (which is what the harnesses check).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/vxlan.h"

namespace vxtun {

// Whether the TCP/UDP checksum of a parsed packet verifies.
inline bool L4Valid(const uint8_t* pkt, const InnerIp& ip) {
  const size_t l4len = ip.length - ip.headerLen;
  const size_t alen = ip.family == 4 ? 4 : 16;
  uint64_t sum = 0;
  for (size_t i = 0; i < alen; i += 2) sum += (ip.src[i] << 8 | ip.src[i + 1]) + (ip.dst[i] << 8 | ip.dst[i + 1]);
  sum += ip.proto + l4len;
  const uint8_t* l4 = pkt + ip.headerLen;
  for (size_t i = 0; i < l4len; i++) sum += i % 2 ? l4[i] : l4[i] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

}  // namespace vxtun
