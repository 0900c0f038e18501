#include "engine/dataplane.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace vxtun {

Dataplane::Dataplane(const DataplaneOptions& o) : opts_(o) {
  if (o.workers < 1 || o.txSocketsPerWorker < 1) throw SysError("workers must be at least 1", "open", EINVAL);
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stopFd_ < 0) throw SysError("creating eventfd", "eventfd", errno);
  try {
    // Sockets first: a port clash then fails before a device is created.
    for (const UnderlayAddr* a : {&o.bindIp, &o.bindIp6}) {
      if (a == &o.bindIp6 && a->empty()) continue;
      FamilySockets f;
      f.family = a->family;
      f.rx = OpenUdpSockets(*a, htons(o.port), o.workers);
      f.tx = OpenTxSockets(*a, o.workers * o.txSocketsPerWorker);
      fams_.push_back(std::move(f));
    }
    tun_ = OpenTunQueues(o.device, o.workers);
    capture_ = std::make_unique<CaptureHub>(2 * o.workers, &table_);
  } catch (...) {
    tun_.clear();
    fams_.clear();
    close(stopFd_);
    stopFd_ = -1;
    throw;
  }
}

Dataplane::~Dataplane() { Close(); }

OffloadSet Dataplane::Start(const OffloadSet& want, FatalFn fatal) {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || closed_) return offloads_;
  OffloadSet got;
  got.tso = want.tso && EnableTunTso(tun_);
  got.gro = want.gro && ProbeTunGsoWrite(*tun_[0]);
  if (want.udpGso) {
    got.udpGso = true;
    for (auto& f : fams_) got.udpGso = ProbeUdpGso(*f.tx[0]) && got.udpGso;
  }
  if (want.udpGro) {
    got.udpGro = true;
    for (auto& f : fams_)
      for (auto& s : f.rx) got.udpGro = EnableUdpGro(*s) && got.udpGro;
  }
  offloads_ = got;
  WorkerSettings s;
  s.policy = opts_.policy;
  s.portNet = htons(opts_.port);
  s.mtu = opts_.mtu;
  s.offloads = got;
  s.capture = capture_.get();
  for (auto& q : tun_) s.tunQueues.push_back(q.get());
  const size_t per = static_cast<size_t>(opts_.txSocketsPerWorker);
  for (size_t i = 0; i < tun_.size(); i++) {
    std::vector<UdpIO*> rx;
    TxSenders tx;
    for (auto& f : fams_) {
      rx.push_back(f.rx[i].get());
      auto& same = f.family == 6 ? tx.v6 : tx.v4;
      for (size_t k = 0; k < per; k++) same.push_back(f.tx[i * per + k].get());
    }
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), tun_[i].get(), std::move(rx), std::move(tx),
                                                &table_, s, stopFd_, fatal));
  }
  for (auto& w : workers_) w->Start();
  started_ = true;
  return got;
}

DataplaneStats Dataplane::Stats() const {
  DataplaneStats st;
  st.offloads = offloads_;
  if (capture_) {
    st.captureDropped = capture_->dropped();
    st.captureMatched = capture_->matched();
    st.captureSessions = capture_->sessions();
  }
  for (const auto& f : fams_)
    for (const auto& s : f.rx) st.rxSocketDrops += SocketDrops(*s);
  for (const auto& w : workers_) {
    st.txPackets += w->tx.packets.load(std::memory_order_relaxed);
    st.txBytes += w->tx.bytes.load(std::memory_order_relaxed);
    st.txErrors += w->tx.errors.load(std::memory_order_relaxed);
    st.txTsoSplit += w->tx.tsoSplit.load(std::memory_order_relaxed);
    st.rxPackets += w->rx.packets.load(std::memory_order_relaxed);
    st.rxBytes += w->rx.bytes.load(std::memory_order_relaxed);
    st.rxErrors += w->rx.errors.load(std::memory_order_relaxed);
    st.rxCoalesced += w->rx.coalesced.load(std::memory_order_relaxed);
    st.rxCsumCompleted += w->rx.csumCompleted.load(std::memory_order_relaxed);
    st.rxSuperSplit += w->rx.superSplit.load(std::memory_order_relaxed);
    for (int k = 0; k < kVerdictCount; k++) {
      st.txDrops[k] += w->tx.drops[k].load(std::memory_order_relaxed);
      st.rxDrops[k] += w->rx.drops[k].load(std::memory_order_relaxed);
    }
    if (!w->udpGsoActive()) st.offloads.udpGso = false;
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
  fams_.clear();
  if (stopFd_ >= 0) close(stopFd_);
  stopFd_ = -1;
}

}  // namespace vxtun
