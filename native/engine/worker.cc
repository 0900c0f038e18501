#include "engine/worker.h"

#include <errno.h>
#include <poll.h>

#include "engine/rx_batch.h"
#include "engine/tx_batch.h"

namespace vxtun {

Worker::Worker(int id, TunIO* tun, UdpIO* rxSock, std::vector<UdpSender*> txSocks, TableHolder* table,
               const WorkerSettings& s, int stopFd, FatalFn fatal)
    : id_(id),
      tun_(tun),
      rxSock_(rxSock),
      txSocks_(std::move(txSocks)),
      table_(table),
      settings_(s),
      stopFd_(stopFd),
      fatal_(std::move(fatal)) {
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
  for (const UdpSender* s : txSocks_)
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

void Worker::TxLoop() {
  TxBatch batch(id_, tun_, txSocks_, table_, txSlot_, settings_, &tx);
  while (WaitReadable(tun_->PollFd())) {
    int r;
    while ((r = batch.Run()) > 0) {
    }
    if (r < 0) {
      fatal_(batch.FatalMessage(r));
      return;
    }
  }
}

void Worker::RxLoop() {
  RxBatch batch(id_, rxSock_, tun_, table_, rxSlot_, settings_, &rx);
  while (WaitReadable(rxSock_->PollFd())) {
    int r;
    while ((r = batch.Run()) > 0) {
    }
    if (r < 0) {
      fatal_(batch.FatalMessage(r));
      return;
    }
  }
}

}  // namespace vxtun
