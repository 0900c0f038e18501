// The virtio-net header that prefixes every packet on a TUN opened with IFF_VNET_HDR
// (include/uapi/linux/virtio_net.h, 10 bytes, native byte order on a little-endian host).
//
// Reads: flags NEEDS_CSUM means the L4 checksum field holds only the pseudo-header seed and the
// sum over [csumStart, end) must still be folded in; a gsoType other than NONE means the packet is
// a TSO super-packet to be cut into gsoSize-byte payloads. hdrLen is a hint only (it can be the
// whole first packet on the forward path) and is never trusted.
// Writes: only NEEDS_CSUM is honoured (DATA_VALID is ignored on the TUN write path), so a packet
// written without it is verified by the stack; a GSO write must carry NEEDS_CSUM with the seed in
// the checksum field.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vxtun {

constexpr size_t kVnetHdrLen = 10;
constexpr uint8_t kVnetFlagNeedsCsum = 1;
constexpr uint8_t kVnetGsoNone = 0, kVnetGsoTcpv4 = 1, kVnetGsoUdp = 3, kVnetGsoTcpv6 = 4, kVnetGsoUdpL4 = 5;
constexpr uint8_t kVnetGsoEcn = 0x80;

struct VnetHdr {
  uint8_t flags = 0;
  uint8_t gsoType = kVnetGsoNone;
  uint16_t hdrLen = 0;
  uint16_t gsoSize = 0;
  uint16_t csumStart = 0;
  uint16_t csumOffset = 0;
};

inline VnetHdr ReadVnetHdr(const uint8_t* p) {
  VnetHdr h;
  h.flags = p[0];
  h.gsoType = p[1];
  std::memcpy(&h.hdrLen, p + 2, 2);
  std::memcpy(&h.gsoSize, p + 4, 2);
  std::memcpy(&h.csumStart, p + 6, 2);
  std::memcpy(&h.csumOffset, p + 8, 2);
  return h;
}

inline void WriteVnetHdr(uint8_t* p, const VnetHdr& h) {
  p[0] = h.flags;
  p[1] = h.gsoType;
  std::memcpy(p + 2, &h.hdrLen, 2);
  std::memcpy(p + 4, &h.gsoSize, 2);
  std::memcpy(p + 6, &h.csumStart, 2);
  std::memcpy(p + 8, &h.csumOffset, 2);
}

}  // namespace vxtun
