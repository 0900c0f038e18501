#include "engine/worker.h"

#include <errno.h>
#include <poll.h>

#include <memory>
#include <stdexcept>

#include "engine/rx_batch.h"
#include "engine/tx_batch.h"

namespace vxtun {

Worker::Worker(int id, TunIO* tun, std::vector<UdpIO*> rxSocks, TxSenders txSocks, TableHolder* table,
               const WorkerSettings& s, int stopFd, const std::atomic<bool>* stopping, FatalFn fatal)
    : id_(id),
      tun_(tun),
      rxSocks_(std::move(rxSocks)),
      txSocks_(std::move(txSocks)),
      table_(table),
      settings_(s),
      stopFd_(stopFd),
      stopping_(stopping),
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
  txThread_ = std::thread(guard, "worker transmit loop", &Worker::TxLoop);
  rxThread_ = std::thread(guard, "worker receive loop", &Worker::RxLoop);
}

void Worker::Join() {
  if (txThread_.joinable()) txThread_.join();
  if (rxThread_.joinable()) rxThread_.join();
}

bool Worker::udpGsoActive() const {
  if (!settings_.offloads.udpGso) return false;
  for (const auto* fam : {&txSocks_.v4, &txSocks_.v6})
    for (const UdpSender* s : *fam)
      if (s->gsoBroken()) return false;
  return true;
}

bool Worker::WaitReadable(int fd) {
  struct pollfd p[2] = {{fd, POLLIN, 0}, {stopFd_, POLLIN, 0}};
  for (;;) {
    const int r = poll(p, 2, -1);
    if (r < 0 && errno == EINTR) continue;
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

void Worker::TxLoop() {
  TxBatch batch(id_, tun_, txSocks_, table_, txSlot_, settings_, &tx);
  while (WaitReadable(tun_->PollFd())) {
    int r;
    while ((r = batch.Run()) > 0 && !Stopping()) {
    }
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
  while (WaitAnyReadable()) {
    bool more = true;
    while (more && !Stopping()) {
      more = false;
      for (auto& b : batches) {
        const int r = b->Run();
        if (r < 0) {
          fatal_(b->FatalMessage(r));
          return;
        }
        more = more || r > 0;
      }
    }
  }
}

}  // namespace vxtun
