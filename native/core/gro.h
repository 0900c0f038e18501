// Receive-side offload work: turning the inner packets accepted from a batch of datagrams into
// TUN writes, each [virtio-net header | packet] or, coalesced, [GSO header | first packet |
// payload 2 | … | payload n] (payloads stay in the receive buffers: no userspace copy).
//
// Coalescing (TCP only, in arrival order, one open run at a time): a segment joins the run when
// it has the same addresses, ports, ACK number, TCP header length and option bytes, IPv4 TOS/TTL/
// DF (IPv6 class/label/hop limit), flags exactly ACK or ACK|PSH, its sequence number follows the
// run exactly, and its payload is no larger than the run's first (only the last may be shorter).
// PSH, a shorter payload, 64 segments or 64 KiB end a run. A run of one is written as a plain
// packet.
//
// Checksums: the GSO write carries NEEDS_CSUM, so the kernel completes the super-packet's checksum
// and checks nothing; a corrupted member would reach the pod with a fresh valid checksum. So a
// segment may head or join a run only when its IPv4 header checksum and its TCP checksum verified
// (as the kernel's GRO verifies before it merges). Every packet's TCP/UDP checksum is summed once
// (checksum.h CompletePartialChecksum), in a UDP GRO train too (RxPkt::outerVerified vouches for
// nothing here). A segment that is not Valid is written alone, without NEEDS_CSUM or GSO: a Bad
// one unchanged (the pod's stack drops it, as behind a kernel VXLAN device), a partial one
// completed (checksum.h: completion cannot tell a partial from a corrupted packet whose field
// equals the seed, so such a packet is never merged with others).
//
// A packet with remote checksum offload (RxPkt::rco) is not summed: its field is set to the seed and it is
// written with NEEDS_CSUM, alone or heading or joining a run.
//
// A TCP super-packet larger than the MTU (kernel GSO over veth, see segment.h) is written as one
// GSO packet with gso_size = MTU − headers when coalescing is on, or marked for userspace
// segmentation when it is off — either way its checksums get rewritten, so only when its IPv4
// header checksum verifies and its TCP field is a partial seed (a kernel GSO packet's normal state:
// nothing to verify) or verifies (checksum.h SeedOrValidChecksum). A bad one is written whole,
// unchanged, as a plain packet.
#pragma once
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "core/virtio.h"
#include "core/vxlan.h"

namespace vxtun {

struct RxPkt {
  uint8_t* p = nullptr;  // the inner IP packet (modified in place when it heads a run)
  size_t len = 0;
  InnerIp ip;
  // Came in a UDP GRO train. PlanTunWrites does not take it as a reason to skip the inner
  // checksums: the kernel builds trains from datagrams with a zero outer checksum (none: a kernel
  // VXLAN device's default over IPv4), over a veth it hands a sender's UDP_SEGMENT message over as
  // one train without checksumming it, and a valid outer checksum only says the datagram arrived
  // as sent, not that the inner packet was intact when it was encapsulated.
  bool outerVerified = false;
  // Its sender left the inner TCP/UDP checksum to us by remote checksum offload that matches the packet
  // (core/vxlan.h RcoMatches): the field gets the seed and the write NEEDS_CSUM, nothing is summed. Such a packet
  // may head or join a run like a verified one: nobody but its sender could vouch for it either way, and the
  // outer UDP checksum covered it in flight.
  bool rco = false;
};

struct TunWrite {
  enum Kind : uint8_t { kPlain, kGso, kSplit } kind = kPlain;
  int pkt = 0;       // index of the (first) packet
  int firstIov = 0;  // iov[firstIov] is this write's virtio-net header
  int iovcnt = 0;
  int segments = 1;  // packets merged into this write
};

struct GroStats {
  uint64_t coalesced = 0;      // packets that joined another packet's write
  uint64_t csumCompleted = 0;  // partial inner checksums completed
  uint64_t rco = 0;            // packets written with their checksum left partial (remote checksum offload)
};

struct GroScratch {
  uint8_t* vnet;  // capacity: maxWrites * kVnetHdrLen
  struct iovec* iov;
  int iovCap;
  TunWrite* writes;
  int maxWrites;
};

// Plans the TUN writes for pkts[0..n). Returns the number of writes, or -1 if scratch ran out
// (cannot happen with maxWrites >= n and iovCap >= 2n + 1).
int PlanTunWrites(RxPkt* pkts, int n, bool coalesce, size_t mtu, const GroScratch& s, GroStats* st);

}  // namespace vxtun
