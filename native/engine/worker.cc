#include "engine/worker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <stdexcept>

#include "engine/rx_batch.h"
#include "engine/tx_batch.h"

namespace vxtun {

namespace {
// The signal that ends a waiting read or receive (worker.h): ignored by default, used by nothing else in the process.
constexpr int kWakeSignal = SIGURG;

void IgnoreWake(int) {}

// Installs the wake signal's handler (no SA_RESTART: the waiting readv or recvmmsg returns EINTR) once; false when
// the signal already has a handler of someone else's, which may restart the call: the loops then wait in poll.
bool WakeSignalReady() {
  static const bool ready = [] {
    struct sigaction old = {};
    if (sigaction(kWakeSignal, nullptr, &old) != 0) return false;
    if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) return false;
    struct sigaction sa = {};
    sa.sa_handler = IgnoreWake;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    return sigaction(kWakeSignal, &sa, nullptr) == 0;
  }();
  return ready;
}
}  // namespace

Worker::Worker(int id, TunIO* tun, std::vector<UdpIO*> rxSocks, TxSenders txSocks, TableHolder* table,
               const WorkerSettings& s, int stopFd, const std::atomic<bool>* stopping,
               const std::atomic<bool>* mayWaitTun, FatalFn fatal)
    : id_(id),
      tun_(tun),
      rxSocks_(std::move(rxSocks)),
      txSocks_(std::move(txSocks)),
      table_(table),
      settings_(s),
      stopFd_(stopFd),
      stopping_(stopping),
      mayWaitTun_(mayWaitTun),
      fatal_(std::move(fatal)) {
  if (rxSocks_.empty() || rxSocks_.size() > kMaxRxSockets)
    throw std::invalid_argument("a worker has one receive socket per underlay family");
  txSlot_ = table_->RegisterReader();
  rxSlot_ = table_->RegisterReader();
}

void Worker::Start() {
  auto guard = [this](const char* what, void (Worker::*loop)()) {
    try {
      (this->*loop)();
    } catch (const std::exception& e) {
      fatal_(std::string(what) + ": " + e.what());
    } catch (...) {
      fatal_(std::string(what) + ": unknown exception");
    }
  };
  wakeReady_ = WakeSignalReady();
  waitingRecv_ = rxSocks_.size() == 1 && wakeReady_;
  rxEnded_.store(false);
  txEnded_.store(false);
  txThread_ = std::thread([this, guard] {
    guard("worker transmit loop", &Worker::TxLoop);
    txEnded_.store(true);
  });
  rxThread_ = std::thread([this, guard] {
    guard("worker receive loop", &Worker::RxLoop);
    rxEnded_.store(true);
  });
}

