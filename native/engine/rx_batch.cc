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
    : id_(id),
      sock_(sock),
      tun_(tun),
      table_(table),
      slot_(slot),
      settings_(s),
      c_(c),
      tap_(2 * id + 1, kCaptureRx, id),
      want_(kBatch),
      a_(new Arrays) {}

RxBatch::~RxBatch() = default;

std::string RxBatch::FatalMessage(int rc) const {
  if (tunGone_) return "worker " + std::to_string(id_) + ": writing to the TUN device failed: the device is gone";
  return "worker " + std::to_string(id_) + ": receiving from the underlay: " + ErrnoName(-rc);
}

namespace {
// The datagrams' size within a received message: the whole message, or a UDP GRO train's gso size. A kernel
// GSO_UDP_TUNNEL packet delivered whole (over veth) also carries a UDP_GRO cmsg, but with the inner MSS: it is
// one datagram whose inner IP length spans all of it.
size_t DatagramStep(const uint8_t* d, size_t size, uint16_t gso) {
  const size_t step = gso == 0 || gso >= size ? size : gso;
  if (step < size && size >= kEncapPrefix + kIpv4MinHeader) {
    InnerIp probe;
    if (ParseInnerIp(d + kEncapPrefix, size - kEncapPrefix, &probe) == Verdict::Forward &&
        kEncapPrefix + probe.length == size)
      return size;
  }
  return step;
}
}  // namespace

// What one batch adds to the counters outside Flush.
struct RxBatch::Totals {
  uint64_t bytes = 0;
  uint64_t drops[kVerdictCount] = {};
};

int RxBatch::Run(bool wait) {
  Arrays& A = *a_;
  tunGone_ = false;
  const int n = sock_->RecvBatch(A.readAt, kBufSize, A.sizes, A.srcs, A.gsos, want_, wait);  // Receive
  lastReceived_ = n > 0 ? n : 0;
  if (n <= 0) return n;
  Totals b;
  A.pkts.Clear();
  A.pktMsg.Clear();
  const Table* t = table_->Enter(slot_);
  tap_.Refresh(settings_.capture);
  bool gone = false;
  for (int i = 0; i < n && !gone; i++) gone = !Classify(&t, i, &b);
  if (!gone && !Flush(*t)) gone = true;
  AddCounter(c_->bytes, b.bytes);
  for (int k = 1; k < kVerdictCount; k++) AddCounter(c_->drops[k], b.drops[k]);
  if (gone) {
    tunGone_ = true;
    return -EIO;
  }
  const int asked = want_;
  want_ = NextRecvBatch(*std::max_element(A.sizes, A.sizes + n));
  return n < asked ? 0 : 1;
}

// Classify: every datagram of message i against the receive rules (ClassifyRx). A drop is counted and offered
// to the capture tap here, per datagram; a forwarded packet is queued for Flush (captured as it is written),
// which runs early when the queue is full and re-enters the table (*t). False when a Flush found the device gone
// (the table is then left).
bool RxBatch::Classify(const Table** t, int i, Totals* b) {
  Arrays& A = *a_;
  uint8_t* const d = A.readAt[i];
  const size_t size = A.sizes[i];
  const UnderlayAddr& src = A.srcs[i];
  const size_t step = DatagramStep(d, size, A.gsos[i]);
  for (size_t off = 0; off < size || (size == 0 && off == 0); off += step) {
    const size_t len = std::min(step, size - off);
    RxResult r;
    const Verdict v = ClassifyRx(**t, settings_.policy, src, d + off, len, &r);
    if (v != Verdict::Forward) {
      if (tap_.on()) {
        const int p = (*t)->PeerByIp(src);
        tap_.Offer(CapturedPacket{v, p < 0 ? nullptr : &(*t)->peer(p), src, len >= kEncapPrefix, d + off, len, 0});
      }
      b->drops[static_cast<int>(v)]++;
    } else {
      if (A.pkts.full()) {  // write what we have, then go on with this datagram
        if (!Flush(**t)) return false;
        *t = table_->Enter(slot_);
        tap_.Refresh(settings_.capture);
      }
      A.pkts.Append(RxPkt{d + off + kEncapPrefix, r.length, r.ip, step < size, r.rco});
      A.pktMsg.Append(static_cast<uint16_t>(i));
      b->bytes += r.length;
    }
    if (step == 0) break;
  }
  return true;
}

// Flush: coalesce the packets queued so far into TUN writes (core/gro.h), capture them (still under Enter:
// the table and the capture sessions are only valid until Exit), leave the table, write and count them.
// False when the device is gone.
bool RxBatch::Flush(const Table& t) {
  Arrays& A = *a_;
  const int m = static_cast<int>(A.pkts.size());
  const GroScratch scratch{A.vnet.data(), A.iov.data(), static_cast<int>(A.iov.size()), A.writes.data(),
                           static_cast<int>(A.writes.size())};
  GroStats gst;
  const int nw = m == 0 ? 0 : PlanTunWrites(A.pkts.data(), m, settings_.offloads.gro, settings_.mtu, scratch, &gst);
  if (tap_.on()) TapWrites(t, nw);
  TableHolder::Exit(slot_);
  uint64_t failed = 0, split = 0;
  // Cannot happen (the scratch holds a write and two iovecs per packet): count the packets as failed writes.
  if (nw < 0) failed = static_cast<uint64_t>(m);
  if (!Write(nw, &failed, &split)) return false;
  const uint64_t accepted = static_cast<uint64_t>(m);
  AddCounter(c_->packets, accepted - std::min(failed, accepted));
  AddCounter(c_->errors, std::min(failed, accepted));
  AddCounter(c_->coalesced, gst.coalesced);
  AddCounter(c_->csumCompleted, gst.csumCompleted);
  AddCounter(c_->rco, gst.rco);
  AddCounter(c_->superSplit, split);
  A.pkts.Clear();
  A.pktMsg.Clear();
  return true;
}

