// One dataplane worker: a transmit loop (TUN → VXLAN → UDP) and a receive loop (UDP → checks →
// TUN), each on its own thread, over one TUN queue and one UDP socket.
//
// Transmit flow, per batch:
//   1. poll the TUN queue (and the stop eventfd); read up to kBatch packets, each at offset 22 of
//      its buffer so the VXLAN+Ethernet prefix can be written in place in front of it;
//   2. online in the table: classify each packet (ParseInnerIp, LPM on the inner destination),
//      write the prefix with the peer's VTEP MAC, queue one OutMsg to peer:port; count drops;
//   3. offline: one sendmmsg for the batch.
// Receive flow, per batch:
//   1. poll the socket; recvmmsg up to kBatch datagrams;
//   2. online in the table: ClassifyRx each (the receive-side rules); count drops;
//   3. offline: write each accepted inner packet to the TUN — completing a partial inner
//      checksum (checksum.h says why), or splitting a TCP super-packet larger than the MTU into
//      segments (segment.h says why).
// Neither loop blocks while online in the table, allocates, or calls into JavaScript.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "checksum.h"
#include "classify.h"
#include "fdb.h"
#include "io.h"

namespace vxtun {

// Counters of one loop. Only the owning thread writes them; any thread may read them.
struct alignas(64) Counters {
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> errors{0};  // send/write failures (not drops: the packet was valid)
  std::atomic<uint64_t> csumCompleted{0};  // receive: partial inner checksums completed
  std::atomic<uint64_t> superSplit{0};     // receive: oversized TCP super-packets segmented
  std::atomic<uint64_t> drops[kVerdictCount] = {};
};

struct WorkerSettings {
  RxPolicy policy;
  uint16_t portNet = 0;  // destination UDP port, network byte order
  size_t mtu = 1450;     // the TUN device's MTU: larger received packets are segmented (segment.h)
};

// Called from a worker thread when its loop ends on an error (the device or socket is gone).
using FatalFn = std::function<void(const std::string&)>;

class Worker {
 public:
  Worker(int id, TunIO* tun, UdpIO* udp, TableHolder* table, const WorkerSettings& s, int stopFd, FatalFn fatal);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  void Start();
  void Join();

  Counters tx;
  Counters rx;

 private:
  void TxLoop();
  void RxLoop();
  // Writes accepted packets to the TUN, fixing checksums and splitting super-packets; false when
  // the device is gone.
  bool DeliverToTun(struct iovec* pkts, InnerIp* inner, int m, uint8_t* scratch, size_t scratchCap,
                    uint64_t* failed);
  // Waits until fd is readable; false once a stop was requested.
  bool WaitReadable(int fd);

  int id_;
  TunIO* tun_;
  UdpIO* udp_;
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
