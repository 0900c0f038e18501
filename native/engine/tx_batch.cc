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

TxBatch::TxBatch(int id, TunIO* tun, std::vector<UdpSender*> senders, TableHolder* table, TableHolder::ReaderSlot* slot,
                 const WorkerSettings& s, Counters* c)
    : id_(id),
      tun_(tun),
      senders_(std::move(senders)),
      table_(table),
      slot_(slot),
      settings_(s),
      c_(c),
      a_(new Arrays) {
  SetLayout(TsoLayout{});
}

TxBatch::~TxBatch() = default;

void TxBatch::Reset() {
  SetLayout(TsoLayout{});
  sendFailed_ = false;
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

// Sends the messages built so far, grouped by socket (stable: a flow's packets keep their order); counts the
// datagrams that failed in *failed. Negative errno when a socket is gone.
int TxBatch::SendPending(uint64_t* failed) {
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

int TxBatch::Run() {
  Arrays& A = *a_;
  const TsoLayout layout = A.layout;
  auto& iov = A.iov;
  auto& msgs = A.msgs;
  const size_t nsock = senders_.size();
  size_t got = 0;
  const int n = tun_->ReadBatch(A.readAt, A.readCounts, A.sizes, kBatch, kBatchBytes);
  if (n < 0) return n;
  if (n == 0) return 0;
  msgs.Clear();
  iov.Clear();
  uint64_t datagrams = 0, bytes = 0, tsoSplit = 0, failed = 0, tooBig = 0, tooBigPkts = 0, forwarded = 0;
  uint64_t drops[kVerdictCount] = {};
  TsoLayout next = layout;
  const Table* t = table_->Enter(slot_);
  // Capture: one relaxed load per batch; a TSO super-packet is captured once, whole (up to the snap length).
  CaptureHub* cap = settings_.capture && settings_.capture->active() ? settings_.capture : nullptr;
  int sendErr = 0;
  for (int i = 0; i < n && sendErr == 0; i++) {
    if (A.sizes[i] < kVnetHdrLen) {
      drops[static_cast<int>(Verdict::Short)]++;
      continue;
    }
    if (msgs.room() < static_cast<size_t>(kMaxTsoSegs) || iov.room() < 2 * static_cast<size_t>(kMaxTsoSegs)) {
      // Cannot happen with the arrays sized for kBatch packets; checked all the same. Offline while sending.
      TableHolder::Exit(slot_);
      sendErr = SendPending(&failed);
      t = table_->Enter(slot_);
      cap = settings_.capture && settings_.capture->active() ? settings_.capture : nullptr;
      if (sendErr < 0) break;
    }
    uint8_t* const slot = A.at(i);
    const VnetHdr v = ReadVnetHdr(slot + kTxHeadroom);
    uint8_t* pkt = slot + kEncapPrefix;
    const size_t plen = A.sizes[i] - kVnetHdrLen;
    // Scattered: the read went past its first iovec (core/tso.h). Only a TSO packet of the predicted shape is
    // split where it lies; anything else is moved back first, so it is classified as it was read.
    const bool scattered = layout.mss != 0 && plen > layout.h + layout.mss;
    const bool candidate = scattered && v.gsoType != kVnetGsoNone && v.gsoSize == layout.mss;
    if (scattered && !candidate) TsoUnscatter(slot, A.sizes[i], layout);
    TxResult r;
    Verdict verdict;
    size_t th = 0;
    auto classify = [&]() {
      th = 0;
      verdict = ClassifyTx(*t, pkt, plen, &r);
      if (verdict == Verdict::Forward && v.gsoType != kVnetGsoNone && (th = CheckTsoPacket(pkt, r.ip, v)) == 0)
        verdict = Verdict::BadIp;
    };
    classify();  // a candidate's headers lie in its first iovec: only they are read
    const bool inPlace = candidate && verdict == Verdict::Forward && r.ip.headerLen + th == layout.h;
    if (candidate && !inPlace) {
      TsoUnscatter(slot, A.sizes[i], layout);
      classify();
    }
    if (th != 0 && v.gsoSize >= kMinLayoutMss && r.ip.headerLen + th <= kMaxLayoutH)
      next = TsoLayout{r.ip.headerLen + th, v.gsoSize};
    // The checksum to complete lies in the transport header: never in the IP header the classification read.
    if (verdict == Verdict::Forward && v.gsoType == kVnetGsoNone && (v.flags & kVnetFlagNeedsCsum) &&
        (v.csumStart < r.ip.headerLen || !CompleteNeedsCsum(pkt, r.length, v.csumStart, v.csumOffset)))
      verdict = Verdict::BadIp;
    if (verdict != Verdict::Forward) {
      drops[static_cast<int>(verdict)]++;
      if (cap) cap->Capture(2 * id_, kCaptureTx, id_, verdict, nullptr, UnderlayAddr{}, false, pkt, plen);
      continue;
    }
    const PeerEntry& peer = t->peer(r.peer);
    WriteEncapPrefix(slot, settings_.policy.vni, peer.mac, settings_.policy.mac, r.ethertype);
    if (cap) {
      if (inPlace) {
        const size_t have =
            TsoScatterCopy(slot, r.length, layout, A.capScratch.get(), kCapturePrefix + kCaptureMaxSnap);
        cap->Capture(2 * id_, kCaptureTx, id_, verdict, &peer, peer.publicIp, true, A.capScratch.get(), have,
                     kEncapPrefix + r.length);
      } else {
        cap->Capture(2 * id_, kCaptureTx, id_, verdict, &peer, peer.publicIp, true, slot, kEncapPrefix + r.length);
      }
    }
    OutMsg base;
    base.dst = peer.publicIp;
    base.dstPort = settings_.portNet;
    base.socket = static_cast<uint16_t>(r.flowHash % nsock);
    if (v.gsoType == kVnetGsoNone) {
      if (kEncapPrefix + r.length > kMaxUdpPayload) {  // an MTU above the cap (config.ts): cannot be sent
        tooBig++;
        tooBigPkts++;
        continue;
      }
      OutMsg m = base;
      m.iov = iov.Take(1);
      *m.iov = {slot, kEncapPrefix + r.length};
      m.iovcnt = 1;
      msgs.Append(m);
      datagrams++;
      forwarded++;
      bytes += r.length;
      continue;
    }
    const bool gso = settings_.offloads.udpGso && !senders_[base.socket]->gsoBroken();
    if (inPlace) {
      // Every datagram is already contiguous at slot + s·D: one iovec per message.
      const TsoPlan plan = PlanTsoInPlace(slot, r.ip, th, layout, slot, A.tmpl, kMaxTsoSegs);
      if (plan.segments == 0) {
        drops[static_cast<int>(Verdict::BadIp)]++;
        continue;
      }
      if (plan.segBytes > kMaxUdpPayload) {  // a segment larger than a UDP datagram: cannot be sent
        tooBig += static_cast<uint64_t>(plan.segments);
        tooBigPkts++;
        continue;
      }
      const size_t h = layout.h;
      const size_t last = r.length - h - static_cast<size_t>(plan.segments - 1) * layout.mss;
      // ≥ 1: segBytes ≤ 65,507 was checked above.
      const int per = gso ? static_cast<int>(std::min<size_t>(kUdpMaxSegs, kMaxUdpPayload / plan.segBytes)) : 1;
      for (int s = 0; s < plan.segments; s += per) {
        const int cnt = std::min(per, plan.segments - s);
        const size_t tail = s + cnt == plan.segments ? last : layout.mss;
        OutMsg m = base;
        m.iov = iov.Take(1);
        *m.iov = {slot + static_cast<size_t>(s) * plan.segBytes,
                  static_cast<size_t>(cnt - 1) * plan.segBytes + kEncapPrefix + h + tail};
        m.iovcnt = 1;
        m.gsoSize = cnt > 1 ? static_cast<uint16_t>(plan.segBytes) : 0;
        msgs.Append(m);
      }
      datagrams += static_cast<uint64_t>(plan.segments);
      forwarded++;
      bytes += r.length + static_cast<size_t>(plan.segments - 1) * h;
      tsoSplit++;
      continue;
    }
    struct iovec* const segIov = iov.Take(2 * static_cast<size_t>(kMaxTsoSegs));
    const TsoPlan plan =
        PlanTsoSegments(pkt, r.ip, th, v.gsoSize, slot, A.hdrs.get() + static_cast<size_t>(i) * kHdrScratchPerPkt,
                        kHdrScratchPerPkt, segIov, kMaxTsoSegs);
    iov.Shrink(2 * static_cast<size_t>(kMaxTsoSegs - plan.segments));
    if (plan.segments == 0) {
      drops[static_cast<int>(Verdict::BadIp)]++;
      continue;
    }
    if (plan.segBytes > kMaxUdpPayload) {
      iov.Shrink(2 * static_cast<size_t>(plan.segments));
      tooBig += static_cast<uint64_t>(plan.segments);
      tooBigPkts++;
      continue;
    }
    const int per = gso ? static_cast<int>(std::min<size_t>(kUdpMaxSegs, kMaxUdpPayload / plan.segBytes)) : 1;
    for (int s = 0; s < plan.segments; s += per) {
      const int cnt = std::min(per, plan.segments - s);
      OutMsg m = base;
      m.iov = segIov + 2 * static_cast<size_t>(s);
      m.iovcnt = 2 * cnt;
      m.gsoSize = cnt > 1 ? static_cast<uint16_t>(plan.segBytes) : 0;
      msgs.Append(m);
    }
    datagrams += static_cast<uint64_t>(plan.segments);
    forwarded++;
    bytes += r.length + static_cast<size_t>(plan.segments - 1) * (r.ip.headerLen + th);
    tsoSplit++;
  }
  TableHolder::Exit(slot_);
  if (sendErr == 0) sendErr = SendPending(&failed);
  if (sendErr < 0) {
    sendFailed_ = true;
    return sendErr;
  }
  // Segments that cannot fit a UDP datagram are send errors too (the packet was valid; the MTU is not).
  AddCounter(c_->packets, datagrams - std::min(failed, datagrams));
  AddCounter(c_->bytes, bytes);
  AddCounter(c_->errors, std::min(failed, datagrams) + tooBig);
  AddCounter(c_->tsoSplit, tsoSplit);
  for (int k = 1; k < kVerdictCount; k++) AddCounter(c_->drops[k], drops[k]);
  tally_.read += static_cast<uint64_t>(n);
  tally_.forwarded += forwarded;
  tally_.tooBig += tooBigPkts;
  // The next reads use the layout of the last super-packet seen (after the sends: the slots are free).
  if (next.h != layout.h || next.mss != layout.mss) SetLayout(next);
  for (int i = 0; i < n; i++) got += A.sizes[i];
  return n < kBatch && got < kBatchBytes ? 0 : 1;
}

}  // namespace vxtun
