// One dataplane worker: a transmit loop (TUN → VXLAN → UDP) and a receive loop (UDP → checks →
// TUN), each on its own thread, over one TUN queue, one receive socket per underlay family and a few
// transmit sockets per family. Each loop waits until one of its fds is readable (or the stop eventfd
// fires), then runs batches until they are drained: tx_batch.h and rx_batch.h hold the per-batch work and
// its contract. A transmit loop that slept sends the packet that woke it in a batch of its own first; a receive
// loop with one socket waits in recvmmsg itself (RecvLoopWaiting): each spares a lone packet a system call
// (README "Latency"). A dual-stack node's two receive sockets are served by the ONE receive thread (a batch per
// socket, in turn, until both are drained): the capture ring and the table reader slot of the receive side
// keep one writer.
// Capture (capture.h): each batch checks once whether a capture runs; only then does it copy each
// packet (with its verdict, peer and VTEP) into its own ring, never waiting on it.
// Neither loop blocks while online in the table, allocates, or calls into JavaScript.
// Stopping (engine/dataplane.h Pause and Close): the dataplane sets `stopping`, then signals the stop eventfd; a loop
// looks at both only between batches (a batch read is always finished: forwarded, dropped or counted as an error),
// so under load it stops after the batch in hand. A receive loop with one socket waits in recvmmsg itself (no poll
// before it); Join ends that wait with a signal (SIGURG, whose handler the worker installs when nobody else has one),
// repeated until the loop has ended. A worker can be started again once joined (Start after Join):
// its loops begin with fresh batch state; the counters, reader slots and sockets' state are kept.
#pragma once
#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/fdb.h"
#include "engine/io.h"
#include "engine/loop_settings.h"
#include "engine/table_holder.h"

namespace vxtun {

class RxBatch;

// Called from a worker thread when its loop ends on an error (the device or socket is gone).
using FatalFn = std::function<void(const std::string&)>;

class Worker {
 public:
  Worker(int id, TunIO* tun, std::vector<UdpIO*> rxSocks, TxSenders txSocks, TableHolder* table,
         const WorkerSettings& s, int stopFd, const std::atomic<bool>* stopping, FatalFn fatal);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  // Starts both loops' threads; only when not running (never started, or joined since).
  void Start();
  void Join();
  // UDP GSO as it stands now (a send may have turned it off).
  bool udpGsoActive() const;

  Counters tx;
  Counters rx;

 private:
  void TxLoop();
  void RxLoop();
  void RecvLoopWaiting(RxBatch& b);
  bool WaitReadable(int fd);
  bool WaitAnyReadable();
  bool Stopping() const { return stopping_->load(std::memory_order_relaxed); }

  int id_;
  TunIO* tun_;
  static constexpr size_t kMaxRxSockets = 2;
  std::vector<UdpIO*> rxSocks_;  // one per family: 1 or kMaxRxSockets
  TxSenders txSocks_;
  TableHolder* table_;
  TableHolder::ReaderSlot* txSlot_;
  TableHolder::ReaderSlot* rxSlot_;
  WorkerSettings settings_;
  int stopFd_;
  const std::atomic<bool>* stopping_;
  FatalFn fatal_;
  std::thread txThread_;
  std::thread rxThread_;
  bool waitingRecv_ = false;         // the receive loop waits in recvmmsg (RecvLoopWaiting)
  std::atomic<bool> rxEnded_{true};  // its thread has left the loop
};

}  // namespace vxtun
