#include "engine/rx_batch.h"

#include <errno.h>

#include <algorithm>
#include <cstring>

#include "core/bounded.h"
#include "core/segment.h"
#include "core/virtio.h"

namespace vxtun {

namespace {
// The inner packets planned and written together. A batch holds up to kBatch messages of up to 65,535 bytes,
// and a message (a UDP GRO train) any number of datagrams (128 on Linux 6.18, more from a hostile or future
// sender): when the arrays are full, the packets so far are planned and written and the batch goes on.
constexpr int kMaxRxPkts = kBatch * 64;
// Userspace segmentation of super-packets when GRO writes are off.
constexpr int kMaxSegs = 128;
}  // namespace

struct RxBatch::Arrays {
  std::unique_ptr<uint8_t[]> mem{new uint8_t[kBatch * kBufSize]};
  uint8_t* readAt[kBatch];
  size_t sizes[kBatch];
  UnderlayAddr srcs[kBatch];
  uint16_t gsos[kBatch];
  Bounded<RxPkt> pkts{kMaxRxPkts};
  Bounded<uint16_t> pktMsg{kMaxRxPkts};  // the message (index into srcs) of each forwarded packet (for capture)
  std::unique_ptr<uint8_t[]> capScratch{new uint8_t[kCapturePrefix + kCaptureMaxSnap]};
  // PlanTunWrites checks its own writes against these capacities (core/gro.h).
  std::vector<uint8_t> vnet = std::vector<uint8_t>(static_cast<size_t>(kMaxRxPkts) * kVnetHdrLen);
  std::vector<struct iovec> iov = std::vector<struct iovec>(2 * static_cast<size_t>(kMaxRxPkts) + 8);
  std::vector<TunWrite> writes = std::vector<TunWrite>(kMaxRxPkts);
  Bounded<int> counts{kMaxRxPkts};
  Bounded<int> weights{kMaxRxPkts};
  Bounded<TunIO*> writeQueue{kMaxRxPkts};
  std::unique_ptr<uint8_t[]> segScratch{new uint8_t[2 * kBufSize]};
  struct iovec segs[kMaxSegs];
  struct iovec segIov[2 * kMaxSegs];
  int segCounts[kMaxSegs];
  uint8_t zeroVnet[kVnetHdrLen] = {};
  Arrays() {
    for (int i = 0; i < kBatch; i++) readAt[i] = mem.get() + static_cast<size_t>(i) * kBufSize;
  }
};

RxBatch::RxBatch(int id, UdpIO* sock, TunIO* tun, TableHolder* table, TableHolder::ReaderSlot* slot,
                 const WorkerSettings& s, Counters* c)
    : id_(id), sock_(sock), tun_(tun), table_(table), slot_(slot), settings_(s), c_(c), want_(kBatch), a_(new Arrays) {}

RxBatch::~RxBatch() = default;

std::string RxBatch::FatalMessage(int rc) const {
  if (tunGone_) return "worker " + std::to_string(id_) + ": writing to the TUN device failed: the device is gone";
  return "worker " + std::to_string(id_) + ": receiving from the underlay: " + ErrnoName(-rc);
}

// Plans the packets collected so far, captures them (still under Enter: t and the capture sessions are only
// valid until Exit), leaves the table, writes them and counts them. False when the device is gone.
bool RxBatch::Flush(const Table* t, CaptureHub* cap) {
  Arrays& A = *a_;
  auto& pkts = A.pkts;
  auto& writes = A.writes;
  auto& iov = A.iov;
  const int m = static_cast<int>(pkts.size());
  const GroScratch scratch{A.vnet.data(), A.iov.data(), static_cast<int>(A.iov.size()), A.writes.data(),
                           static_cast<int>(A.writes.size())};
  GroStats gst;
  const int nw = m == 0 ? 0 : PlanTunWrites(pkts.data(), m, settings_.offloads.gro, settings_.mtu, scratch, &gst);
  // A forwarded packet is captured once per TUN write, as written: a coalesced (GRO) packet whole, like a TSO
  // super-packet on transmit, headed by the first segment's VXLAN + Ethernet prefix.
  if (cap) {
    for (int w = 0; w < nw; w++) {
      const RxPkt& k = pkts[writes[w].pkt];
      const UnderlayAddr& src = A.srcs[A.pktMsg[writes[w].pkt]];
      const int p = t->PeerByIp(src);
      const PeerEntry* peer = p < 0 ? nullptr : &t->peer(p);
      uint8_t* const prefix = k.p - kEncapPrefix;
      if (writes[w].kind == TunWrite::kSplit) {  // split below: captured as received
        cap->Capture(2 * id_ + 1, kCaptureRx, id_, Verdict::Forward, peer, src, true, prefix, kEncapPrefix + k.len);
        continue;
      }
      // Gather the write's iovecs (after its virtio-net header) up to what a capture keeps.
      const size_t room = kCapturePrefix + kCaptureMaxSnap;
      std::memcpy(A.capScratch.get(), prefix, kEncapPrefix);
      size_t have = kEncapPrefix, total = kEncapPrefix;
      for (int j = 1; j < writes[w].iovcnt; j++) {
        const struct iovec& e = iov[static_cast<size_t>(writes[w].firstIov + j)];
        const size_t take = std::min(e.iov_len, room - have);
        if (take) std::memcpy(A.capScratch.get() + have, e.iov_base, take);
        have += take;
        total += e.iov_len;
      }
      cap->Capture(2 * id_ + 1, kCaptureRx, id_, Verdict::Forward, peer, src, true, A.capScratch.get(), have, total);
    }
  }
  TableHolder::Exit(slot_);
  uint64_t failed = 0, split = 0;
  // Cannot happen (the scratch holds a write and two iovecs per packet): count the packets as failed writes.
  if (nw < 0) failed = static_cast<uint64_t>(m);
  bool gone = false;
  const size_t nq = settings_.tunQueues.size();
  A.writeQueue.Clear();
  for (int w = 0; w < nw; w++) {  // each write's queue, once (WorkerSettings::tunQueues)
    const RxPkt& k = pkts[writes[w].pkt];
    A.writeQueue.Append(nq <= 1 ? tun_ : settings_.tunQueues[InnerFlowHash(k.p, k.ip) % nq]);
  }
  for (int w = 0; w < nw && !gone;) {
    TunIO* const q = A.writeQueue[w];
    if (writes[w].kind == TunWrite::kSplit) {
      const RxPkt& k = pkts[writes[w].pkt];
      const size_t th = TcpHeaderLen(k.p, k.ip);
      const int ns = SegmentTcp(k.p, k.ip, settings_.mtu - k.ip.headerLen - th, A.segScratch.get(), 2 * kBufSize,
                                A.segs, kMaxSegs);
      for (int s = 0; s < ns; s++) {
        A.segIov[2 * s] = {A.zeroVnet, kVnetHdrLen};
        A.segIov[2 * s + 1] = A.segs[s];
        A.segCounts[s] = 2;
      }
      // One received datagram: failed once, however many of its segments failed.
      uint64_t segFailed = 0;
      if (ns > 0 && q->WriteBatch(A.segIov, A.segCounts, nullptr, ns, &segFailed) < 0) gone = true;
      if (ns == 0 || segFailed > 0) failed++;
      split++;
      w++;
      continue;
    }
    // A run of writes for the same queue goes out in one batch (writes are in arrival order: a flow keeps it).
    int e = w;
    A.counts.Clear();
    A.weights.Clear();
    while (e < nw && writes[e].kind != TunWrite::kSplit && A.writeQueue[e] == q) {
      A.counts.Append(writes[e].iovcnt);
      A.weights.Append(writes[e].segments);
      e++;
    }
    if (q->WriteBatch(&iov[static_cast<size_t>(writes[w].firstIov)], A.counts.data(), A.weights.data(), e - w,
                      &failed) < 0)
      gone = true;
    w = e;
  }
  if (gone) return false;
  const uint64_t accepted = static_cast<uint64_t>(m);
  AddCounter(c_->packets, accepted - std::min(failed, accepted));
  AddCounter(c_->errors, std::min(failed, accepted));
  AddCounter(c_->coalesced, gst.coalesced);
  AddCounter(c_->csumCompleted, gst.csumCompleted);
  AddCounter(c_->superSplit, split);
  pkts.Clear();
  A.pktMsg.Clear();
  return true;
}

int RxBatch::Run() {
  Arrays& A = *a_;
  tunGone_ = false;
  const int n = sock_->RecvBatch(A.readAt, kBufSize, A.sizes, A.srcs, A.gsos, want_);
  if (n < 0) return n;
  if (n == 0) return 0;
  uint64_t bytes = 0;
  uint64_t drops[kVerdictCount] = {};
  A.pkts.Clear();
  A.pktMsg.Clear();
  const Table* t = table_->Enter(slot_);
  CaptureHub* cap = settings_.capture && settings_.capture->active() ? settings_.capture : nullptr;
  bool gone = false;
  for (int i = 0; i < n && !gone; i++) {
    uint8_t* d = A.readAt[i];
    const size_t size = A.sizes[i];
    size_t step = A.gsos[i] == 0 || A.gsos[i] >= size ? size : A.gsos[i];
    // A kernel GSO_UDP_TUNNEL packet delivered whole (over veth) also carries a UDP_GRO cmsg,
    // but with the inner MSS: it is one datagram whose inner IP length spans all of it.
    if (step < size && size >= kEncapPrefix + kIpv4MinHeader) {
      InnerIp probe;
      if (ParseInnerIp(d + kEncapPrefix, size - kEncapPrefix, &probe) == Verdict::Forward &&
          kEncapPrefix + probe.length == size)
        step = size;
    }
    for (size_t off = 0; off < size || (size == 0 && off == 0); off += step) {
      const size_t len = std::min(step, size - off);
      RxResult r;
      const Verdict v = ClassifyRx(*t, settings_.policy, A.srcs[i], d + off, len, &r);
      if (v != Verdict::Forward) {
        // Drops are captured here, per datagram; forwarded packets as they are written (Flush).
        if (cap) {
          const int p = t->PeerByIp(A.srcs[i]);
          cap->Capture(2 * id_ + 1, kCaptureRx, id_, v, p < 0 ? nullptr : &t->peer(p), A.srcs[i], len >= kEncapPrefix,
                       d + off, len);
        }
        drops[static_cast<int>(v)]++;
      } else {
        if (A.pkts.full()) {  // write what we have, then go on with this datagram
          if (!Flush(t, cap)) {
            gone = true;
            break;
          }
          t = table_->Enter(slot_);
          cap = settings_.capture && settings_.capture->active() ? settings_.capture : nullptr;
        }
        A.pkts.Append(RxPkt{d + off + kEncapPrefix, r.length, r.ip, step < size});
        A.pktMsg.Append(static_cast<uint16_t>(i));
        bytes += r.length;
      }
      if (step == 0) break;
    }
  }
  if (!gone && !Flush(t, cap)) gone = true;
  AddCounter(c_->bytes, bytes);
  for (int k = 1; k < kVerdictCount; k++) AddCounter(c_->drops[k], drops[k]);
  if (gone) {
    tunGone_ = true;
    return -EIO;
  }
  const int asked = want_;
  want_ = NextRecvBatch(*std::max_element(A.sizes, A.sizes + n));
  return n < asked ? 0 : 1;
}

}  // namespace vxtun
