// One dataplane worker: a transmit loop (TUN → VXLAN → UDP) and a receive loop (UDP → checks →
// TUN), each on its own thread, over one TUN queue, one receive socket and a few transmit sockets.
// Each loop waits until its fd is readable (or the stop eventfd fires), then runs batches until the
// fd is drained: tx_batch.h and rx_batch.h hold the per-batch work and its contract.
// Capture (capture.h): each batch checks once whether a capture runs; only then does it copy each
// packet (with its verdict, peer and VTEP) into its own ring, never waiting on it.
// Neither loop blocks while online in the table, allocates, or calls into JavaScript.
#pragma once
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/fdb.h"
#include "engine/io.h"
#include "engine/loop_settings.h"
#include "engine/table_holder.h"

namespace vxtun {

// Called from a worker thread when its loop ends on an error (the device or socket is gone).
using FatalFn = std::function<void(const std::string&)>;

class Worker {
 public:
  Worker(int id, TunIO* tun, UdpIO* rxSock, std::vector<UdpSender*> txSocks, TableHolder* table,
         const WorkerSettings& s, int stopFd, FatalFn fatal);
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
  std::vector<UdpSender*> txSocks_;
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
