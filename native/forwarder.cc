#include "forwarder.h"

#include "segment.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace vxtun {

namespace {

inline void Add(std::atomic<uint64_t>& c, uint64_t n) {
  if (n) c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// kBatch buffers of kBufSize bytes, allocated once per loop.
struct BufferSet {
  std::unique_ptr<uint8_t[]> mem{new uint8_t[kBatch * kBufSize]};
  uint8_t* at(int i) { return mem.get() + static_cast<size_t>(i) * kBufSize; }
};

}  // namespace

Worker::Worker(int id, TunIO* tun, UdpIO* udp, TableHolder* table, const WorkerSettings& s, int stopFd,
               FatalFn fatal)
    : id_(id), tun_(tun), udp_(udp), table_(table), settings_(s), stopFd_(stopFd), fatal_(std::move(fatal)) {
  txSlot_ = table_->RegisterReader();
  rxSlot_ = table_->RegisterReader();
}

void Worker::Start() {
  txThread_ = std::thread([this] {
    try {
      TxLoop();
    } catch (const std::exception& e) {
      fatal_(std::string("worker transmit loop: ") + e.what());
    } catch (...) {
      fatal_("worker transmit loop: unknown exception");
    }
  });
  rxThread_ = std::thread([this] {
    try {
      RxLoop();
    } catch (const std::exception& e) {
      fatal_(std::string("worker receive loop: ") + e.what());
    } catch (...) {
      fatal_("worker receive loop: unknown exception");
    }
  });
}

void Worker::Join() {
  if (txThread_.joinable()) txThread_.join();
  if (rxThread_.joinable()) rxThread_.join();
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
  BufferSet bufs;
  uint8_t* readAt[kBatch];
  size_t sizes[kBatch];
  OutMsg out[kBatch];
  for (int i = 0; i < kBatch; i++) readAt[i] = bufs.at(i) + kEncapPrefix;
  const size_t cap = kBufSize - kEncapPrefix;

  while (WaitReadable(tun_->PollFd())) {
    for (;;) {
      const int n = tun_->ReadBatch(readAt, cap, sizes, kBatch);
      if (n < 0) {
        fatal_("worker " + std::to_string(id_) + ": reading the TUN device: " + ErrnoName(-n));
        return;
      }
      if (n == 0) break;
      int m = 0;
      uint64_t bytes = 0;
      uint64_t drops[kVerdictCount] = {};
      const Table* t = table_->Enter(txSlot_);
      for (int i = 0; i < n; i++) {
        TxResult r;
        const Verdict v = ClassifyTx(*t, readAt[i], sizes[i], &r);
        if (v != Verdict::Forward) {
          drops[static_cast<int>(v)]++;
          continue;
        }
        const PeerEntry& peer = t->peer(r.peer);
        WriteEncapPrefix(bufs.at(i), settings_.policy.vni, peer.mac, settings_.policy.mac, r.ethertype);
        OutMsg& o = out[m++];
        o.iov[0] = {bufs.at(i), kEncapPrefix + r.length};
        o.iovcnt = 1;
        o.dstIp = peer.publicIp;
        o.dstPort = settings_.portNet;
        bytes += r.length;
      }
      TableHolder::Exit(txSlot_);
      uint64_t failed = 0;
      if (m > 0) {
        const int s = udp_->SendBatch(out, m, &failed);
        if (s < 0) {
          fatal_("worker " + std::to_string(id_) + ": sending to the underlay: " + ErrnoName(-s));
          return;
        }
      }
      Add(tx.packets, static_cast<uint64_t>(m) - failed);
      Add(tx.bytes, bytes);
      Add(tx.errors, failed);
      for (int k = 1; k < kVerdictCount; k++) Add(tx.drops[k], drops[k]);
      if (n < kBatch) break;
    }
  }
}

void Worker::RxLoop() {
  BufferSet bufs;
  uint8_t* readAt[kBatch];
  size_t sizes[kBatch];
  uint32_t srcs[kBatch];
  struct iovec pkts[kBatch];
  InnerIp inner[kBatch];
  constexpr size_t kScratch = 2 * kBufSize;  // one super-packet's segments, headers repeated
  std::unique_ptr<uint8_t[]> scratch(new uint8_t[kScratch]);
  for (int i = 0; i < kBatch; i++) readAt[i] = bufs.at(i);

  while (WaitReadable(udp_->PollFd())) {
    for (;;) {
      const int n = udp_->RecvBatch(readAt, kBufSize, sizes, srcs, kBatch);
      if (n < 0) {
        fatal_("worker " + std::to_string(id_) + ": receiving from the underlay: " + ErrnoName(-n));
        return;
      }
      if (n == 0) break;
      int m = 0;
      uint64_t bytes = 0;
      uint64_t drops[kVerdictCount] = {};
      const Table* t = table_->Enter(rxSlot_);
      for (int i = 0; i < n; i++) {
        RxResult r;
        const Verdict v = ClassifyRx(*t, settings_.policy, srcs[i], readAt[i], sizes[i], &r);
        if (v != Verdict::Forward) {
          drops[static_cast<int>(v)]++;
          continue;
        }
        inner[m] = r.ip;
        pkts[m++] = {readAt[i] + kEncapPrefix, r.length};
        bytes += r.length;
      }
      TableHolder::Exit(rxSlot_);
      uint64_t failed = 0;
      if (m > 0 && !DeliverToTun(pkts, inner, m, scratch.get(), kScratch, &failed)) {
        fatal_("worker " + std::to_string(id_) + ": writing to the TUN device failed: the device is gone");
        return;
      }
      Add(rx.packets, static_cast<uint64_t>(m) - std::min<uint64_t>(failed, static_cast<uint64_t>(m)));
      Add(rx.errors, failed);
      Add(rx.bytes, bytes);
      for (int k = 1; k < kVerdictCount; k++) Add(rx.drops[k], drops[k]);
      if (n < kBatch) break;
    }
  }
}

bool Worker::DeliverToTun(struct iovec* pkts, InnerIp* inner, int m, uint8_t* scratch, size_t scratchCap,
                          uint64_t* failed) {
  constexpr int kMaxSegs = 128;
  struct iovec segs[kMaxSegs];
  uint64_t completed = 0, split = 0;
  int first = 0;  // pkts[first..j) are not written yet
  auto flush = [&](int upto) {
    if (upto > first && tun_->WriteBatch(pkts + first, upto - first, failed) < 0) return false;
    first = upto;
    return true;
  };
  for (int j = 0; j < m; j++) {
    uint8_t* p = static_cast<uint8_t*>(pkts[j].iov_base);
    if (pkts[j].iov_len > settings_.mtu) {
      const size_t th = TcpHeaderLen(p, inner[j]);
      const size_t hlen = inner[j].headerLen + th;
      if (th != 0 && settings_.mtu > hlen) {
        const int n = SegmentTcp(p, inner[j], settings_.mtu - hlen, scratch, scratchCap, segs, kMaxSegs);
        if (n > 0) {
          if (!flush(j)) return false;
          if (tun_->WriteBatch(segs, n, failed) < 0) return false;
          first = j + 1;
          split++;
          continue;
        }
      }
    }
    if (CompletePartialChecksum(p, inner[j]) == CsumFix::Completed) completed++;
  }
  if (!flush(m)) return false;
  Add(rx.csumCompleted, completed);
  Add(rx.superSplit, split);
  return true;
}

}  // namespace vxtun
