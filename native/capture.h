// Packet capture for `vxtun dump` (design.md "Packet dump"): the forwarding loops copy what they
// see into bounded rings while at least one capture is active; the JS thread drains the rings.
//
// Contract with the loops:
//   - CaptureHub::active() is one relaxed atomic load; a loop calls it once per batch and, when it
//     is false, does nothing else for capture (no copy, no clock read).
//   - CaptureRing::Push never waits and never allocates: when the ring is full the record is
//     dropped and counted (dropped()).
//   - Each ring has exactly one producer (its loop thread) and one consumer (the thread that calls
//     CaptureHub::Drain, the JS thread), so head/tail need only acquire/release ordering.
//
// Drained records are packed into the caller's buffer, each as a CaptureRecordHeader followed by
// capLen bytes, padded to 4. The bytes are the 22-byte VXLAN+Ethernet prefix followed by the inner
// IP packet when kCaptureHasPrefix is set, else the inner IP packet alone (a transmit drop: the
// prefix was never built). src/capture.ts decodes this layout; change both together.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "fdb.h"
#include "vxlan.h"

namespace vxtun {

constexpr uint8_t kCaptureTx = 0;
constexpr uint8_t kCaptureRx = 1;
constexpr uint8_t kCaptureHasPrefix = 1;  // flags bit

// Little-endian on every platform we build for; 64 bytes.
struct CaptureRecordHeader {
  uint64_t tsNs;       // CLOCK_REALTIME, nanoseconds
  uint32_t origLen;    // bytes the packet had (prefix included when flagged)
  uint16_t capLen;     // bytes that follow this header
  uint8_t dir;         // kCaptureTx / kCaptureRx
  uint8_t verdict;     // Verdict: 0 forward, else the drop reason
  uint8_t vtep[4];     // peer's public IPv4 (tx: destination, rx: outer source); 0 when none
  uint16_t worker;
  uint8_t flags;
  uint8_t nameLen;     // bytes of name used
  char name[40];       // peer name (truncated), empty when the peer is unknown
};
static_assert(sizeof(CaptureRecordHeader) == 64, "capture record layout");

// ---- Implementation constants ----
constexpr size_t kCaptureSlot = 2048;                                   // one record, fixed size
constexpr size_t kCaptureSnap = kCaptureSlot - sizeof(CaptureRecordHeader);  // 1984 bytes kept per packet
constexpr size_t kCaptureSlots = 1024;                                  // per loop (2 MiB, touched only when capturing)

class CaptureRing {
 public:
  CaptureRing();
  // Producer side. `meta` carries everything but tsNs/capLen/origLen, which Push fills in.
  void Push(const CaptureRecordHeader& meta, const uint8_t* data, size_t len);
  // Consumer side: appends whole records to out[*used..cap); returns how many were taken.
  size_t Drain(uint8_t* out, size_t cap, size_t* used);
  void Discard();  // consumer side: forget everything queued
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  std::unique_ptr<uint8_t[]> mem_;
  alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer
  alignas(64) std::atomic<uint64_t> tail_{0};  // written by the consumer
  alignas(64) std::atomic<uint64_t> dropped_{0};
};

// The rings of one dataplane (one per loop) and the number of running captures.
class CaptureHub {
 public:
  explicit CaptureHub(int loops);
  bool active() const { return sessions_.load(std::memory_order_relaxed) > 0; }
  CaptureRing* ring(int loop) { return rings_[static_cast<size_t>(loop)].get(); }

  // JS thread only.
  int Start();          // → capture id; the first capture discards stale records
  bool Stop(int id);    // false when the id is not running
  size_t Drain(uint8_t* out, size_t cap);  // bytes written (records from every ring)
  uint64_t dropped() const;

 private:
  std::vector<std::unique_ptr<CaptureRing>> rings_;
  std::atomic<int> sessions_{0};
  std::vector<int> ids_;
  int nextId_ = 1;
};

// The loops' one call per captured packet (only made while CaptureHub::active()): data is the
// prefix + inner packet when hasPrefix, else the inner packet; peer may be null (unknown).
void CapturePacket(CaptureRing* ring, uint8_t dir, int worker, Verdict v, const PeerEntry* peer, uint32_t vtepNet,
                   bool hasPrefix, const uint8_t* data, size_t len);

}  // namespace vxtun
