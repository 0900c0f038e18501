#include "forwarder.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "gro.h"
#include "segment.h"
#include "tso.h"
#include "virtio.h"

namespace vxtun {

namespace {

inline void Add(std::atomic<uint64_t>& c, uint64_t n) {
  if (n) c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// kBatch buffers of `slot` bytes, allocated once per loop.
struct BufferSet {
  explicit BufferSet(size_t slotBytes = kBufSize) : slot(slotBytes), mem(new uint8_t[kBatch * slotBytes]) {}
  size_t slot;
  std::unique_ptr<uint8_t[]> mem;
  uint8_t* at(int i) { return mem.get() + static_cast<size_t>(i) * slot; }
};

// Transmit: the virtio-net header is read at +12 so the packet starts at +22, leaving exactly the
// room for the VXLAN+Ethernet prefix in front of it.
constexpr size_t kTxHeadroom = kEncapPrefix - kVnetHdrLen;
constexpr int kMaxTsoSegs = 128;                               // a 64 KiB super-packet at MSS ≥ 512
// A transmit slot holds a super-packet in the scattered layout (tso.h).
constexpr size_t kTxSlot = kTsoSlotBytes;
constexpr size_t kMinLayoutMss = kTsoMinLayoutMss, kMaxLayoutH = kTsoMaxLayoutH;
constexpr int kMaxReadIov = kMaxTsoSegs + 2;
constexpr size_t kMaxHdrBlock = kEncapPrefix + 60 + 60;        // prefix + IPv4/IPv6 + TCP, at most
constexpr size_t kHdrScratchPerPkt = kMaxTsoSegs * kMaxHdrBlock;
constexpr int kUdpMaxSegs = 64;                                // UDP_MAX_SEGMENTS on older kernels
constexpr size_t kMaxUdpPayload = 65507;
// Receive: a UDP GRO train holds at most 64 datagrams.
constexpr int kMaxRxPkts = kBatch * 64;

}  // namespace

Worker::Worker(int id, TunIO* tun, UdpIO* rx, std::vector<UdpSocket*> tx, TableHolder* table,
               const WorkerSettings& s, int stopFd, FatalFn fatal)
    : id_(id),
      tun_(tun),
      rxSock_(rx),
      txSocks_(std::move(tx)),
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
  for (const UdpSocket* s : txSocks_)
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
  BufferSet bufs(kTxSlot);
  std::unique_ptr<uint8_t[]> hdrs(new uint8_t[kBatch * kHdrScratchPerPkt]);
  std::unique_ptr<uint8_t[]> capScratch(new uint8_t[kCapturePrefix + kCaptureMaxSnap]);
  std::vector<struct iovec> iov(static_cast<size_t>(kBatch) * 2 * kMaxTsoSegs);
  std::vector<OutMsg> msgs(static_cast<size_t>(kBatch) * kMaxTsoSegs);
  std::vector<OutMsg> bySocket(msgs.size());
  // The read iovecs of every slot for the current layout (one contiguous iovec when there is none).
  std::vector<struct iovec> readIov(static_cast<size_t>(kBatch) * kMaxReadIov);
  const struct iovec* readAt[kBatch];
  int readCounts[kBatch];
  size_t sizes[kBatch];
  TsoLayout layout;  // predicted from the last super-packet (tso.h); mss 0: none yet
  TsoLayout next;
  // Every slot gets the same layout, or (when it does not fit a slot) every slot reads contiguously: the loop
  // interprets all reads of a batch with the one `layout`.
  auto setLayout = [&](const TsoLayout& l) {
    layout = l;
    for (;;) {
      bool fits = true;
      for (int i = 0; i < kBatch && fits; i++) {
        struct iovec* v = &readIov[static_cast<size_t>(i) * kMaxReadIov];
        int k = layout.mss == 0 ? 0 : TsoScatterIovecs(bufs.at(i), kTxSlot, layout, v, kMaxReadIov);
        if (k == 0 && layout.mss != 0) fits = false;
        if (k == 0) {
          v[0] = {bufs.at(i) + kTxHeadroom, kTxSlot - kTxHeadroom};
          k = 1;
        }
        readAt[i] = v;
        readCounts[i] = k;
      }
      if (fits) return;
      layout = TsoLayout{};
    }
  };
  setLayout(TsoLayout{});
  const size_t nsock = txSocks_.size();
  uint8_t tmpl[kMaxLayoutH + 64];

