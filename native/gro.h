// Receive-side offload work: turning the inner packets accepted from a batch of datagrams into
// TUN writes, each [virtio-net header | packet] or, coalesced, [GSO header | first packet |
// payload 2 | … | payload n] (payloads stay in the receive buffers: no userspace copy).
//
// Coalescing (TCP only, in arrival order, one open run at a time): a segment joins the run when
// it has the same addresses, ports, ACK number, TCP header length and option bytes, IPv4 TOS/TTL/
// DF (IPv6 class/label/hop limit), flags exactly ACK or ACK|PSH, its sequence number follows the
// run exactly, and its payload is no larger than the run's first (only the last may be shorter).
// PSH, a shorter payload, 64 segments or 64 KiB end a run. Every segment's TCP checksum is
// verified (a partial one completed) before it may join — the GSO write carries NEEDS_CSUM, so the
// kernel will not check it again — unless the outer UDP checksum already vouched for it
// (RxPkt::outerVerified). A run of one is written as a plain packet.
//
// A TCP super-packet larger than the MTU (kernel GSO over veth, see segment.h) is written as one
// GSO packet with gso_size = MTU − headers when coalescing is on, or marked for userspace
// segmentation when it is off.
#pragma once
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "virtio.h"
#include "vxlan.h"

namespace vxtun {

struct RxPkt {
  uint8_t* p = nullptr;  // the inner IP packet (modified in place when it heads a run)
  size_t len = 0;
  InnerIp ip;
  // Came in a UDP GRO train: the kernel builds trains only from datagrams whose (non-zero) outer
  // UDP checksum it validated, and that checksum covers every inner byte, so the inner TCP
  // checksum need not be verified again before coalescing.
  bool outerVerified = false;
};

struct TunWrite {
  enum Kind : uint8_t { kPlain, kGso, kSplit } kind = kPlain;
  int pkt = 0;         // index of the (first) packet
  int firstIov = 0;    // iov[firstIov] is this write's virtio-net header
  int iovcnt = 0;
  int segments = 1;    // packets merged into this write
};

struct GroStats {
  uint64_t coalesced = 0;       // packets that joined another packet's write
  uint64_t csumCompleted = 0;   // partial inner checksums completed
};

struct GroScratch {
  uint8_t* vnet;   // capacity: maxWrites * kVnetHdrLen
  struct iovec* iov;
  int iovCap;
  TunWrite* writes;
  int maxWrites;
};

// Plans the TUN writes for pkts[0..n). Returns the number of writes, or -1 if scratch ran out
// (cannot happen with maxWrites >= n and iovCap >= 2n + 1).
int PlanTunWrites(RxPkt* pkts, int n, bool coalesce, size_t mtu, const GroScratch& s, GroStats* st);

}  // namespace vxtun
