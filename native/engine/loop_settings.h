// What the per-batch code of both forwarding loops (rx_batch.h, tx_batch.h) is given: the worker's
// settings, the offloads in use, and the counters it adds to.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/classify.h"
#include "core/vxlan.h"
#include "engine/capture.h"
#include "engine/io.h"

namespace vxtun {

// Counters of one loop. Only the owning thread writes them; any thread may read them.
struct alignas(64) Counters {
  std::atomic<uint64_t> packets{0};        // datagrams sent / inner packets accepted
  std::atomic<uint64_t> bytes{0};          // inner IP bytes
  std::atomic<uint64_t> errors{0};         // send/write failures (not drops: the packet was valid)
  std::atomic<uint64_t> tsoSplit{0};       // tx: TSO super-packets split into datagrams
  std::atomic<uint64_t> coalesced{0};      // rx: packets merged into another packet's GSO write
  std::atomic<uint64_t> csumCompleted{0};  // rx: partial inner checksums completed
  std::atomic<uint64_t> superSplit{0};     // rx: oversized TCP super-packets segmented
  std::atomic<uint64_t> rco{0};            // packets sent / written with remote checksum offload (core/vxlan.h)
  std::atomic<uint64_t> drops[kVerdictCount] = {};
};

// Single-writer add (the owning loop's thread).
inline void AddCounter(std::atomic<uint64_t>& c, uint64_t n) {
  if (n) c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// What the worker may use; decided once at start by probing (dataplane.cc).
struct OffloadSet {
  bool tso = false;     // the TUN hands over TSO super-packets (we split them)
  bool gro = false;     // we coalesce TCP segments into GSO writes to the TUN
  bool udpGso = false;  // we send UDP_SEGMENT messages
  bool udpGro = false;  // the receive socket hands over UDP GRO trains
};

struct WorkerSettings {
  RxPolicy policy;
  uint16_t portNet = 0;  // destination UDP port, network byte order
  size_t mtu = 1450;     // the TUN device's MTU
  OffloadSet offloads;
  CaptureHub* capture = nullptr;  // rings 2·id (transmit) and 2·id+1 (receive); null: no capture
  // Every queue of the device, by queue index (empty: each worker writes to its own). The receive loops write a
  // flow's packets through queue InnerFlowHash % n, whichever worker received them: the kernel sends a flow's
  // outgoing packets to the queue whose fd last wrote packets of that flow (tun "automq"), so a fixed writer keeps
  // each flow on one transmit loop. Writing through the receiving worker's queue let a flow's transmit queue flip
  // with every write when its two directions met different workers, splitting it over two transmit loops
  // (reordered: tens of thousands of spurious retransmissions in a 3 s transfer).
  std::vector<TunIO*> tunQueues;
};

}  // namespace vxtun