  while (WaitReadable(tun_->PollFd())) {
    for (;;) {
      size_t got = 0;
      const int n = tun_->ReadBatch(readAt, readCounts, sizes, kBatch, kBatchBytes);
      if (n < 0) {
        fatal_("worker " + std::to_string(id_) + ": reading the TUN device: " + ErrnoName(-n));
        return;
      }
      if (n == 0) break;
      size_t nm = 0, ni = 0;
      uint64_t datagrams = 0, bytes = 0, tsoSplit = 0;
      uint64_t drops[kVerdictCount] = {};
      next = layout;
      const Table* t = table_->Enter(txSlot_);
      // Capture: one relaxed load per batch; a TSO super-packet is captured once, whole (up to the snap length).
      CaptureHub* const cap = settings_.capture && settings_.capture->active() ? settings_.capture : nullptr;
      for (int i = 0; i < n; i++) {
        if (sizes[i] < kVnetHdrLen) {
          drops[static_cast<int>(Verdict::Short)]++;
          continue;
        }
        uint8_t* const slot = bufs.at(i);
        const VnetHdr v = ReadVnetHdr(slot + kTxHeadroom);
        uint8_t* pkt = slot + kEncapPrefix;
        const size_t plen = sizes[i] - kVnetHdrLen;
        // Scattered: the read went past its first iovec (tso.h). Only a TSO packet of the predicted shape is
        // split where it lies; anything else is moved back first, so it is classified as it was read.
        const bool scattered = layout.mss != 0 && plen > layout.h + layout.mss;
        const bool candidate = scattered && v.gsoType != kVnetGsoNone && v.gsoSize == layout.mss;
        if (scattered && !candidate) TsoUnscatter(slot, sizes[i], layout);
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
          TsoUnscatter(slot, sizes[i], layout);
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
            const size_t have = TsoScatterCopy(slot, r.length, layout, capScratch.get(), kCapturePrefix + kCaptureMaxSnap);
            cap->Capture(2 * id_, kCaptureTx, id_, verdict, &peer, peer.publicIp, true, capScratch.get(), have,
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
        const bool gso = settings_.offloads.udpGso && !txSocks_[base.socket]->gsoBroken();
        if (inPlace) {
          // Every datagram is already contiguous at slot + s·D: one iovec per message.
          const TsoPlan plan = PlanTsoInPlace(slot, r.ip, th, layout, slot, tmpl, kMaxTsoSegs);
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
                                             hdrs.get() + static_cast<size_t>(i) * kHdrScratchPerPkt,
                                             kHdrScratchPerPkt, &iov[ni], kMaxTsoSegs);
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
      TableHolder::Exit(txSlot_);
      uint64_t failed = 0;
      if (nm > 0) {
        int s = 0;
        if (nsock == 1) {
          s = txSocks_[0]->SendBatch(msgs.data(), static_cast<int>(nm), &failed);
        } else {
          // Group by socket (stable: a flow's packets keep their order).
          size_t k = 0;
          for (size_t sock = 0; sock < nsock && s >= 0; sock++) {
            const size_t from = k;
            for (size_t j = 0; j < nm; j++)
              if (msgs[j].socket == sock) bySocket[k++] = msgs[j];
            if (k > from) s = txSocks_[sock]->SendBatch(&bySocket[from], static_cast<int>(k - from), &failed);
          }
        }
        if (s < 0) {
          fatal_("worker " + std::to_string(id_) + ": sending to the underlay: " + ErrnoName(-s));
          return;
        }
      }
      Add(tx.packets, datagrams - std::min(failed, datagrams));
      Add(tx.bytes, bytes);
      Add(tx.errors, failed);
      Add(tx.offloaded, tsoSplit);
      for (int k = 1; k < kVerdictCount; k++) Add(tx.drops[k], drops[k]);
      // The next reads use the layout of the last super-packet seen (after the sends: the slots are free).
      if (next.h != layout.h || next.mss != layout.mss) setLayout(next);
      for (int i = 0; i < n; i++) got += sizes[i];
      if (n < kBatch && got < kBatchBytes) break;  // the queue is empty
    }
  }
}

void Worker::RxLoop() {
  BufferSet bufs;
  uint8_t* readAt[kBatch];
  size_t sizes[kBatch];
  uint32_t srcs[kBatch];
  uint16_t gsos[kBatch];
  for (int i = 0; i < kBatch; i++) readAt[i] = bufs.at(i);
  std::vector<RxPkt> pkts(kMaxRxPkts);
  std::vector<uint32_t> pktSrc(kMaxRxPkts);  // the outer source of each forwarded packet (for capture)
  std::unique_ptr<uint8_t[]> capScratch(new uint8_t[kCapturePrefix + kCaptureMaxSnap]);
  std::vector<uint8_t> vnet(static_cast<size_t>(kMaxRxPkts) * kVnetHdrLen);
  std::vector<struct iovec> iov(2 * static_cast<size_t>(kMaxRxPkts) + 8);
  std::vector<TunWrite> writes(kMaxRxPkts);
  std::vector<int> counts(kMaxRxPkts);
  std::vector<TunIO*> writeQueue(kMaxRxPkts);
  const GroScratch scratch{vnet.data(), iov.data(), static_cast<int>(iov.size()), writes.data(), kMaxRxPkts};
  // Userspace segmentation of super-packets when GRO writes are off.
  constexpr int kMaxSegs = 128;
  std::unique_ptr<uint8_t[]> segScratch(new uint8_t[2 * kBufSize]);
  struct iovec segs[kMaxSegs];
  struct iovec segIov[2 * kMaxSegs];
  int segCounts[kMaxSegs];
  uint8_t zeroVnet[kVnetHdrLen] = {};

  int want = kBatch;
  while (WaitReadable(rxSock_->PollFd())) {
    for (;;) {
      const int n = rxSock_->RecvBatch(readAt, kBufSize, sizes, srcs, gsos, want);
      if (n < 0) {
        fatal_("worker " + std::to_string(id_) + ": receiving from the underlay: " + ErrnoName(-n));
        return;
      }
      if (n == 0) break;
      int m = 0;
      uint64_t bytes = 0;
      uint64_t drops[kVerdictCount] = {};
      const Table* t = table_->Enter(rxSlot_);
      CaptureHub* const cap = settings_.capture && settings_.capture->active() ? settings_.capture : nullptr;
      for (int i = 0; i < n; i++) {
        uint8_t* d = readAt[i];
        const size_t size = sizes[i];
        size_t step = gsos[i] == 0 || gsos[i] >= size ? size : gsos[i];
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
          const Verdict v = ClassifyRx(*t, settings_.policy, srcs[i], d + off, len, &r);
          if (v != Verdict::Forward) {
            // Drops are captured here, per datagram; forwarded packets as they are written (below).
            if (cap) {
              const int p = t->PeerByIp(srcs[i]);
              cap->Capture(2 * id_ + 1, kCaptureRx, id_, v, p < 0 ? nullptr : &t->peer(p), srcs[i], len >= kEncapPrefix,
                           d + off, len);
            }
            drops[static_cast<int>(v)]++;
          } else {
            pktSrc[m] = srcs[i];
            pkts[m++] = RxPkt{d + off + kEncapPrefix, r.length, r.ip, step < size};
            bytes += r.length;
          }
          if (step == 0) break;
        }
      }
      GroStats gst;
      const int nw = PlanTunWrites(pkts.data(), m, settings_.offloads.gro, settings_.mtu, scratch, &gst);
      // A forwarded packet is captured once per TUN write, as written: a coalesced (GRO) packet whole, like a TSO
      // super-packet on transmit, headed by the first segment's VXLAN + Ethernet prefix. Still under Enter: the
      // sessions and the table are only valid until Exit.
      if (cap) {
        for (int w = 0; w < nw; w++) {
          const RxPkt& k = pkts[writes[w].pkt];
          const int p = t->PeerByIp(pktSrc[writes[w].pkt]);
          const PeerEntry* peer = p < 0 ? nullptr : &t->peer(p);
          uint8_t* const prefix = k.p - kEncapPrefix;
          if (writes[w].kind == TunWrite::kSplit) {  // split below: captured as received
            cap->Capture(2 * id_ + 1, kCaptureRx, id_, Verdict::Forward, peer, pktSrc[writes[w].pkt], true, prefix,
                         kEncapPrefix + k.len);
            continue;
          }
          // Gather the write's iovecs (after its virtio-net header) up to what a capture keeps.
          const size_t room = kCapturePrefix + kCaptureMaxSnap;
          std::memcpy(capScratch.get(), prefix, kEncapPrefix);
          size_t have = kEncapPrefix, total = kEncapPrefix;
          for (int j = 1; j < writes[w].iovcnt; j++) {
            const struct iovec& e = iov[static_cast<size_t>(writes[w].firstIov + j)];
            const size_t take = std::min(e.iov_len, room - have);
            if (take) std::memcpy(capScratch.get() + have, e.iov_base, take);
            have += take;
            total += e.iov_len;
          }
          cap->Capture(2 * id_ + 1, kCaptureRx, id_, Verdict::Forward, peer, pktSrc[writes[w].pkt], true,
                       capScratch.get(), have, total);
        }
      }
      TableHolder::Exit(rxSlot_);
      uint64_t failed = 0, split = 0;
      bool gone = nw < 0;
      const size_t nq = settings_.tunQueues.size();
      for (int w = 0; w < nw; w++) {  // each write's queue, once (WorkerSettings::tunQueues)
        const RxPkt& k = pkts[writes[w].pkt];
        writeQueue[w] = nq <= 1 ? tun_ : settings_.tunQueues[InnerFlowHash(k.p, k.ip) % nq];
      }
      for (int w = 0; w < nw && !gone;) {
        TunIO* const q = writeQueue[w];
        if (writes[w].kind == TunWrite::kSplit) {
          const RxPkt& k = pkts[writes[w].pkt];
          const size_t th = TcpHeaderLen(k.p, k.ip);
          const int ns = SegmentTcp(k.p, k.ip, settings_.mtu - k.ip.headerLen - th, segScratch.get(), 2 * kBufSize,
                                    segs, kMaxSegs);
          for (int s = 0; s < ns; s++) {
            segIov[2 * s] = {zeroVnet, kVnetHdrLen};
            segIov[2 * s + 1] = segs[s];
            segCounts[s] = 2;
          }
          if (ns > 0 && q->WriteBatch(segIov, segCounts, ns, &failed) < 0) gone = true;
          if (ns == 0) failed++;
          split++;
          w++;
          continue;
        }
        // A run of writes for the same queue goes out in one batch (writes are in arrival order: a flow keeps it).
        int e = w;
        while (e < nw && writes[e].kind != TunWrite::kSplit && writeQueue[e] == q) {
          counts[e - w] = writes[e].iovcnt;
          e++;
        }
        if (q->WriteBatch(&iov[static_cast<size_t>(writes[w].firstIov)], counts.data(), e - w, &failed) < 0)
          gone = true;
        w = e;
      }
      if (gone) {
        fatal_("worker " + std::to_string(id_) + ": writing to the TUN device failed: the device is gone");
        return;
      }
      const uint64_t accepted = static_cast<uint64_t>(m);
      Add(rx.packets, accepted - std::min(failed, accepted));
      Add(rx.bytes, bytes);
      Add(rx.errors, failed);
      Add(rx.offloaded, gst.coalesced);
      Add(rx.csumCompleted, gst.csumCompleted);
      Add(rx.superSplit, split);
      for (int k = 1; k < kVerdictCount; k++) Add(rx.drops[k], drops[k]);
      const int asked = want;
      want = NextRecvBatch(n > 0 ? *std::max_element(sizes, sizes + n) : 0);
      if (n < asked) break;
    }
  }
}

}  // namespace vxtun
