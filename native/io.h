// The dataplane's I/O seams: batch-shaped, like wireguard-go's tun.Device and conn.Bind. The
// forwarder loops see only these interfaces; tun_linux.cc and udp_linux.cc are the real ones.
// Contract for every method: never blocks (the loops poll PollFd()), returns how many packets
// were handled, or -errno for an error that should end the loop (the device or socket is gone).
// Per-packet failures are counted in *failed and do not end the batch.
#pragma once
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace vxtun {

// A failed syscall during setup. `what` carries the context ("opening /dev/net/tun").
struct SysError : std::runtime_error {
  int err;
  std::string syscall;
  SysError(const std::string& what, const std::string& sys, int e);
};
std::string ErrnoName(int e);

// One datagram to send: up to two iovecs (prefix and packet, or one contiguous span).
struct OutMsg {
  struct iovec iov[2];
  int iovcnt = 1;
  uint32_t dstIp = 0;       // network byte order
  uint16_t dstPort = 0;     // network byte order
};

class TunIO {
 public:
  virtual ~TunIO() = default;
  // Reads up to n packets, packet i into bufs[i] (capacity cap), its length into sizes[i].
  virtual int ReadBatch(uint8_t* const* bufs, size_t cap, size_t* sizes, int n) = 0;
  // Writes n packets, one iovec each.
  virtual int WriteBatch(const struct iovec* pkts, int n, uint64_t* failed) = 0;
  virtual int PollFd() const = 0;
};

class UdpIO {
 public:
  virtual ~UdpIO() = default;
  // Receives up to n datagrams; srcIps[i] is the sender's IPv4 address (network byte order).
  virtual int RecvBatch(uint8_t* const* bufs, size_t cap, size_t* sizes, uint32_t* srcIps, int n) = 0;
  virtual int SendBatch(OutMsg* msgs, int n, uint64_t* failed) = 0;
  virtual int PollFd() const = 0;
};

}  // namespace vxtun
