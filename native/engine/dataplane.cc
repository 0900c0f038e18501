#include "engine/dataplane.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace vxtun {

Dataplane::Dataplane(const DataplaneOptions& o) : opts_(o), queuesOwned_(!o.adopt) {
  opts_.adoptFds.clear();
  bool taken = false;  // an adopted fd is closed by Adopt itself or by its owner (tun_, fams_) from then on
  try {
    if (o.workers < 1 || o.txSocketsPerWorker < 1) throw SysError("workers must be at least 1", "open", EINVAL);
    stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stopFd_ < 0) throw SysError("creating eventfd", "eventfd", errno);
    if (o.adopt) {
      taken = true;
      Adopt(o);
    } else {
      Open(o);
    }
    capture_ = std::make_unique<CaptureHub>(2 * o.workers, &table_);
  } catch (...) {
    tun_.clear();
    fams_.clear();
    if (o.adopt && !taken) CloseAdoptFds(o.adoptFds);
    if (stopFd_ >= 0) close(stopFd_);
    stopFd_ = -1;
    throw;
  }
}

void Dataplane::Open(const DataplaneOptions& o) {
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
}

size_t AdoptFdCount(const DataplaneOptions& o) {
  const size_t w = o.workers > 0 ? static_cast<size_t>(o.workers) : 0;
  const size_t tx = o.txSocketsPerWorker > 0 ? static_cast<size_t>(o.txSocketsPerWorker) : 0;
  const size_t families = o.bindIp6.empty() ? 1 : 2;
  return w + families * (w + w * tx);
}

std::vector<int> Dataplane::ExportFds() const {
  std::vector<int> out;
  for (const auto& q : tun_) out.push_back(q->fd());
  for (const auto& f : fams_) {
    for (const auto& s : f.rx) out.push_back(s->PollFd());
    for (const auto& s : f.tx) out.push_back(s->PollFd());
  }
  return out;
}

Dataplane::~Dataplane() { Close(); }

OffloadSet Dataplane::Start(const OffloadSet& want, FatalFn fatal) {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || closed_) return offloads_;
  OffloadSet got;
  if (opts_.adopt) {
    // The device and sockets already have these (the process they came from set them up): touch nothing.
    got = opts_.adoptOffloads;
  } else {
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
                                                &table_, s, stopFd_, &stopping_, &queuesOwned_, fatal));
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
    st.txRco += w->tx.rco.load(std::memory_order_relaxed);
    st.rxRco += w->rx.rco.load(std::memory_order_relaxed);
    for (int k = 0; k < kVerdictCount; k++) {
      st.txDrops[k] += w->tx.drops[k].load(std::memory_order_relaxed);
      st.rxDrops[k] += w->rx.drops[k].load(std::memory_order_relaxed);
    }
    if (!w->udpGsoActive()) st.offloads.udpGso = false;
  }
  return st;
}

void Dataplane::SignalStop() {
  stopping_.store(true, std::memory_order_relaxed);
  if (stopFd_ >= 0) {
    const uint64_t one = 1;
    ssize_t r = write(stopFd_, &one, sizeof(one));
    (void)r;
  }
}

void Dataplane::Pause() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_ || paused_ || closed_) return;
  SignalStop();
  for (auto& w : workers_) w->Join();
  // Poll mode for whoever runs on the queues next (a vxtun of any version expects it); Resume's loops wait again.
  for (auto& q : tun_) q->SetWaiting(false);
  paused_ = true;
}

void Dataplane::Resume() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!paused_ || closed_) return;
  uint64_t v;
  while (read(stopFd_, &v, sizeof(v)) < 0 && errno == EINTR) {
  }  // the counter is now 0 (EAGAIN: it was)
  stopping_.store(false, std::memory_order_relaxed);
  for (auto& w : workers_) w->Start();
  paused_ = false;
}

void Dataplane::QueuesOwned() {
  std::lock_guard<std::mutex> lock(mu_);
  queuesOwned_.store(true, std::memory_order_relaxed);
  if (!started_ || paused_ || closed_) return;
  for (auto& w : workers_) w->WakeTransmit();
}

void Dataplane::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  closed_ = true;
  SignalStop();
  for (auto& w : workers_) w->Join();
  workers_.clear();
  tun_.clear();  // closing the last queue removes the device with its addresses and routes
  fams_.clear();
  if (stopFd_ >= 0) close(stopFd_);
  stopFd_ = -1;
}

}  // namespace vxtun
