#include "dataplane.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace vxtun {

Dataplane::Dataplane(const DataplaneOptions& o) : opts_(o) {
  if (o.workers < 1) throw SysError("workers must be at least 1", "open", EINVAL);
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stopFd_ < 0) throw SysError("creating eventfd", "eventfd", errno);
  try {
    // Sockets first: a port clash then fails before a device is created.
    udp_ = OpenUdpSockets(o.bindIp, htons(o.port), o.workers);
    tun_ = OpenTunQueues(o.device, o.workers);
  } catch (...) {
    tun_.clear();
    udp_.clear();
    close(stopFd_);
    stopFd_ = -1;
    throw;
  }
}

Dataplane::~Dataplane() { Close(); }

void Dataplane::Start(FatalFn fatal) {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || closed_) return;
  WorkerSettings s;
  s.policy = opts_.policy;
  s.portNet = htons(opts_.port);
  s.mtu = opts_.mtu;
  for (size_t i = 0; i < tun_.size(); i++) {
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), tun_[i].get(), udp_[i].get(), &table_, s,
                                                stopFd_, fatal));
  }
  for (auto& w : workers_) w->Start();
  started_ = true;
}

DataplaneStats Dataplane::Stats() const {
  DataplaneStats st;
  for (const auto& w : workers_) {
    st.txPackets += w->tx.packets.load(std::memory_order_relaxed);
    st.txBytes += w->tx.bytes.load(std::memory_order_relaxed);
    st.txErrors += w->tx.errors.load(std::memory_order_relaxed);
    st.rxPackets += w->rx.packets.load(std::memory_order_relaxed);
    st.rxBytes += w->rx.bytes.load(std::memory_order_relaxed);
    st.rxErrors += w->rx.errors.load(std::memory_order_relaxed);
    st.rxCsumCompleted += w->rx.csumCompleted.load(std::memory_order_relaxed);
    st.rxSuperSplit += w->rx.superSplit.load(std::memory_order_relaxed);
    for (int k = 0; k < kVerdictCount; k++) {
      st.txDrops[k] += w->tx.drops[k].load(std::memory_order_relaxed);
      st.rxDrops[k] += w->rx.drops[k].load(std::memory_order_relaxed);
    }
  }
  return st;
}

void Dataplane::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  closed_ = true;
  if (stopFd_ >= 0) {
    const uint64_t one = 1;
    ssize_t r = write(stopFd_, &one, sizeof(one));
    (void)r;
  }
  for (auto& w : workers_) w->Join();
  workers_.clear();
  tun_.clear();  // closing the last queue removes the device with its addresses and routes
  udp_.clear();
  if (stopFd_ >= 0) close(stopFd_);
  stopFd_ = -1;
}

}  // namespace vxtun
