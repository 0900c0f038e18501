// TCP segmentation in userspace: one TCP "super-packet" (a TSO/GSO packet whose payload exceeds
// the MSS) into MSS-sized segments, each a complete, valid IP packet.
//
// Why on receive: a kernel VXLAN sender hands GSO_UDP_TUNNEL super-packets to its underlay; over
// a veth (containers, kind, our testbed) they reach our UDP socket unsegmented, as one datagram
// holding one oversized inner packet that the kernel could not forward to a pod. The transmit
// side (TSO from the TUN) splits the same way.
//
// Per segment i of n: IPv4 ID + i, total length, header checksum (or IPv6 payload length);
// TCP seq + i·mss; FIN and PSH only on the last segment, CWR only on the first (RFC 3168
// §6.1.2); a full TCP checksum.
#pragma once
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "core/vxlan.h"

namespace vxtun {

// The TCP header length of a parsed TCP packet, or 0 when it is not a well-formed TCP packet
// that can be segmented (not TCP, an IPv4 fragment, or a bad data offset).
size_t TcpHeaderLen(const uint8_t* pkt, const InnerIp& ip);

// The per-packet half of segmentation. Its checksums are the header template's sums without the fields that
// change per segment (IPv4 total length and ID; TCP sequence number, flags and the pseudo-header length), taken
// once; each segment then adds those fields and its payload sum. pkt and ip must outlive it; pkt is only read.
class TcpSegmenter {
 public:
  // seedOnly: each segment's TCP checksum field gets only the pseudo-header seed, its payload is not read (remote
  // checksum offload, vxlan.h: the receiver completes it).
  TcpSegmenter(const uint8_t* pkt, const InnerIp& ip, size_t th, bool seedOnly = false);
  // Writes the IP and TCP headers (ip.headerLen + th bytes) of segment i of n into hdr, with valid IPv4 header and
  // TCP checksums (or the seed), for the payload bytes [off, off + len) of the packet, read (not copied) at
  // `payload`: pkt + headers + off, or a scattered slice (tso.h). hdr must not overlap pkt's headers.
  void Write(size_t i, size_t n, size_t off, size_t len, uint8_t* hdr, const uint8_t* payload) const;

 private:
  const uint8_t* pkt_;
  const InnerIp* ip_;
  size_t th_;
  uint64_t ipBase_ = 0;   // IPv4 header sum, total length / ID / checksum taken as 0
  uint64_t tcpBase_ = 0;  // pseudo header without length + TCP header, seq / offset+flags / checksum taken as 0
  uint64_t pseudo_ = 0;   // pseudo header without length (seedOnly)
  uint32_t seq_ = 0;
  uint16_t id_ = 0;
  bool seedOnly_ = false;
};

// Splits pkt into segments of at most mss payload bytes, each written contiguously into out
// (capacity outCap); segs[k] receives the k-th segment's span. Returns the number of segments,
// or 0 when the packet cannot be segmented (see TcpHeaderLen), mss is 0, or it does not fit.
int SegmentTcp(const uint8_t* pkt, const InnerIp& ip, size_t mss, uint8_t* out, size_t outCap, struct iovec* segs,
               int maxSegs);

}  // namespace vxtun
