// One capture record (core/capture_record.h) as a pcapng Enhanced Packet Block, exactly as src/dump/pcapng.ts
// recordBlock writes it (that is the reference; test/native/pcapng-epb.test.ts compares the two):
//
//   EPB on interface 0, ns timestamp, captured bytes, original length, options:
//     opt_comment   "dir=tx|rx peer=<name|-> vtep=<ip> verdict=forward|drop:<reason>"
//     epb_dropcount u64, only when records of this ring were lost just before this one
//   With an outer context the bytes are a synthesised outer IPv4 + UDP header (checksum 0; the
//   remote port derived from the inner addresses) + the VXLAN/Ethernet prefix (synthesised with
//   zero MACs for a transmit drop that never had one) + the inner packet.
//   The outer header is IPv4 only: it is synthesised when this node's address (EpbOuter::publicIp)
//   and the record's VTEP are IPv4 (a VTEP of none, a transmit drop without a peer, is 0.0.0.0). A
//   record with an IPv6 address at either end is written as its inner packet alone, as without an
//   outer context; its comment names the IPv6 VTEP. The IPv6 outer header is issue 17's (with
//   src/dump/pcapng.ts outerDatagram, the reference, in the same change).
// Pure: no allocation, little-endian output.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/capture_record.h"

namespace vxtun {

struct EpbOuter {
  UnderlayAddr publicIp;  // this node's underlay address
  uint16_t port;          // VXLAN UDP port, host order
  uint32_t vni;
};

// The bytes WriteCaptureEpb needs at most for a record with this header.
size_t CaptureEpbBound(const CaptureRecordHeader& h);

// Writes the EPB for (h, name[0..h.nameLen), data[0..h.capLen)) into out; returns its length, or 0
// when cap is too small. outer may be null.
size_t WriteCaptureEpb(const CaptureRecordHeader& h, const char* name, const uint8_t* data, const EpbOuter* outer,
                       uint8_t* out, size_t cap);

}  // namespace vxtun
