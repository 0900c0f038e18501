// Packet capture for `vxtun dump` (README "Packet dump"). Each running capture is a session
// with its own filter, snap length and one bounded ring per forwarding loop. The loops test the
// filter and copy only matching packets (so a narrow filter also stays complete under load); the
// JS thread drains a session's rings into ready pcapng Enhanced Packet Blocks (core/pcapng_epb.h), so
// no per-packet JavaScript runs while capturing.
//
// Contract with the loops:
//   - CaptureHub::active() is one relaxed atomic load; a loop calls it once per batch and, when it
//     is false, does nothing else for capture (no copy, no clock read, no filter).
//   - CaptureHub::Capture never waits and never allocates: when a session's ring is full the record
//     is dropped and counted; the next record of that ring carries the count (epb_dropcount).
//   - The loops touch sessions only between TableHolder::Enter and Exit: Stop unpublishes a session
//     and waits for a grace period (TableHolder::Synchronize) before freeing it.
//   - Each ring has one producer (its loop thread) and one consumer (the JS thread).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/capture_filter.h"
#include "core/capture_record.h"
#include "core/fdb.h"
#include "core/vxlan.h"
#include "engine/table_holder.h"

namespace vxtun {

// 2288 bytes; src/dump/capture.ts CAPTURE_RING_BYTES (kCaptureSlots × this) budgets sessions with it: change both.
constexpr size_t kCaptureSlot = sizeof(CaptureRecordHeader) + 255 + kCapturePrefix + kCaptureMaxSnap + 1;
static_assert(kCaptureSlot == 2288, "src/dump/capture.ts CAPTURE_RING_BYTES assumes this size");
constexpr size_t kCaptureSlots = 1024;  // per loop and session
constexpr int kMaxCaptures = 8;         // sessions running at once

class CaptureRing {
 public:
  CaptureRing();
  // Producer side: never waits; false (and counted) when full.
  bool Push(const CaptureRecordHeader& meta, const char* name, const uint8_t* data, size_t capLen);
  // Consumer side: the oldest record, or null when empty; Pop releases it.
  const CaptureRecordHeader* Peek() const;
  void Pop();
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  std::unique_ptr<uint8_t[]> mem_;
  alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer
  uint32_t pendingDrops_ = 0;                  // producer only
  alignas(64) std::atomic<uint64_t> tail_{0};  // written by the consumer
  alignas(64) std::atomic<uint64_t> dropped_{0};
};

// What a capture keeps and how it is written.
struct CaptureOptions {
  CaptureFilter filter;
  size_t snaplen = kCaptureMaxSnap;  // inner bytes kept per packet (1..kCaptureMaxSnap)
  bool outer = false;                // write synthesised outer IP/UDP + VXLAN + Ethernet + packet (core/pcapng_epb.h)
  UnderlayAddr publicIp;             // this node's underlay address (for outer)
  UnderlayAddr publicIp6;            // a dual-stack node's IPv6 address (for outer: records with an IPv6 VTEP)
  uint16_t port = 0;                 // the VXLAN UDP port, host order (for outer)
  uint32_t vni = 0;                  // (for outer: a transmit drop's synthesised prefix)
};

struct CaptureSessionStats {
  uint64_t matched = 0;  // packets that passed the filter
  uint64_t dropped = 0;  // of those, lost to a full ring
};

struct CaptureDrain {
  size_t bytes = 0;    // pcapng bytes written
  size_t records = 0;  // Enhanced Packet Blocks written
};

class CaptureSession;

// One packet a loop offers to the running captures.
struct CapturedPacket {
  Verdict verdict = Verdict::Forward;
  const PeerEntry* peer = nullptr;  // null: unknown
  UnderlayAddr vtep;                // the peer's underlay address (tx: destination, rx: outer source); none if no peer
  bool hasPrefix = false;           // data starts with the VXLAN+Ethernet prefix; else it is the inner packet
  const uint8_t* data = nullptr;
  size_t len = 0;      // bytes readable at data
  size_t origLen = 0;  // when larger than len: the packet's whole length (a gathered head, at least the snap length)
};

// The sessions of one dataplane.
class CaptureHub {
 public:
  // loops: rings per session (2 per worker); grace: the table holder the loops Enter/Exit per batch.
  CaptureHub(int loops, TableHolder* grace);
  ~CaptureHub();
  bool active() const { return sessions_.load(std::memory_order_relaxed) > 0; }

  // Loop side (between Enter and Exit), through the loop's CaptureTap: loop is the ring, dir and worker
  // what its records say.
  void Capture(int loop, uint8_t dir, int worker, const CapturedPacket& p);

  // JS thread only.
  int Start(CaptureOptions opts);  // → session id, or -1 when kMaxCaptures are running
  bool Stop(int id);               // false when the id is not running
  // Writes whole EPBs (oldest first across the loops) into out[0..cap), at most maxRecords.
  CaptureDrain Drain(int id, uint8_t* out, size_t cap, size_t maxRecords);
  bool SessionStats(int id, CaptureSessionStats* out) const;
  int sessions() const { return sessions_.load(std::memory_order_relaxed); }
  uint64_t matched() const;  // all sessions, ever
  uint64_t dropped() const;  // all sessions, ever

 private:
  CaptureSession* Find(int id) const;
  const int loops_;
  TableHolder* const grace_;
  std::atomic<CaptureSession*> slots_[kMaxCaptures] = {};
  std::atomic<int> sessions_{0};
  uint64_t pastMatched_ = 0, pastDropped_ = 0;  // of stopped sessions
  int nextId_ = 1;
};

// A forwarding loop's one way into the captures: its ring, direction and worker, fixed at construction.
// Refresh once per batch, after TableHolder::Enter (one relaxed load); Offer does nothing unless a capture
// was running at the last Refresh. Offer only between Enter and Exit.
class CaptureTap {
 public:
  CaptureTap(int loop, uint8_t dir, int worker) : loop_(loop), dir_(dir), worker_(worker) {}
  void Refresh(CaptureHub* hub) { hub_ = hub && hub->active() ? hub : nullptr; }
  bool on() const { return hub_ != nullptr; }
  void Offer(const CapturedPacket& p) const {
    if (hub_) hub_->Capture(loop_, dir_, worker_, p);
  }

 private:
  const int loop_;
  const uint8_t dir_;
  const int worker_;
  CaptureHub* hub_ = nullptr;
};

}  // namespace vxtun
