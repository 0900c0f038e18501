// Constants, split as the contract is: what the wire format fixes, and what we chose.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vxtun {

// ---- Specification constants (RFC 7348, IEEE 802.3, RFC 791/8200) ----
constexpr size_t kVxlanHeader = 8;                            // flags(1) reserved(3) VNI(3) reserved(1)
constexpr size_t kEthHeader = 14;                             // dst MAC, src MAC, ethertype
constexpr size_t kEncapPrefix = kVxlanHeader + kEthHeader;    // 22 bytes added in userspace
constexpr size_t kOuterIpv4Overhead = 20 + 8 + kEncapPrefix;  // 50: outer IPv4 + UDP + prefix
constexpr uint8_t kVxlanFlagI = 0x08;                         // "VNI present"; every other flag bit must be zero,
constexpr uint8_t kVxlanFlagRco = 0x20;  // byte 1: remote checksum offload (core/vxlan.h), only where accepted
constexpr uint32_t kMaxVni = 0xffffff;
constexpr uint16_t kEthPIp = 0x0800;
constexpr uint16_t kEthPIpv6 = 0x86dd;
constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;

// ---- Implementation constants ----
constexpr int kBatch = 64;  // packets per read/recvmmsg/sendmmsg batch, at most
// Batches are bounded by bytes too: 64 buffers of 64 KiB super-packets are 4 MiB, past L2, and the
// kernel's copies into and out of cold buffers cost more per byte (1-stream TCP: +4 % on a quiet host,
// more under CPU contention; README "Performance").
constexpr size_t kBatchBytes = 256 * 1024;
constexpr size_t kBufSize = 65536 + 64;   // one packet buffer: room for any IP packet plus headroom
constexpr int kSocketBufBytes = 4 << 20;  // SO_SNDBUF / SO_RCVBUF request (with *FORCE when allowed)

// How many messages the next recvmmsg asks for, given the largest message of the last batch: a
// batch of GRO trains fills kBatchBytes in a few messages; small datagrams still batch by 64.
constexpr int NextRecvBatch(size_t largest) {
  if (largest <= kBatchBytes / kBatch) return kBatch;
  return largest >= kBatchBytes ? 1 : static_cast<int>(kBatchBytes / largest);
}
static_assert(NextRecvBatch(0) == kBatch && NextRecvBatch(1514) == kBatch && NextRecvBatch(4096) == kBatch);
static_assert(NextRecvBatch(4097) == 63 && NextRecvBatch(65535) == 4 && NextRecvBatch(1 << 20) == 1);

}  // namespace vxtun
