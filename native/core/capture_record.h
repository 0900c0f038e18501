// One captured packet as it sits in a capture ring (engine/capture.h) and as core/pcapng_epb.h
// writes it out: the record header and the limits on what a record keeps. Layout only, no code.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/constants.h"
#include "core/underlay_addr.h"

namespace vxtun {

constexpr uint8_t kCaptureTx = 0;
constexpr uint8_t kCaptureRx = 1;
constexpr uint8_t kCaptureHasPrefix = 1;  // flags bit: data starts with the 22-byte VXLAN+Ethernet prefix

// One record in a ring slot: this header, the peer name (nameLen bytes), then capLen bytes of data.
struct CaptureRecordHeader {
  uint64_t tsNs;         // CLOCK_REALTIME, nanoseconds
  uint32_t origLen;      // bytes the packet had (prefix included when flagged)
  uint32_t dropsBefore;  // records of this ring lost (ring full) since the previous record
  uint16_t capLen;       // data bytes kept
  uint16_t worker;
  uint8_t dir;      // kCaptureTx / kCaptureRx
  uint8_t verdict;  // Verdict: 0 forward, else the drop reason
  uint8_t flags;
  uint8_t nameLen;      // peer name bytes that follow (0: unknown peer)
  UnderlayAddr vtep;    // the peer's underlay address (tx: destination, rx: outer source); none when unknown
  uint8_t reserved[7];  // zero
};
static_assert(sizeof(CaptureRecordHeader) == 48, "capture record layout");

constexpr size_t kCapturePrefix = kEncapPrefix;  // 22
constexpr size_t kCaptureMaxSnap = 1962;         // inner bytes kept at most (an MTU-sized packet whole)

}  // namespace vxtun
