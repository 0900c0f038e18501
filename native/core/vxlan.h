// VXLAN encapsulation and header/inner-packet validation: pure functions over byte spans.
// No syscalls, no allocation, no logging. Wire format: README "Wire format".
//
//   datagram = [VXLAN 8: 0x08 000000 VNI(24) 00][Ethernet 14: dst=peer VTEP MAC, src=ours, type][IP packet]
//
// The kernel adds outer IPv4 (20) and UDP (8): 50 bytes in all, so the TUN MTU is underlay MTU − 50.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/constants.h"

namespace vxtun {

// Every verdict a packet can get. Forward is "keep going"; the rest are drop reasons, one per packet.
// The names (VerdictName) are the contract's drop-reason strings.
enum class Verdict : uint8_t {
  Forward = 0,
  Short,          // too short for the header it claims to carry
  BadHeader,      // VXLAN I flag missing or reserved bits set
  Vni,            // VNI is not ours
  UnknownVtep,    // outer source is not a known peer's public IP
  BadMac,         // inner destination MAC is not our VTEP MAC
  Ethertype,      // inner ethertype is neither IPv4 nor IPv6
  BadIp,          // malformed inner IP header
  SpoofedSource,  // inner source outside the sending peer's pod CIDRs
  NotLocal,       // inner destination outside our own pod CIDRs
  NoRoute,        // transmit side: no peer owns the destination
  kCount
};
constexpr int kVerdictCount = static_cast<int>(Verdict::kCount);
const char* VerdictName(Verdict v);

// The addresses and length of an inner IP packet, pointing into the caller's span.
struct InnerIp {
  uint8_t family = 0;            // 4 or 6
  const uint8_t* src = nullptr;  // 4 or 16 bytes
  const uint8_t* dst = nullptr;
  size_t length = 0;     // the IP packet's own length (trailing bytes excluded)
  size_t headerLen = 0;  // IPv4 IHL*4, or 40 for IPv6
  uint8_t proto = 0;     // IPv4 protocol / IPv6 next header
};

// Where the checksum field sits in a TCP (6) or UDP (17) header: 16 or 6 bytes in.
constexpr size_t L4ChecksumOffset(uint8_t proto) { return proto == 6 ? 16 : 6; }

// Parses an IP packet. Returns Forward, Short or BadIp. Does not check the IPv4 header checksum.
Verdict ParseInnerIp(const uint8_t* p, size_t len, InnerIp* out);

// True when the IPv4 header's checksum is valid.
bool Ipv4HeaderChecksumOk(const uint8_t* hdr, size_t headerLen);

// Writes the 22-byte prefix (VXLAN header + inner Ethernet header) at out.
void WriteEncapPrefix(uint8_t* out, uint32_t vni, const uint8_t* dstMac, const uint8_t* srcMac, uint16_t ethertype);

// Checks the VXLAN header and VNI. Returns Forward, Short, BadHeader or Vni. With acceptRco, a header may also
// carry remote checksum offload (below); without, that flag is a reserved bit like any other.
Verdict CheckVxlanHeader(const uint8_t* d, size_t len, uint32_t vni, bool acceptRco = false);

// Remote checksum offload (RCO; draft-herbert-vxlan-rco, Linux's vxlan `remcsumtx`/`remcsumrx`; README "Remote
// checksum offload"): the sender leaves the inner TCP/UDP checksum partial — the field holds the pseudo-header
// seed — and says where it lies: flag bit C (byte 1, 0x20) and, in the VNI word's last byte, the checksum's start
// from the inner Ethernet header, halved (7 bits), with bit 0x80 set for UDP's field (start + 6), clear for TCP's
// (start + 16). The receiver writes the packet with NEEDS_CSUM instead of summing it; the outer UDP checksum is
// what covers the payload in flight.
//
// True when an inner packet whose checksum starts at csumStart (from its IP header) at csumOffset can be sent
// with RCO: TCP or UDP, unfragmented, its transport header right after the IP header, and within reach of 7 bits.
bool RcoEligible(const uint8_t* pkt, const InnerIp& ip, size_t csumStart, size_t csumOffset);
// Marks a written prefix (WriteEncapPrefix) as carrying RCO for an eligible packet (RcoEligible) of protocol proto.
void WriteRco(uint8_t* prefix, const InnerIp& ip);
// True when the datagram d (header checked with acceptRco) carries RCO that describes its inner packet exactly
// (pkt = d + kEncapPrefix, parsed as ip): the start is the transport header's and the offset its protocol's
// checksum field. A header whose RCO does not match is not trusted: its packet is summed as any other.
bool RcoMatches(const uint8_t* d, const uint8_t* pkt, const InnerIp& ip);

// A 32-bit hash of the inner flow (addresses, protocol and, for TCP/UDP, ports), symmetric in
// neither direction; used to spread flows over outer source ports and workers.
uint32_t InnerFlowHash(const uint8_t* pkt, const InnerIp& ip);

}  // namespace vxtun
