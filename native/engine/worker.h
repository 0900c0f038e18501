// One dataplane worker: a transmit loop (TUN → VXLAN → UDP) and a receive loop (UDP → checks →
// TUN), each on its own thread, over one TUN queue, one receive socket per underlay family and a few
// transmit sockets per family. Each loop waits for its first packet, then runs batches until they are drained:
// tx_batch.h and rx_batch.h hold the per-batch work and its contract. A receive loop with one socket waits in
// recvmmsg itself (RecvLoopWaiting); a transmit loop waits in the TUN read itself once the queue is this process's
// alone (mayWaitTun, engine/dataplane.h) and sends the packet that ended the wait in a batch of its own first;
// otherwise they wait in poll (with the stop eventfd). Each spares a lone packet system calls (README "Latency"). A
// dual-stack node's two receive sockets are served by the ONE receive thread (a batch per socket, in turn, until both
// are drained): the capture ring and the table reader slot of the receive side keep one writer. Capture (capture.h):
// each batch checks once whether a capture runs; only then does it copy each packet (with its verdict, peer and VTEP)
// into its own ring, never waiting on it. Neither loop blocks while online in the table, allocates, or calls into
// JavaScript. Stopping (engine/dataplane.h Pause and Close): the dataplane sets `stopping`, then signals the stop
// eventfd; a loop looks at both only between batches (a batch read is always finished: forwarded, dropped or counted as
// an error), so under load it stops after the batch in hand. A loop waiting in its read (no poll before it) does not
// see the eventfd: Join ends that wait with a signal (SIGURG, whose handler the worker installs when nobody else has
// one; without it both loops wait in poll), repeated until the loop has ended. A worker can be started again once
// joined (Start after Join): its loops begin with fresh batch state; the counters, reader slots and sockets' state are
// kept.
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
         const WorkerSettings& s, int stopFd, const std::atomic<bool>* stopping, const std::atomic<bool>* mayWaitTun,
         FatalFn fatal);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  // Starts both loops' threads; only when not running (never started, or joined since).
  void Start();
  void Join();
  // Interrupts the transmit loop's wait so that it looks at mayWaitTun again now (not at its next packet).
  void WakeTransmit();
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
  const std::atomic<bool>* mayWaitTun_;  // the TUN queue is this process's alone: its reads may wait (dataplane.h)
  FatalFn fatal_;
  std::thread txThread_;
  std::thread rxThread_;
  bool wakeReady_ = false;           // the wake signal's handler is ours (worker.cc WakeSignalReady)
  bool waitingRecv_ = false;         // the receive loop waits in recvmmsg (RecvLoopWaiting)
  std::atomic<bool> rxEnded_{true};  // its thread has left the loop
  std::atomic<bool> txEnded_{true};
};

}  // namespace vxtun
