// Internet checksums (RFC 1071) over byte spans, and the completion of "partial" inner checksums.
//
// Why completion exists: a Linux sender with checksum offload (a kernel VXLAN peer, or any host
// behind a veth) can hand the datagram to the wire with the inner TCP/UDP checksum still
// CHECKSUM_PARTIAL — the field holds only the folded pseudo-header sum, and the NIC is expected to
// finish it. Over veth nobody does, and a kernel VXLAN receiver never notices because it keeps the
// skb partial. We receive bytes, so we must finish the sum before writing the packet into the TUN,
// or the pod's stack drops it. A field that is wrong AND equals the pseudo-header seed is a
// partial checksum; any other wrong value is left alone for the receiver to reject.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/vxlan.h"

namespace vxtun {

// One's-complement sum of a span (big-endian 16-bit words, odd byte padded), not folded.
// Uses the fastest implementation the CPU has (AVX2 on x86-64 when present).
uint64_t SumBytes(const uint8_t* p, size_t n, uint64_t acc = 0);
// The same sum by a chosen implementation, for the differential tests and fuzzing; an
// implementation the CPU lacks falls back to Scalar.
enum class SumImpl : uint8_t { Scalar, Avx2 };
bool SumImplAvailable(SumImpl impl);
uint64_t SumBytesWith(SumImpl impl, const uint8_t* p, size_t n, uint64_t acc = 0);
// Folds a 64-bit accumulator to 16 bits (not inverted).
uint16_t Fold(uint64_t acc);
// The pseudo-header sum for an inner packet's L4 segment of length l4len (not folded).
uint64_t PseudoHeaderSum(const InnerIp& ip, size_t l4len);

enum class CsumFix : uint8_t {
  NotApplicable,  // not TCP/UDP, a fragment, or a UDP datagram without checksum
  Valid,          // already correct
  Completed,      // was partial; now correct
  Bad,            // wrong, and not a partial checksum
};

// Checks the TCP/UDP checksum of pkt (an IP packet described by ip) and completes it in place if
// it is partial. One sum over the L4 bytes either way.
//
// "Completed" is not "verified": a corrupted packet whose (once valid) field happens to equal a
// seed (about 2 in 65,536) is indistinguishable from a partial one, and leaves valid. So a
// completed packet is only ever written alone, never coalesced (gro.h).
CsumFix CompletePartialChecksum(uint8_t* pkt, const InnerIp& ip);

// For a packet the kernel will checksum itself (a GSO write with NEEDS_CSUM, gro.h): true when the
// TCP/UDP field holds a partial seed (the normal state of a kernel GSO packet; not summed) or the
// checksum verifies, or there is none (NotApplicable above); false when it is Bad. Never writes.
bool SeedOrValidChecksum(const uint8_t* pkt, const InnerIp& ip);

}  // namespace vxtun
