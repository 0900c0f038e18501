// Transmit-side offload work on packets read from a TUN with a virtio-net header: finishing
// NEEDS_CSUM checksums, and planning the zero-copy split of a TSO super-packet into VXLAN
// datagrams for one UDP GSO send.
//
// A TSO packet [IP|TCP|payload of P bytes] with MSS M becomes n = ⌈P/M⌉ datagrams
//   [VXLAN+Eth 22 | IP_i | TCP_i | payload slice i]
// where the 22+H header block of each is built in scratch memory and the payload slices are
// iovecs into the read buffer (no userspace payload copy). Every datagram but the last is exactly
// 22+H+M bytes, the shape UDP_SEGMENT needs, so the kernel (or NIC) cuts one send into n.
#pragma once
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "virtio.h"
#include "vxlan.h"

namespace vxtun {

// Completes a NEEDS_CSUM packet: folds the sum over [csumStart, len) into the seed at
// csumStart+csumOffset. False when the offsets do not fit the packet.
bool CompleteNeedsCsum(uint8_t* pkt, size_t len, uint16_t csumStart, uint16_t csumOffset);

// The checks a TSO read must pass: the gso type matches the IP version and the packet is TCP
// with a sane header. Returns the TCP header length, or 0 (then the packet is dropped as bad-ip).
size_t CheckTsoPacket(const uint8_t* pkt, const InnerIp& ip, const VnetHdr& v);

struct TsoPlan {
  int segments = 0;     // n
  size_t segBytes = 0;  // 22 + H + M: the UDP payload size of every datagram but the last
};

// Builds the plan for one TSO packet: writes n header blocks of 22+H bytes into hdrs (capacity
// hdrsCap) and 2n iovecs {block_i, 22+H}, {payload_i, len_i} into iov. prefix is the 22-byte
// VXLAN+Ethernet header for the peer. Returns a plan with segments == 0 if it does not fit.
TsoPlan PlanTsoSegments(const uint8_t* pkt, const InnerIp& ip, size_t th, size_t mss, const uint8_t* prefix,
                        uint8_t* hdrs, size_t hdrsCap, struct iovec* iov, int maxSegs);

}  // namespace vxtun
