// One capture record (core/capture_record.h) as a pcapng Enhanced Packet Block, exactly as src/dump/pcapng.ts
// recordBlock writes it (that is the reference; test/native/pcapng-epb.test.ts compares the two):
//
//   EPB on interface 0, ns timestamp, captured bytes, original length, options:
//     opt_comment   "dir=tx|rx peer=<name|-> vtep=<ip> verdict=forward|drop:<reason>"
//     epb_dropcount u64, only when records of this ring were lost just before this one
//   With an outer context the bytes are a synthesised outer IP + UDP header (the remote port derived
//   from the inner addresses) + the VXLAN/Ethernet prefix (synthesised with zero MACs for a transmit
//   drop that never had one) + the inner packet. The outer header's family is this node's
//   (EpbOuter::publicIp); on a dual-stack node (EpbOuter::publicIp6 set) a record whose VTEP is IPv6 gets an
//   IPv6 outer header from publicIp6, any other an outer header of publicIp's (IPv4) family (EpbOuterFor).
//   A single-family node's records all have the same outer length:
//     IPv4 (publicIp IPv4, or none): IPv4 20 (DF, TTL 64, header checksum) + UDP 8 with checksum 0
//       (none: allowed on IPv4); 50 bytes before the inner packet.
//     IPv6: IPv6 40 (traffic class and flow label 0, next header UDP, hop limit 64, payload length = UDP
//       length) + UDP 8 with its checksum (mandatory on IPv6) over the pseudo-header and the bytes written;
//       70 bytes before the inner packet. A record cut by the snap length holds only part of the datagram, so
//       its checksum covers the bytes kept (with the full UDP length in the pseudo-header): tools verify a
//       checksum only over a whole datagram and show this one as unverified.
//   The record's VTEP is the remote end when its family is the outer's; otherwise (none: a transmit drop
//   without a peer; or a VTEP of the other family, which no single-family node has) the remote end is the
//   outer family's unspecified address (0.0.0.0 or ::), and the comment still names the VTEP.
//   IP and UDP lengths are clamped to 65535 (a GRO train's original length may pass it).
// Pure: no allocation, little-endian output.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/capture_record.h"

namespace vxtun {

struct EpbOuter {
  UnderlayAddr publicIp;   // this node's underlay address: its family is the outer header's
  UnderlayAddr publicIp6;  // a dual-stack node's IPv6 address (publicIp then IPv4); none: single-family
  uint16_t port;           // VXLAN UDP port, host order
  uint32_t vni;
};

// The outer bytes before the inner packet: 70 for an IPv6 publicIp, else 50 (src/dump/pcapng.ts outerBytes).
size_t EpbOuterBytes(const EpbOuter& o);
// The single-family context a record is written with: o with publicIp6 as publicIp when the record's VTEP is
// IPv6 and o has one, else o's publicIp; publicIp6 none in the result.
EpbOuter EpbOuterFor(const EpbOuter& o, const CaptureRecordHeader& h);

// The bytes WriteCaptureEpb needs at most for a record with this header (with either outer family).
size_t CaptureEpbBound(const CaptureRecordHeader& h);

// Writes the EPB for (h, name[0..h.nameLen), data[0..h.capLen)) into out; returns its length, or 0
// when cap is too small. outer may be null.
size_t WriteCaptureEpb(const CaptureRecordHeader& h, const char* name, const uint8_t* data, const EpbOuter* outer,
                       uint8_t* out, size_t cap);

}  // namespace vxtun
