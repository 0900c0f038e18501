// The underlay UDP sockets on Linux: bound to the VXLAN port on our underlay address, batched
// with recvmmsg/sendmmsg. The kernel builds the outer IPv4/UDP headers and the UDP checksum.
#pragma once
#include <memory>
#include <vector>

#include "io.h"

namespace vxtun {

class UdpSocket final : public UdpIO {
 public:
  explicit UdpSocket(int fd) : fd_(fd) {}
  ~UdpSocket() override;
  int RecvBatch(uint8_t* const* bufs, size_t cap, size_t* sizes, uint32_t* srcIps, int n) override;
  int SendBatch(OutMsg* msgs, int n, uint64_t* failed) override;
  int PollFd() const override { return fd_; }

 private:
  int fd_;
};

// Opens `count` sockets bound to bindIp:port (network byte order), sharing the port through
// SO_REUSEPORT when count > 1. Throws SysError.
std::vector<std::unique_ptr<UdpSocket>> OpenUdpSockets(uint32_t bindIp, uint16_t port, int count);

}  // namespace vxtun