// A forwarded packet is captured once per TUN write, as written: a coalesced (GRO) packet whole, like a TSO
// super-packet on transmit, headed by the first segment's VXLAN + Ethernet prefix.
void RxBatch::TapWrites(const Table& t, int nw) {
  Arrays& A = *a_;
  for (int w = 0; w < nw; w++) {
    const TunWrite& tw = A.writes[static_cast<size_t>(w)];
    const RxPkt& k = A.pkts[tw.pkt];
    const UnderlayAddr& src = A.srcs[A.pktMsg[tw.pkt]];
    const int p = t.PeerByIp(src);
    CapturedPacket c{Verdict::Forward,   p < 0 ? nullptr : &t.peer(p), src, true,
                     k.p - kEncapPrefix, kEncapPrefix + k.len,         0};
    if (tw.kind != TunWrite::kSplit) {  // (a split write is captured as received)
      // Gather the write's iovecs (after its virtio-net header) up to what a capture keeps.
      const size_t room = kCapturePrefix + kCaptureMaxSnap;
      std::memcpy(A.capScratch.get(), c.data, kEncapPrefix);
      size_t have = kEncapPrefix, total = kEncapPrefix;
      for (int j = 1; j < tw.iovcnt; j++) {
        const struct iovec& e = A.iov[static_cast<size_t>(tw.firstIov + j)];
        const size_t take = std::min(e.iov_len, room - have);
        if (take) std::memcpy(A.capScratch.get() + have, e.iov_base, take);
        have += take;
        total += e.iov_len;
      }
      c.data = A.capScratch.get();
      c.len = have;
      c.origLen = total;
    }
    tap_.Offer(c);
  }
}

// Write: each write through its flow's queue (WorkerSettings::tunQueues); a run of writes for the same queue in
// one batch (writes are in arrival order: a flow keeps it), a super-packet to split on its own. False when the
// device is gone.
bool RxBatch::Write(int nw, uint64_t* failed, uint64_t* split) {
  Arrays& A = *a_;
  const size_t nq = settings_.tunQueues.size();
  A.writeQueue.Clear();
  for (int w = 0; w < nw; w++) {
    const RxPkt& k = A.pkts[A.writes[static_cast<size_t>(w)].pkt];
    A.writeQueue.Append(nq <= 1 ? tun_ : settings_.tunQueues[InnerFlowHash(k.p, k.ip) % nq]);
  }
  for (int w = 0; w < nw;) {
    TunIO* const q = A.writeQueue[w];
    if (A.writes[static_cast<size_t>(w)].kind == TunWrite::kSplit) {
      if (!WriteSplit(q, A.pkts[A.writes[static_cast<size_t>(w)].pkt], failed)) return false;
      (*split)++;
      w++;
      continue;
    }
    int e = w;
    A.counts.Clear();
    A.weights.Clear();
    while (e < nw && A.writes[static_cast<size_t>(e)].kind != TunWrite::kSplit && A.writeQueue[e] == q) {
      A.counts.Append(A.writes[static_cast<size_t>(e)].iovcnt);
      A.weights.Append(A.writes[static_cast<size_t>(e)].segments);
      e++;
    }
    if (q->WriteBatch(&A.iov[static_cast<size_t>(A.writes[static_cast<size_t>(w)].firstIov)], A.counts.data(),
                      A.weights.data(), e - w, failed) < 0)
      return false;
    w = e;
  }
  return true;
}

// A TCP super-packet larger than the MTU, written as MTU-sized segments (GRO writes off). One received
// datagram: failed once, however many of its segments failed. False when the device is gone.
bool RxBatch::WriteSplit(TunIO* q, const RxPkt& k, uint64_t* failed) {
  Arrays& A = *a_;
  const size_t th = TcpHeaderLen(k.p, k.ip);
  const int ns =
      SegmentTcp(k.p, k.ip, settings_.mtu - k.ip.headerLen - th, A.segScratch.get(), 2 * kBufSize, A.segs, kMaxSegs);
  for (int s = 0; s < ns; s++) {
    A.segIov[2 * s] = {A.zeroVnet, kVnetHdrLen};
    A.segIov[2 * s + 1] = A.segs[s];
    A.segCounts[s] = 2;
  }
  uint64_t segFailed = 0;
  const bool gone = ns > 0 && q->WriteBatch(A.segIov, A.segCounts, nullptr, ns, &segFailed) < 0;
  if (ns == 0 || segFailed > 0) (*failed)++;
  return !gone;
}

}  // namespace vxtun
