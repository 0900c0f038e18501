#include "capture.h"

#include <string.h>
#include <time.h>

#include <algorithm>

namespace vxtun {

// The memory is allocated up front but only touched (and so only committed) once a capture runs.
CaptureRing::CaptureRing() : mem_(new uint8_t[kCaptureSlots * kCaptureSlot]) {}

void CaptureRing::Push(const CaptureRecordHeader& meta, const uint8_t* data, size_t len) {
  const uint64_t h = head_.load(std::memory_order_relaxed);
  if (h - tail_.load(std::memory_order_acquire) >= kCaptureSlots) {
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return;
  }
  uint8_t* slot = mem_.get() + (h % kCaptureSlots) * kCaptureSlot;
  CaptureRecordHeader hdr = meta;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  hdr.tsNs = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
  const size_t cap = std::min(len, kCaptureSnap);
  hdr.origLen = static_cast<uint32_t>(len);
  hdr.capLen = static_cast<uint16_t>(cap);
  memcpy(slot, &hdr, sizeof(hdr));
  if (cap) memcpy(slot + sizeof(hdr), data, cap);
  head_.store(h + 1, std::memory_order_release);
}

size_t CaptureRing::Drain(uint8_t* out, size_t cap, size_t* used) {
  uint64_t t = tail_.load(std::memory_order_relaxed);
  const uint64_t h = head_.load(std::memory_order_acquire);
  size_t n = 0;
  for (; t < h; t++, n++) {
    const uint8_t* slot = mem_.get() + (t % kCaptureSlots) * kCaptureSlot;
    CaptureRecordHeader hdr;
    memcpy(&hdr, slot, sizeof(hdr));
    const size_t size = (sizeof(hdr) + hdr.capLen + 3) & ~static_cast<size_t>(3);
    if (*used + size > cap) break;
    memcpy(out + *used, slot, sizeof(hdr) + hdr.capLen);
    memset(out + *used + sizeof(hdr) + hdr.capLen, 0, size - sizeof(hdr) - hdr.capLen);
    *used += size;
  }
  tail_.store(t, std::memory_order_release);
  return n;
}

void CaptureRing::Discard() { tail_.store(head_.load(std::memory_order_acquire), std::memory_order_release); }

CaptureHub::CaptureHub(int loops) {
  for (int i = 0; i < loops; i++) rings_.push_back(std::make_unique<CaptureRing>());
}

int CaptureHub::Start() {
  if (ids_.empty())
    for (auto& r : rings_) r->Discard();
  const int id = nextId_++;
  ids_.push_back(id);
  sessions_.store(static_cast<int>(ids_.size()), std::memory_order_relaxed);
  return id;
}

bool CaptureHub::Stop(int id) {
  auto it = std::find(ids_.begin(), ids_.end(), id);
  if (it == ids_.end()) return false;
  ids_.erase(it);
  sessions_.store(static_cast<int>(ids_.size()), std::memory_order_relaxed);
  return true;
}

size_t CaptureHub::Drain(uint8_t* out, size_t cap) {
  size_t used = 0;
  for (auto& r : rings_) r->Drain(out, cap, &used);
  return used;
}

void CapturePacket(CaptureRing* ring, uint8_t dir, int worker, Verdict v, const PeerEntry* peer, uint32_t vtepNet,
                   bool hasPrefix, const uint8_t* data, size_t len) {
  CaptureRecordHeader m{};
  m.dir = dir;
  m.verdict = static_cast<uint8_t>(v);
  memcpy(m.vtep, &vtepNet, 4);
  m.worker = static_cast<uint16_t>(worker);
  m.flags = hasPrefix ? kCaptureHasPrefix : 0;
  if (peer) {
    m.nameLen = static_cast<uint8_t>(std::min(peer->name.size(), sizeof(m.name)));
    memcpy(m.name, peer->name.data(), m.nameLen);
  }
  ring->Push(m, data, len);
}

uint64_t CaptureHub::dropped() const {
  uint64_t n = 0;
  for (const auto& r : rings_) n += r->dropped();
  return n;
}

}  // namespace vxtun
