// One dataplane worker: a transmit loop (TUN → VXLAN → UDP) and a receive loop (UDP → checks →
// TUN), each on its own thread, over one TUN queue, one receive socket and a few transmit sockets.
//
// Transmit flow, per batch:
//   1. poll the TUN queue (and the stop eventfd); read up to kBatch packets or kBatchBytes, each with its
//      virtio-net header placed so the packet starts 22 bytes into its buffer;
//   2. online in the table: classify each packet (ParseInnerIp, LPM on the inner destination)
//      and write the VXLAN+Ethernet prefix in front of it, over the spent virtio-net header;
//      a NEEDS_CSUM packet gets its checksum finished (tso.h); a TSO super-packet is planned
//      into per-segment header blocks plus payload iovecs (no payload copy) and becomes UDP GSO
//      messages of ≤ 64 datagrams / 64 KiB, or single datagrams when UDP GSO is off;
//   3. offline: one sendmmsg per transmit socket used (the inner flow hash picks the socket).
// Receive flow, per batch:
//   1. poll the receive socket; recvmmsg up to kBatch messages (fewer after a batch of large
//      GRO trains: NextRecvBatch), each one datagram or a UDP GRO train of gso-sized datagrams;
//   2. online in the table: ClassifyRx every datagram (the receive-side rules); count drops;
//   3. offline: plan the TUN writes (gro.h: checksum completion, TCP coalescing into GSO writes,
//      super-packets) and write them, one writev each.
// Capture (capture.h): each loop checks once per batch whether a capture runs; only then does it
// copy each packet (with its verdict, peer and VTEP) into its own ring, never waiting on it.
// Neither loop blocks while online in the table, allocates, or calls into JavaScript.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "capture.h"
#include "checksum.h"
#include "classify.h"
#include "fdb.h"
#include "io.h"
#include "udp_linux.h"

namespace vxtun {

// Counters of one loop. Only the owning thread writes them; any thread may read them.
struct alignas(64) Counters {
  std::atomic<uint64_t> packets{0};        // datagrams sent / inner packets accepted
  std::atomic<uint64_t> bytes{0};          // inner IP bytes
  std::atomic<uint64_t> errors{0};         // send/write failures (not drops: the packet was valid)
  std::atomic<uint64_t> offloaded{0};      // tx: TSO super-packets split; rx: packets coalesced
  std::atomic<uint64_t> csumCompleted{0};  // rx: partial inner checksums completed
  std::atomic<uint64_t> superSplit{0};     // rx: oversized TCP super-packets segmented
  std::atomic<uint64_t> drops[kVerdictCount] = {};
};

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

// Called from a worker thread when its loop ends on an error (the device or socket is gone).
using FatalFn = std::function<void(const std::string&)>;

class Worker {
 public:
  Worker(int id, TunIO* tun, UdpIO* rx, std::vector<UdpSocket*> tx, TableHolder* table, const WorkerSettings& s,
         int stopFd, FatalFn fatal);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  void Start();
  void Join();
  // UDP GSO as it stands now (a send may have turned it off).
  bool udpGsoActive() const;

  Counters tx;
  Counters rx;

 private:
  void TxLoop();
  void RxLoop();
  bool WaitReadable(int fd);

  int id_;
  TunIO* tun_;
  UdpIO* rxSock_;
  std::vector<UdpSocket*> txSocks_;
  TableHolder* table_;
  TableHolder::ReaderSlot* txSlot_;
  TableHolder::ReaderSlot* rxSlot_;
  WorkerSettings settings_;
  int stopFd_;
  FatalFn fatal_;
  std::thread txThread_;
  std::thread rxThread_;
};

}  // namespace vxtun