void Worker::Join() {
  // A read waiting in readv or recvmmsg does not see the stop eventfd: interrupt it until the loop has ended (a
  // signal that lands just before the loop enters the wait is lost; the next one is not). A loop in poll sees the
  // eventfd; the signal only makes its poll start again.
  for (;;) {
    const bool txLive = txThread_.joinable() && !txEnded_.load();
    const bool rxLive = waitingRecv_ && rxThread_.joinable() && !rxEnded_.load();
    if (!wakeReady_ || (!txLive && !rxLive)) break;
    if (txLive) pthread_kill(txThread_.native_handle(), kWakeSignal);
    if (rxLive) pthread_kill(rxThread_.native_handle(), kWakeSignal);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (txThread_.joinable()) txThread_.join();
  if (rxThread_.joinable()) rxThread_.join();
}

void Worker::WakeTransmit() {
  if (wakeReady_ && txThread_.joinable() && !txEnded_.load()) pthread_kill(txThread_.native_handle(), kWakeSignal);
}

bool Worker::udpGsoActive() const {
  if (!settings_.offloads.udpGso) return false;
  for (const auto* fam : {&txSocks_.v4, &txSocks_.v6})
    for (const UdpSender* s : *fam)
      if (s->gsoBroken()) return false;
  return true;
}

// Waits until fd is readable (true) or the stop eventfd fires or poll fails (false). An interrupted wait
// (WakeTransmit) counts as readable: the loop looks at its mode again, and its read finds what there is.
bool Worker::WaitReadable(int fd) {
  struct pollfd p[2] = {{fd, POLLIN, 0}, {stopFd_, POLLIN, 0}};
  for (;;) {
    const int r = poll(p, 2, -1);
    if (r < 0 && errno == EINTR) return true;
    if (r < 0) return false;
    if (p[1].revents) return false;
    if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return !(p[0].revents & POLLNVAL);
    if (p[0].revents & POLLIN) return true;
  }
}

// Waits until any receive socket is readable (true) or the stop eventfd fires or poll fails (false). An error or
// hang-up on a socket counts as readable: its next receive reports it.
bool Worker::WaitAnyReadable() {
  struct pollfd p[kMaxRxSockets + 1];
  const size_t n = rxSocks_.size();
  for (size_t i = 0; i < n; i++) p[i] = {rxSocks_[i]->PollFd(), POLLIN, 0};
  p[n] = {stopFd_, POLLIN, 0};
  for (;;) {
    const int r = poll(p, static_cast<nfds_t>(n + 1), -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (p[n].revents) return false;
    for (size_t i = 0; i < n; i++) {
      if (p[i].revents & POLLNVAL) return false;
      if (p[i].revents & (POLLIN | POLLERR | POLLHUP)) return true;
    }
  }
}

// Once the queue is this process's alone (mayWaitTun) and can wait, the loop waits in the read itself (waiting
// mode, TunIO::SetWaiting): after a wait that slept, the packet that ended it goes out in a batch of its own and the
// loop waits again (TunIO::ReadBatch; a wait that finds packets there reads a full batch), so neither poll nor a
// read that finds the queue empty is on a lone packet's way (a ping's). A wait that ends with nothing (the stop
// signal, a file someone made non-blocking) falls back to poll once: nothing can spin.
// Otherwise the loop polls; after a poll that slept, the first batch is likewise that one packet, and a poll that
// did not sleep (the queue already held packets) starts a full batch.
void Worker::TxLoop() {
  TxBatch batch(id_, tun_, txSocks_, table_, txSlot_, settings_, &tx);
  while (!Stopping()) {
    if (!tun_->waiting() && wakeReady_ && mayWaitTun_->load(std::memory_order_relaxed)) tun_->SetWaiting(true);
    int r;
    if (tun_->waiting()) {
      r = batch.Run(kBatch, true);
      if (r == 0 && batch.lastRead() == 0 && !Stopping()) {
        if (!WaitReadable(tun_->PollFd())) return;
        r = 1;
      }
    } else {
      const auto waited = std::chrono::steady_clock::now();
      if (!WaitReadable(tun_->PollFd())) return;
      const bool slept = std::chrono::steady_clock::now() - waited > kSlept;
      r = batch.Run(slept ? 1 : kBatch, false);
    }
    while (r > 0 && !Stopping()) r = batch.Run(kBatch, false);
    if (r < 0) {
      fatal_(batch.FatalMessage(r));
      return;
    }
  }
}

// One RxBatch per receive socket, all on this thread (sharing the counters, the reader slot and the capture
// ring): after a wake-up each socket's batches run in turn until every socket is drained.
void Worker::RxLoop() {
  std::vector<std::unique_ptr<RxBatch>> batches;
  for (UdpIO* s : rxSocks_) batches.push_back(std::make_unique<RxBatch>(id_, s, tun_, table_, rxSlot_, settings_, &rx));
  if (waitingRecv_) {
    RecvLoopWaiting(*batches[0]);
    return;
  }
  while (WaitAnyReadable()) {
    bool more = true;
    while (more && !Stopping()) {
      more = false;
      for (auto& b : batches) {
        const int r = b->Run(false);
        if (r < 0) {
          fatal_(b->FatalMessage(r));
          return;
        }
        more = more || r > 0;
      }
    }
  }
}

// One receive socket: the receive itself waits (recvmmsg until the first message) instead of poll and then a
// receive — one system call less per wake-up. A wait that ends with no message (the stop signal, an ICMP error
// report, a socket someone made non-blocking) falls back to poll once, so nothing can spin.
void Worker::RecvLoopWaiting(RxBatch& b) {
  while (!Stopping()) {
    int r = b.Run(true);
    if (r == 0 && b.lastReceived() == 0 && !Stopping() && !WaitAnyReadable()) return;
    while (r > 0 && !Stopping()) r = b.Run(false);
    if (r < 0) {
      fatal_(b.FatalMessage(r));
      return;
    }
  }
}

}  // namespace vxtun
