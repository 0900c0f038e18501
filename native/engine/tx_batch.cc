#include "engine/tx_batch.h"

#include <errno.h>

#include <algorithm>
#include <cstring>

#include "core/bounded.h"
#include "core/tso.h"
#include "core/virtio.h"

namespace vxtun {

namespace {
// The virtio-net header is read at +12 so the packet starts at +22, leaving exactly the room for the
// VXLAN+Ethernet prefix in front of it.
constexpr size_t kTxHeadroom = kEncapPrefix - kVnetHdrLen;
constexpr int kMaxTsoSegs = 128;  // a 64 KiB super-packet at MSS ≥ 512
// A transmit slot holds a super-packet in the scattered layout (core/tso.h).
constexpr size_t kTxSlot = kTsoSlotBytes;
constexpr size_t kMinLayoutMss = kTsoMinLayoutMss, kMaxLayoutH = kTsoMaxLayoutH;
constexpr int kMaxReadIov = kMaxTsoSegs + 2;
constexpr size_t kMaxHdrBlock = kEncapPrefix + 60 + 60;  // prefix + IPv4/IPv6 + TCP, at most
constexpr size_t kHdrScratchPerPkt = kMaxTsoSegs * kMaxHdrBlock;
constexpr int kUdpMaxSegs = 64;  // UDP_MAX_SEGMENTS on older kernels
constexpr size_t kMaxUdpPayload = 65507;
}  // namespace

struct TxBatch::Arrays {
  std::unique_ptr<uint8_t[]> mem{new uint8_t[kBatch * kTxSlot]};
  uint8_t* at(int i) { return mem.get() + static_cast<size_t>(i) * kTxSlot; }
  std::unique_ptr<uint8_t[]> hdrs{new uint8_t[kBatch * kHdrScratchPerPkt]};
  std::unique_ptr<uint8_t[]> capScratch{new uint8_t[kCapturePrefix + kCaptureMaxSnap]};
  // A packet adds at most kMaxTsoSegs messages and 2·kMaxTsoSegs iovecs; when fewer are left, the messages so
  // far are sent first (SendPending).
  Bounded<struct iovec> iov{static_cast<size_t>(kBatch) * 2 * kMaxTsoSegs};
  Bounded<OutMsg> msgs{static_cast<size_t>(kBatch) * kMaxTsoSegs};
  Bounded<OutMsg> bySocket{static_cast<size_t>(kBatch) * kMaxTsoSegs};
  // The read iovecs of every slot for the current layout (one contiguous iovec when there is none).
  std::vector<struct iovec> readIov = std::vector<struct iovec>(static_cast<size_t>(kBatch) * kMaxReadIov);
  const struct iovec* readAt[kBatch];
  int readCounts[kBatch];
  size_t sizes[kBatch];
  TsoLayout layout;  // predicted from the last super-packet (core/tso.h); mss 0: none yet
  uint8_t tmpl[kMaxLayoutH + 64];
};

TxBatch::TxBatch(int id, TunIO* tun, const TxSenders& senders, TableHolder* table, TableHolder::ReaderSlot* slot,
                 const WorkerSettings& s, Counters* c)
    : id_(id),
      tun_(tun),
      n4_(senders.v4.size()),
      n6_(senders.v6.size()),
      table_(table),
      slot_(slot),
      settings_(s),
      c_(c),
      tap_(2 * id, kCaptureTx, id),
      a_(new Arrays) {
  senders_ = senders.v4;
  senders_.insert(senders_.end(), senders.v6.begin(), senders.v6.end());
  SetLayout(TsoLayout{});
}

TxBatch::~TxBatch() = default;

void TxBatch::Reset() {
  SetLayout(TsoLayout{});
  sendFailed_ = false;
  lastRead_ = 0;
  tally_ = Tally{};
}

std::string TxBatch::FatalMessage(int rc) const {
  return "worker " + std::to_string(id_) +
         (sendFailed_ ? ": sending to the underlay: " : ": reading the TUN device: ") + ErrnoName(-rc);
}

// Every slot gets the same layout, or (when it does not fit a slot) every slot reads contiguously: Run
// interprets all reads of a batch with the one layout.
void TxBatch::SetLayout(const TsoLayout& l) {
  Arrays& A = *a_;
  A.layout = l;
  for (;;) {
    bool fits = true;
    for (int i = 0; i < kBatch && fits; i++) {
      struct iovec* v = &A.readIov[static_cast<size_t>(i) * kMaxReadIov];
      int k = A.layout.mss == 0 ? 0 : TsoScatterIovecs(A.at(i), kTxSlot, A.layout, v, kMaxReadIov);
      if (k == 0 && A.layout.mss != 0) fits = false;
      if (k == 0) {
        v[0] = {A.at(i) + kTxHeadroom, kTxSlot - kTxHeadroom};
        k = 1;
      }
      A.readAt[i] = v;
      A.readCounts[i] = k;
    }
    if (fits) return;
    A.layout = TsoLayout{};
  }
}

// One packet of the batch as Classify leaves it.
struct TxBatch::Packet {
  uint8_t* slot = nullptr;  // the read buffer: the prefix goes at slot, the packet lies at slot + kEncapPrefix
  uint8_t* pkt = nullptr;
  size_t plen = 0;  // bytes read after the virtio-net header
  VnetHdr vnet;
  TxResult r;
  Verdict verdict = Verdict::Short;
  size_t th = 0;         // a TSO packet's TCP header length (0 otherwise)
  bool inPlace = false;  // a TSO packet of the predicted layout, split where the scattered read left it
  bool rco = false;      // its inner checksum is left partial for the peer (remote checksum offload, core/vxlan.h)
};

// What one batch adds to the counters and the tally (Count).
struct TxBatch::Totals {
  uint64_t datagrams = 0, bytes = 0, tsoSplit = 0, failed = 0, tooBig = 0, tooBigPkts = 0, forwarded = 0;
  uint64_t noEndpoint = 0, rco = 0;
  uint64_t drops[kVerdictCount] = {};
};

int TxBatch::Run(int maxPackets, bool wait) {
  Arrays& A = *a_;
  const TsoLayout layout = A.layout;
  maxPackets = std::clamp(maxPackets, 1, kBatch);
  const int n = tun_->ReadBatch(A.readAt, A.readCounts, A.sizes, maxPackets, kBatchBytes, wait);  // Read
  lastRead_ = n > 0 ? n : 0;
  if (n <= 0) return n;
  A.msgs.Clear();
  A.iov.Clear();
  Totals b;
  TsoLayout next = layout;
  const Table* t = table_->Enter(slot_);
  tap_.Refresh(settings_.capture);
  int sendErr = 0;
  for (int i = 0; i < n; i++) {
    if (A.msgs.room() < static_cast<size_t>(kMaxTsoSegs) || A.iov.room() < 2 * static_cast<size_t>(kMaxTsoSegs)) {
      // Cannot happen with the arrays sized for kBatch packets; checked all the same. Offline while sending.
      TableHolder::Exit(slot_);
      sendErr = Send(&b.failed);
      if (sendErr < 0) break;
      t = table_->Enter(slot_);
      tap_.Refresh(settings_.capture);
    }
    Packet p;
    Classify(*t, i, layout, &p);
    if (p.th != 0 && p.vnet.gsoSize >= kMinLayoutMss && p.r.ip.headerLen + p.th <= kMaxLayoutH)
      next = TsoLayout{p.r.ip.headerLen + p.th, p.vnet.gsoSize};
    if (p.verdict != Verdict::Forward) {
      b.drops[static_cast<int>(p.verdict)]++;
      if (p.pkt) tap_.Offer(CapturedPacket{p.verdict, nullptr, UnderlayAddr{}, false, p.pkt, p.plen, 0});
      continue;
    }
    Build(p, t->peer(p.r.peer), i, layout, &b);
  }
  if (sendErr == 0) {
    TableHolder::Exit(slot_);
    sendErr = Send(&b.failed);
  }
  if (sendErr < 0) {
    sendFailed_ = true;
    return sendErr;
  }
  Count(b, n);
  // The next reads use the layout of the last super-packet seen (after the sends: the slots are free).
  if (next.h != layout.h || next.mss != layout.mss) SetLayout(next);
  size_t got = 0;
  for (int i = 0; i < n; i++) got += A.sizes[i];
  return n < maxPackets && got < kBatchBytes ? 0 : 1;
}

// Classify: the packet's verdict, its peer and (for a TSO packet) its TCP header. A scattered read (core/tso.h)
// is split where it lies only when it is a TSO packet of the predicted shape; anything else is moved back
// first, so it is classified as it was read. A checksum to complete lies in the transport header: never in the
// IP header the classification read.
void TxBatch::Classify(const Table& t, int i, const TsoLayout& layout, Packet* p) {
  Arrays& A = *a_;
  if (A.sizes[i] < kVnetHdrLen) return;  // Verdict::Short, no packet to capture
  p->slot = A.at(i);
  p->vnet = ReadVnetHdr(p->slot + kTxHeadroom);
  p->pkt = p->slot + kEncapPrefix;
  p->plen = A.sizes[i] - kVnetHdrLen;
  const VnetHdr& v = p->vnet;
  const bool scattered = layout.mss != 0 && p->plen > layout.h + layout.mss;
  const bool candidate = scattered && v.gsoType != kVnetGsoNone && v.gsoSize == layout.mss;
  if (scattered && !candidate) TsoUnscatter(p->slot, A.sizes[i], layout);
  auto classify = [&]() {
    p->th = 0;
    p->verdict = ClassifyTx(t, p->pkt, p->plen, &p->r);
    if (p->verdict == Verdict::Forward && v.gsoType != kVnetGsoNone &&
        (p->th = CheckTsoPacket(p->pkt, p->r.ip, v)) == 0)
      p->verdict = Verdict::BadIp;
  };
  classify();  // a candidate's headers lie in its first iovec: only they are read
  p->inPlace = candidate && p->verdict == Verdict::Forward && p->r.ip.headerLen + p->th == layout.h;
  if (candidate && !p->inPlace) {
    TsoUnscatter(p->slot, A.sizes[i], layout);
    classify();
  }
  if (p->verdict != Verdict::Forward) return;
  // A peer that accepts remote checksum offload gets a partial checksum as it is (the kernel's seed), when it lies
  // where RCO can say: every TSO packet's does (TCP right after the IP header).
  const bool rcoPeer = settings_.policy.remoteChecksum && t.peer(p->r.peer).remoteChecksum;
  if (v.gsoType != kVnetGsoNone) {
    p->rco = rcoPeer && RcoEligible(p->pkt, p->r.ip, p->r.ip.headerLen, 16);
  } else if (v.flags & kVnetFlagNeedsCsum) {
    if (v.csumStart < p->r.ip.headerLen)
      p->verdict = Verdict::BadIp;
    else if (rcoPeer && RcoEligible(p->pkt, p->r.ip, v.csumStart, v.csumOffset))
      p->rco = true;
    else if (!CompleteNeedsCsum(p->pkt, p->r.length, v.csumStart, v.csumOffset))
      p->verdict = Verdict::BadIp;
  }
}

// Build: the endpoint, the prefix in front of the packet, the capture, and the packet's messages (the flow hash
// picks the socket among those of the endpoint's family).
void TxBatch::Build(const Packet& p, const PeerEntry& peer, int i, const TsoLayout& layout, Totals* b) {
  const Endpoint e = ChooseEndpoint(peer, p.r.ip.family, n4_ > 0, n6_ > 0);
  if (e == Endpoint::None) {
    b->noEndpoint++;
    return;
  }
  const UnderlayAddr& dst = EndpointIp(peer, e);
  WriteEncapPrefix(p.slot, settings_.policy.vni, EndpointMac(peer, e), settings_.policy.mac, p.r.ethertype);
  if (p.rco) WriteRco(p.slot, p.r.ip);
  if (tap_.on()) Tap(p, peer, dst, layout);
  OutMsg base;
  base.dst = dst;
  base.dstPort = settings_.portNet;
  base.socket = static_cast<uint16_t>(dst.IsV6() ? n4_ + p.r.flowHash % n6_ : p.r.flowHash % n4_);
  if (p.vnet.gsoType == kVnetGsoNone) return BuildDatagram(p, base, b);
  const bool gso = settings_.offloads.udpGso && !senders_[base.socket]->gsoBroken();
  if (p.inPlace) return BuildInPlace(p, base, gso, layout, b);
  BuildSegments(p, base, gso, i, b);
}

// A forwarded packet is captured once, as sent: a TSO super-packet whole (up to the snap length), gathered
// from its scattered layout when it was split in place.
void TxBatch::Tap(const Packet& p, const PeerEntry& peer, const UnderlayAddr& vtep, const TsoLayout& layout) {
  Arrays& A = *a_;
  CapturedPacket c{Verdict::Forward, &peer, vtep, true, p.slot, kEncapPrefix + p.r.length, 0};
  if (p.inPlace) {
    c.data = A.capScratch.get();
    c.len = TsoScatterCopy(p.slot, p.r.length, layout, A.capScratch.get(), kCapturePrefix + kCaptureMaxSnap);
    c.origLen = kEncapPrefix + p.r.length;
  }
  tap_.Offer(c);
}

void TxBatch::BuildDatagram(const Packet& p, const OutMsg& base, Totals* b) {
  if (kEncapPrefix + p.r.length > kMaxUdpPayload) {  // an MTU above the cap (config.ts): cannot be sent
    b->tooBig++;
    b->tooBigPkts++;
    return;
  }
  OutMsg m = base;
  m.iov = a_->iov.Take(1);
  *m.iov = {p.slot, kEncapPrefix + p.r.length};
  m.iovcnt = 1;
  a_->msgs.Append(m);
  b->datagrams++;
  b->forwarded++;
  b->bytes += p.r.length;
  b->rco += p.rco;
}

// A TSO packet split where it lies: every datagram is already contiguous at slot + s·D, one iovec per message.
void TxBatch::BuildInPlace(const Packet& p, const OutMsg& base, bool gso, const TsoLayout& layout, Totals* b) {
  Arrays& A = *a_;
  const TsoPlan plan = PlanTsoInPlace(p.slot, p.r.ip, p.th, layout, p.slot, A.tmpl, kMaxTsoSegs, p.rco);
  if (plan.segments == 0) {
    b->drops[static_cast<int>(Verdict::BadIp)]++;
    return;
  }
  if (plan.segBytes > kMaxUdpPayload) {  // a segment larger than a UDP datagram: cannot be sent
    b->tooBig += static_cast<uint64_t>(plan.segments);
    b->tooBigPkts++;
    return;
  }
  const size_t h = layout.h;
  const size_t last = p.r.length - h - static_cast<size_t>(plan.segments - 1) * layout.mss;
  // ≥ 1: segBytes ≤ 65,507 was checked above.
  const int per = gso ? static_cast<int>(std::min<size_t>(kUdpMaxSegs, kMaxUdpPayload / plan.segBytes)) : 1;
  for (int s = 0; s < plan.segments; s += per) {
    const int cnt = std::min(per, plan.segments - s);
    const size_t tail = s + cnt == plan.segments ? last : layout.mss;
    OutMsg m = base;
    m.iov = A.iov.Take(1);
    *m.iov = {p.slot + static_cast<size_t>(s) * plan.segBytes,
              static_cast<size_t>(cnt - 1) * plan.segBytes + kEncapPrefix + h + tail};
    m.iovcnt = 1;
    m.gsoSize = cnt > 1 ? static_cast<uint16_t>(plan.segBytes) : 0;
    A.msgs.Append(m);
  }
  b->datagrams += static_cast<uint64_t>(plan.segments);
  b->forwarded++;
  b->bytes += p.r.length + static_cast<size_t>(plan.segments - 1) * h;
  b->tsoSplit++;
  if (p.rco) b->rco += static_cast<uint64_t>(plan.segments);
}

// A TSO packet read contiguously: per-segment header blocks (in slot i's scratch) plus payload iovecs.
void TxBatch::BuildSegments(const Packet& p, const OutMsg& base, bool gso, int i, Totals* b) {
  Arrays& A = *a_;
  struct iovec* const segIov = A.iov.Take(2 * static_cast<size_t>(kMaxTsoSegs));
  const TsoPlan plan = PlanTsoSegments(p.pkt, p.r.ip, p.th, p.vnet.gsoSize, p.slot,
                                       A.hdrs.get() + static_cast<size_t>(i) * kHdrScratchPerPkt, kHdrScratchPerPkt,
                                       segIov, kMaxTsoSegs, p.rco);
  A.iov.Shrink(2 * static_cast<size_t>(kMaxTsoSegs - plan.segments));
  if (plan.segments == 0) {
    b->drops[static_cast<int>(Verdict::BadIp)]++;
    return;
  }
  if (plan.segBytes > kMaxUdpPayload) {
    A.iov.Shrink(2 * static_cast<size_t>(plan.segments));
    b->tooBig += static_cast<uint64_t>(plan.segments);
    b->tooBigPkts++;
    return;
  }
  const int per = gso ? static_cast<int>(std::min<size_t>(kUdpMaxSegs, kMaxUdpPayload / plan.segBytes)) : 1;
  for (int s = 0; s < plan.segments; s += per) {
    const int cnt = std::min(per, plan.segments - s);
    OutMsg m = base;
    m.iov = segIov + 2 * static_cast<size_t>(s);
    m.iovcnt = 2 * cnt;
    m.gsoSize = cnt > 1 ? static_cast<uint16_t>(plan.segBytes) : 0;
    A.msgs.Append(m);
  }
  b->datagrams += static_cast<uint64_t>(plan.segments);
  b->forwarded++;
  b->bytes += p.r.length + static_cast<size_t>(plan.segments - 1) * (p.r.ip.headerLen + p.th);
  b->tsoSplit++;
  if (p.rco) b->rco += static_cast<uint64_t>(plan.segments);
}

// Send: the messages built so far, grouped by socket (stable: a flow's packets keep their order); counts the
// datagrams that failed in *failed. Negative errno when a socket is gone.
int TxBatch::Send(uint64_t* failed) {
  Arrays& A = *a_;
  const size_t nm = A.msgs.size(), nsock = senders_.size();
  int s = 0;
  if (nm == 0) return 0;
  if (nsock == 1) {
    s = senders_[0]->SendBatch(A.msgs.data(), static_cast<int>(nm), failed);
  } else {
    A.bySocket.Clear();
    for (size_t sock = 0; sock < nsock && s >= 0; sock++) {
      const size_t from = A.bySocket.size();
      for (size_t j = 0; j < nm; j++)
        if (A.msgs[j].socket == sock) A.bySocket.Append(A.msgs[j]);
      if (A.bySocket.size() > from)
        s = senders_[sock]->SendBatch(A.bySocket.data() + from, static_cast<int>(A.bySocket.size() - from), failed);
    }
  }
  A.msgs.Clear();
  A.iov.Clear();
  return s < 0 ? s : 0;
}

// Count: segments that cannot fit a UDP datagram are send errors too (the packet was valid; the MTU is not).
void TxBatch::Count(const Totals& b, int n) {
  const uint64_t failed = std::min(b.failed, b.datagrams);
  AddCounter(c_->packets, b.datagrams - failed);
  AddCounter(c_->bytes, b.bytes);
  AddCounter(c_->errors, failed + b.tooBig + b.noEndpoint);
  AddCounter(c_->tsoSplit, b.tsoSplit);
  AddCounter(c_->rco, b.rco);
  for (int k = 1; k < kVerdictCount; k++) AddCounter(c_->drops[k], b.drops[k]);
  tally_.read += static_cast<uint64_t>(n);
  tally_.forwarded += b.forwarded;
  tally_.tooBig += b.tooBigPkts;
  tally_.noEndpoint += b.noEndpoint;
}

}  // namespace vxtun
