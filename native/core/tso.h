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

#include "core/virtio.h"
#include "core/vxlan.h"

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
// seedOnly: the segments' TCP checksums are left to the receiver (TcpSegmenter, remote checksum offload).
TsoPlan PlanTsoSegments(const uint8_t* pkt, const InnerIp& ip, size_t th, size_t mss, const uint8_t* prefix,
                        uint8_t* hdrs, size_t hdrsCap, struct iovec* iov, int maxSegs, bool seedOnly = false);

// The scattered layout (no gather on send): a TSO super-packet with headers of H bytes (IP + TCP) and
// MSS M is read with readv into a slot so that datagram i, [VXLAN+Eth 22 | IP_i | TCP_i | payload i],
// will be contiguous at slot + i·D, D = 22 + H + M: the first iovec takes the virtio-net header (at
// slot + 12), the headers and payload 0; iovec i ≥ 1 puts payload i after a gap of 22 + H bytes, where
// its headers are built later. A UDP GSO message of k datagrams is then one span. H and M are predicted
// from the last super-packet; a read that does not match is moved back to the contiguous layout.
// A transmit slot: a super-packet in the scattered layout is 64 KiB plus a 22 + H gap per segment; layouts are
// only predicted for MSS ≥ kTsoMinLayoutMss and H ≤ kTsoMaxLayoutH, so at most 129 × 654 bytes.
constexpr size_t kTsoSlotBytes = 96 * 1024;
constexpr size_t kTsoMinLayoutMss = 512, kTsoMaxLayoutH = 120;

struct TsoLayout {
  size_t h = 0;    // IP + TCP header bytes
  size_t mss = 0;  // 0: no layout (read contiguously)
  size_t stride() const { return kEncapPrefix + h + mss; }
};

// The readv iovecs for one slot of `room` bytes, covering a packet of up to 65535 bytes; returns their
// count, or 0 when the layout does not fit (then read contiguously).
int TsoScatterIovecs(uint8_t* slot, size_t room, const TsoLayout& l, struct iovec* iov, int maxIov);

// Moves a scattered read of `n` bytes (virtio-net header included) back to the contiguous layout: the
// packet at slot + 22, as a plain read leaves it. Nothing to do when it fit the first iovec.
void TsoUnscatter(uint8_t* slot, size_t n, const TsoLayout& l);

// Copies the first `room` bytes of the logical [prefix 22 | packet of `len` bytes] of a scattered slot
// into out (a capture); returns how many.
size_t TsoScatterCopy(const uint8_t* slot, size_t len, const TsoLayout& l, uint8_t* out, size_t room);

// Splits a scattered TSO packet (its IP + TCP headers exactly l.h, its MSS l.mss) in place: writes each
// datagram's prefix and headers into its gap (the original headers are first copied to tmpl, ≥ l.h bytes).
// Datagram i is then [slot + i·D, 22 + H + len_i). segments == 0 when there are more than maxSegs.
TsoPlan PlanTsoInPlace(uint8_t* slot, const InnerIp& ip, size_t th, const TsoLayout& l, const uint8_t* prefix,
                       uint8_t* tmpl, int maxSegs, bool seedOnly = false);

}  // namespace vxtun
