#include "engine/capture.h"

#include <string.h>
#include <time.h>

#include <algorithm>

#include "core/pcapng_epb.h"

namespace vxtun {

// A running capture: its options and one ring per loop. Owned by the hub's slot while published.
class CaptureSession {
 public:
  CaptureSession(int id, CaptureOptions o, int loops) : id_(id), opts_(std::move(o)) {
    for (int i = 0; i < loops; i++) rings_.push_back(std::make_unique<CaptureRing>());
  }
  int id() const { return id_; }
  const CaptureOptions& opts() const { return opts_; }
  CaptureRing* ring(int loop) { return rings_[static_cast<size_t>(loop)].get(); }
  size_t loops() const { return rings_.size(); }
  std::atomic<uint64_t>& matched(int loop) { return matched_[static_cast<size_t>(loop) % kMaxLoops].v; }
  CaptureSessionStats Stats() const {
    CaptureSessionStats s;
    for (const auto& m : matched_) s.matched += m.v.load(std::memory_order_relaxed);
    for (const auto& r : rings_) s.dropped += r->dropped();
    return s;
  }

 private:
  static constexpr size_t kMaxLoops = 256;
  struct alignas(64) Counter {
    std::atomic<uint64_t> v{0};
  };
  const int id_;
  const CaptureOptions opts_;
  std::vector<std::unique_ptr<CaptureRing>> rings_;
  Counter matched_[kMaxLoops];  // per loop: one writer each (loops beyond 256 share, and count approximately)
};

// The memory is allocated up front but only touched (and so only committed) as records arrive.
CaptureRing::CaptureRing() : mem_(new uint8_t[kCaptureSlots * kCaptureSlot]) {}

bool CaptureRing::Push(const CaptureRecordHeader& meta, const char* name, const uint8_t* data, size_t capLen) {
  const uint64_t h = head_.load(std::memory_order_relaxed);
  if (h - tail_.load(std::memory_order_acquire) >= kCaptureSlots) {
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (pendingDrops_ < UINT32_MAX) pendingDrops_++;
    return false;
  }
  uint8_t* slot = mem_.get() + (h % kCaptureSlots) * kCaptureSlot;
  CaptureRecordHeader hdr = meta;
  hdr.capLen = static_cast<uint16_t>(capLen);
  hdr.dropsBefore = pendingDrops_;
  pendingDrops_ = 0;
  memcpy(slot, &hdr, sizeof(hdr));
  if (hdr.nameLen) memcpy(slot + sizeof(hdr), name, hdr.nameLen);
  if (capLen) memcpy(slot + sizeof(hdr) + hdr.nameLen, data, capLen);
  head_.store(h + 1, std::memory_order_release);
  return true;
}

const CaptureRecordHeader* CaptureRing::Peek() const {
  const uint64_t t = tail_.load(std::memory_order_relaxed);
  if (t == head_.load(std::memory_order_acquire)) return nullptr;
  return reinterpret_cast<const CaptureRecordHeader*>(mem_.get() + (t % kCaptureSlots) * kCaptureSlot);
}

void CaptureRing::Pop() { tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

CaptureHub::CaptureHub(int loops, TableHolder* grace) : loops_(loops), grace_(grace) {}

CaptureHub::~CaptureHub() {
  for (auto& s : slots_) delete s.exchange(nullptr);
}

void CaptureHub::Capture(int loop, uint8_t dir, int worker, const CapturedPacket& p) {
  const Verdict v = p.verdict;
  const PeerEntry* const peer = p.peer;
  const uint8_t* const data = p.data;
  const size_t len = p.len;
  const bool hasPrefix = p.hasPrefix && len >= kCapturePrefix;
  const size_t innerOff = hasPrefix ? kCapturePrefix : 0;
  const std::string_view name = peer ? std::string_view(peer->name).substr(0, 255) : std::string_view();
  const CaptureView view{dir, static_cast<uint8_t>(v), name, data + innerOff, len - innerOff};
  CaptureRecordHeader m{};
  for (auto& slot : slots_) {
    CaptureSession* s = slot.load(std::memory_order_acquire);
    if (!s || !s->opts().filter.Match(view)) continue;
    if (m.tsNs == 0) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      m.tsNs = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
      m.origLen = static_cast<uint32_t>(std::max(len, p.origLen));
      m.dir = dir;
      m.verdict = static_cast<uint8_t>(v);
      m.vtep = p.vtep;
      m.worker = static_cast<uint16_t>(worker);
      m.flags = hasPrefix ? kCaptureHasPrefix : 0;
      m.nameLen = static_cast<uint8_t>(name.size());
    }
    auto& matched = s->matched(loop);
    matched.store(matched.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    s->ring(loop)->Push(m, name.data(), data, innerOff + std::min(len - innerOff, s->opts().snaplen));
  }
}

int CaptureHub::Start(CaptureOptions opts) {
  opts.snaplen = std::clamp<size_t>(opts.snaplen, 1, kCaptureMaxSnap);
  for (auto& slot : slots_) {
    if (slot.load(std::memory_order_relaxed)) continue;
    const int id = nextId_++;
    slot.store(new CaptureSession(id, std::move(opts), loops_), std::memory_order_release);
    sessions_.fetch_add(1, std::memory_order_relaxed);
    return id;
  }
  return -1;
}

CaptureSession* CaptureHub::Find(int id) const {
  for (const auto& slot : slots_) {
    CaptureSession* s = slot.load(std::memory_order_relaxed);
    if (s && s->id() == id) return s;
  }
  return nullptr;
}

bool CaptureHub::Stop(int id) {
  for (auto& slot : slots_) {
    CaptureSession* s = slot.load(std::memory_order_relaxed);
    if (!s || s->id() != id) continue;
    slot.store(nullptr, std::memory_order_seq_cst);
    sessions_.fetch_sub(1, std::memory_order_relaxed);
    if (grace_) grace_->Synchronize();  // no loop can still be pushing into s
    const CaptureSessionStats st = s->Stats();
    pastMatched_ += st.matched;
    pastDropped_ += st.dropped;
    delete s;
    return true;
  }
  return false;
}

CaptureDrain CaptureHub::Drain(int id, uint8_t* out, size_t cap, size_t maxRecords) {
  CaptureDrain d;
  CaptureSession* s = Find(id);
  if (!s) return d;
  EpbOuter outer{s->opts().publicIp, s->opts().publicIp6, s->opts().port, s->opts().vni};
  const EpbOuter* o = s->opts().outer ? &outer : nullptr;
  // Oldest first across the loops' rings (each ring is already in time order).
  while (d.records < maxRecords) {
    CaptureRing* best = nullptr;
    const CaptureRecordHeader* bh = nullptr;
    for (size_t i = 0; i < s->loops(); i++) {
      const CaptureRecordHeader* h = s->ring(static_cast<int>(i))->Peek();
      if (h && (!bh || h->tsNs < bh->tsNs)) best = s->ring(static_cast<int>(i)), bh = h;
    }
    if (!bh) break;
    const auto* name = reinterpret_cast<const char*>(bh + 1);
    const uint8_t* data = reinterpret_cast<const uint8_t*>(name) + bh->nameLen;
    if (cap - d.bytes < CaptureEpbBound(*bh)) break;
    d.bytes += WriteCaptureEpb(*bh, name, data, o, out + d.bytes, cap - d.bytes);
    d.records++;
    best->Pop();
  }
  return d;
}

bool CaptureHub::SessionStats(int id, CaptureSessionStats* out) const {
  const CaptureSession* s = Find(id);
  if (!s) return false;
  *out = s->Stats();
  return true;
}

uint64_t CaptureHub::matched() const {
  uint64_t n = pastMatched_;
  for (const auto& slot : slots_)
    if (const CaptureSession* s = slot.load(std::memory_order_relaxed)) n += s->Stats().matched;
  return n;
}

uint64_t CaptureHub::dropped() const {
  uint64_t n = pastDropped_;
  for (const auto& slot : slots_)
    if (const CaptureSession* s = slot.load(std::memory_order_relaxed)) n += s->Stats().dropped;
  return n;
}

}  // namespace vxtun
