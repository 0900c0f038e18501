// Constants, split as the contract is: what the wire format fixes, and what we chose.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vxtun {

// ---- Specification constants (RFC 7348, IEEE 802.3, RFC 791/8200) ----
constexpr size_t kVxlanHeader = 8;       // flags(1) reserved(3) VNI(3) reserved(1)
constexpr size_t kEthHeader = 14;        // dst MAC, src MAC, ethertype
constexpr size_t kEncapPrefix = kVxlanHeader + kEthHeader;  // 22 bytes added in userspace
constexpr size_t kOuterIpv4Overhead = 20 + 8 + kEncapPrefix;  // 50: outer IPv4 + UDP + prefix
constexpr uint8_t kVxlanFlagI = 0x08;    // "VNI present"; every other flag bit must be zero
constexpr uint32_t kMaxVni = 0xffffff;
constexpr uint16_t kEthPIp = 0x0800;
constexpr uint16_t kEthPIpv6 = 0x86dd;
constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;

// ---- Implementation constants ----
constexpr int kBatch = 64;               // packets per read/recvmmsg/sendmmsg batch
constexpr size_t kBufSize = 65536 + 64;  // one packet buffer: room for any IP packet plus headroom
constexpr int kSocketBufBytes = 4 << 20; // SO_SNDBUF / SO_RCVBUF request (with *FORCE when allowed)

}  // namespace vxtun
