#include "tx_batch.h"

#include <errno.h>

#include <algorithm>
#include <cstring>

#include "tso.h"
#include "virtio.h"

namespace vxtun {

namespace {
// The virtio-net header is read at +12 so the packet starts at +22, leaving exactly the room for the
// VXLAN+Ethernet prefix in front of it.
constexpr size_t kTxHeadroom = kEncapPrefix - kVnetHdrLen;
constexpr int kMaxTsoSegs = 128;  // a 64 KiB super-packet at MSS ≥ 512
// A transmit slot holds a super-packet in the scattered layout (tso.h).
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
  std::vector<struct iovec> iov = std::vector<struct iovec>(static_cast<size_t>(kBatch) * 2 * kMaxTsoSegs);
  std::vector<OutMsg> msgs = std::vector<OutMsg>(static_cast<size_t>(kBatch) * kMaxTsoSegs);
  std::vector<OutMsg> bySocket = std::vector<OutMsg>(msgs.size());
  // The read iovecs of every slot for the current layout (one contiguous iovec when there is none).
  std::vector<struct iovec> readIov = std::vector<struct iovec>(static_cast<size_t>(kBatch) * kMaxReadIov);
  const struct iovec* readAt[kBatch];
  int readCounts[kBatch];
  size_t sizes[kBatch];
  TsoLayout layout;  // predicted from the last super-packet (tso.h); mss 0: none yet
  uint8_t tmpl[kMaxLayoutH + 64];
};

TxBatch::TxBatch(int id, TunIO* tun, std::vector<UdpSender*> senders, TableHolder* table,
                 TableHolder::ReaderSlot* slot, const WorkerSettings& s, Counters* c)
    : id_(id), tun_(tun), senders_(std::move(senders)), table_(table), slot_(slot), settings_(s), c_(c),
      a_(new Arrays) {
  SetLayout(TsoLayout{});
}

TxBatch::~TxBatch() = default;

std::string TxBatch::FatalMessage(int rc) const {
  return "worker " + std::to_string(id_) + (sendFailed_ ? ": sending to the underlay: " : ": reading the TUN device: ") +
         ErrnoName(-rc);
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
  size_t nm = 0, ni = 0;
  uint64_t datagrams = 0, bytes = 0, tsoSplit = 0;
  uint64_t drops[kVerdictCount] = {};
  TsoLayout next = layout;
  const Table* t = table_->Enter(slot_);
  // Capture: one relaxed load per batch; a TSO super-packet is captured once, whole (up to the snap length).
  CaptureHub* const cap = settings_.capture && settings_.capture->active() ? settings_.capture : nullptr;
  for (int i = 0; i < n; i++) {
    if (A.sizes[i] < kVnetHdrLen) {
      drops[static_cast<int>(Verdict::Short)]++;
      continue;
    }
    uint8_t* const slot = A.at(i);
    const VnetHdr v = ReadVnetHdr(slot + kTxHeadroom);
    uint8_t* pkt = slot + kEncapPrefix;
    const size_t plen = A.sizes[i] - kVnetHdrLen;
    // Scattered: the read went past its first iovec (tso.h). Only a TSO packet of the predicted shape is
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
    if (verdict == Verdict::Forward && v.gsoType == kVnetGsoNone && (v.flags & kVnetFlagNeedsCsum) &&
        !CompleteNeedsCsum(pkt, r.length, v.csumStart, v.csumOffset))
      verdict = Verdict::BadIp;
    if (verdict != Verdict::Forward) {
      drops[static_cast<int>(verdict)]++;
      if (cap) cap->Capture(2 * id_, kCaptureTx, id_, verdict, nullptr, 0, false, pkt, plen);
      continue;
    }
    const PeerEntry& peer = t->peer(r.peer);
    WriteEncapPrefix(slot, settings_.policy.vni, peer.mac, settings_.policy.mac, r.ethertype);
    if (cap) {
      if (inPlace) {
        const size_t have = TsoScatterCopy(slot, r.length, layout, A.capScratch.get(), kCapturePrefix + kCaptureMaxSnap);
        cap->Capture(2 * id_, kCaptureTx, id_, verdict, &peer, peer.publicIp, true, A.capScratch.get(), have,
                     kEncapPrefix + r.length);
      } else {
        cap->Capture(2 * id_, kCaptureTx, id_, verdict, &peer, peer.publicIp, true, slot, kEncapPrefix + r.length);
      }
    }
    OutMsg base;
    base.dstIp = peer.publicIp;
    base.dstPort = settings_.portNet;
    base.socket = static_cast<uint16_t>(r.flowHash % nsock);
    if (v.gsoType == kVnetGsoNone) {
      iov[ni] = {slot, kEncapPrefix + r.length};
      msgs[nm] = base;
      msgs[nm].iov = &iov[ni++];
      msgs[nm++].iovcnt = 1;
      datagrams++;
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
      const size_t h = layout.h;
      const size_t last = r.length - h - static_cast<size_t>(plan.segments - 1) * layout.mss;
      const int per = gso ? static_cast<int>(std::min<size_t>(kUdpMaxSegs, kMaxUdpPayload / plan.segBytes)) : 1;
      for (int s = 0; s < plan.segments; s += per) {
        const int cnt = std::min(per, plan.segments - s);
        const size_t tail = s + cnt == plan.segments ? last : layout.mss;
        iov[ni] = {slot + static_cast<size_t>(s) * plan.segBytes,
                   static_cast<size_t>(cnt - 1) * plan.segBytes + kEncapPrefix + h + tail};
        msgs[nm] = base;
        msgs[nm].iov = &iov[ni++];
        msgs[nm].iovcnt = 1;
        msgs[nm++].gsoSize = cnt > 1 ? static_cast<uint16_t>(plan.segBytes) : 0;
      }
      datagrams += static_cast<uint64_t>(plan.segments);
      bytes += r.length + static_cast<size_t>(plan.segments - 1) * h;
      tsoSplit++;
      continue;
    }
    const TsoPlan plan = PlanTsoSegments(pkt, r.ip, th, v.gsoSize, slot,
                                         A.hdrs.get() + static_cast<size_t>(i) * kHdrScratchPerPkt, kHdrScratchPerPkt,
                                         &iov[ni], kMaxTsoSegs);
    if (plan.segments == 0) {
      drops[static_cast<int>(Verdict::BadIp)]++;
      continue;
    }
    const int per = gso ? static_cast<int>(std::min<size_t>(kUdpMaxSegs, kMaxUdpPayload / plan.segBytes)) : 1;
    for (int s = 0; s < plan.segments; s += per) {
      const int cnt = std::min(per, plan.segments - s);
      msgs[nm] = base;
      msgs[nm].iov = &iov[ni + 2 * static_cast<size_t>(s)];
      msgs[nm].iovcnt = 2 * cnt;
      msgs[nm++].gsoSize = cnt > 1 ? static_cast<uint16_t>(plan.segBytes) : 0;
    }
    ni += 2 * static_cast<size_t>(plan.segments);
    datagrams += static_cast<uint64_t>(plan.segments);
    bytes += r.length + static_cast<size_t>(plan.segments - 1) * (r.ip.headerLen + th);
    tsoSplit++;
  }
  TableHolder::Exit(slot_);
  uint64_t failed = 0;
  if (nm > 0) {
    int s = 0;
    if (nsock == 1) {
      s = senders_[0]->SendBatch(msgs.data(), static_cast<int>(nm), &failed);
    } else {
      // Group by socket (stable: a flow's packets keep their order).
      size_t k = 0;
      for (size_t sock = 0; sock < nsock && s >= 0; sock++) {
        const size_t from = k;
        for (size_t j = 0; j < nm; j++)
          if (msgs[j].socket == sock) A.bySocket[k++] = msgs[j];
        if (k > from) s = senders_[sock]->SendBatch(&A.bySocket[from], static_cast<int>(k - from), &failed);
      }
    }
    if (s < 0) {
      sendFailed_ = true;
      return s;
    }
  }
  AddCounter(c_->packets, datagrams - std::min(failed, datagrams));
  AddCounter(c_->bytes, bytes);
  AddCounter(c_->errors, failed);
  AddCounter(c_->offloaded, tsoSplit);
  for (int k = 1; k < kVerdictCount; k++) AddCounter(c_->drops[k], drops[k]);
  // The next reads use the layout of the last super-packet seen (after the sends: the slots are free).
  if (next.h != layout.h || next.mss != layout.mss) SetLayout(next);
  for (int i = 0; i < n; i++) got += A.sizes[i];
  return n < kBatch && got < kBatchBytes ? 0 : 1;
}

}  // namespace vxtun
