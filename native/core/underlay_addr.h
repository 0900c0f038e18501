// The underlay (outer) address of a VXLAN endpoint, either family: this node's bind address, a peer's
// public IP, a datagram's outer source, a message's destination, a capture record's VTEP. The forwarding
// table, the receive checks, capture records and the socket seams (engine/io.h) carry it without looking at
// its family; only the sockets (linux/udp_linux.cc, the one place that converts to and from sockaddr_in and
// sockaddr_in6) and the outer-header synthesis of captures (core/pcapng_epb.cc) do.
//
// Contract:
//   - family is 0 (no address: an unknown or absent peer), 4 or 6. bytes holds the address in network byte
//     order, an IPv4 address in bytes[0..4); every byte past the family's length is zero, so equality and the
//     hash compare all 17 bytes.
//   - No normalisation: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is an IPv6 value and never equals the IPv4
//     address, as in src/net/ip.ts. A socket that can report one (a dual-stack socket) maps it to IPv4 when it
//     reads the sender (linux/udp_linux.cc).
//   - Trivially copyable, no padding: capture records (core/capture_record.h) hold it as bytes.
// Pure: no syscalls, no socket headers (text conversion uses inet_pton/inet_ntop in underlay_addr.cc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace vxtun {

struct UnderlayAddr {
  uint8_t bytes[16] = {};
  uint8_t family = 0;  // 0 none, 4, 6

  static UnderlayAddr V4(const uint8_t b[4]) {
    UnderlayAddr a;
    std::memcpy(a.bytes, b, 4);
    a.family = 4;
    return a;
  }
  // From an IPv4 address held in a uint32_t in network byte order (sockaddr_in's sin_addr.s_addr).
  static UnderlayAddr V4Net(uint32_t net) {
    uint8_t b[4];
    std::memcpy(b, &net, 4);
    return V4(b);
  }
  static UnderlayAddr V6(const uint8_t b[16]) {
    UnderlayAddr a;
    std::memcpy(a.bytes, b, 16);
    a.family = 6;
    return a;
  }
  // "a.b.c.d" or an IPv6 text form (inet_pton's: no zone, no brackets, no prefix). False on anything else.
  static bool Parse(const std::string& s, UnderlayAddr* out);

  bool IsV4() const { return family == 4; }
  bool IsV6() const { return family == 6; }
  bool empty() const { return family == 0; }
  // The IPv4 address as sin_addr.s_addr holds it; 0 unless IsV4().
  uint32_t v4Net() const {
    uint32_t n = 0;
    if (family == 4) std::memcpy(&n, bytes, 4);
    return n;
  }
  size_t size() const { return family == 4 ? 4 : family == 6 ? 16 : 0; }
  // "192.0.2.1", "fd99::1" (RFC 5952 form), or "none"; for messages and tests, not for hot paths.
  std::string ToString() const;

  friend bool operator==(const UnderlayAddr& a, const UnderlayAddr& b) {
    return a.family == b.family && std::memcmp(a.bytes, b.bytes, 16) == 0;
  }
  friend bool operator!=(const UnderlayAddr& a, const UnderlayAddr& b) { return !(a == b); }
};
static_assert(sizeof(UnderlayAddr) == 17 && std::is_trivially_copyable_v<UnderlayAddr>, "underlay address layout");

// For unordered containers keyed by address (Table's public IP → peer map, on every received datagram).
struct UnderlayAddrHash {
  size_t operator()(const UnderlayAddr& a) const {
    uint64_t hi, lo;
    std::memcpy(&hi, a.bytes, 8);
    std::memcpy(&lo, a.bytes + 8, 8);
    uint64_t h = (hi ^ (lo * 0x9e3779b97f4a7c15ull) ^ a.family) * 0xff51afd7ed558ccdull;
    return static_cast<size_t>(h ^ (h >> 32));
  }
};

}  // namespace vxtun
