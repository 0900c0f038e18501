// The dataplane's I/O seams: batch-shaped, like wireguard-go's tun.Device and conn.Bind. The
// per-batch code (rx_batch.h, tx_batch.h) sees only these interfaces; linux/tun_linux.cc and linux/udp_linux.cc
// are the real ones, native/fuzz/loop_fakes.h the fuzzers' fakes.
// Contract for every method: never blocks for long (the loops poll PollFd()) unless asked to wait, returns how
// many items were handled, or -errno for an error that should end the loop (the device or socket is gone).
// Per-packet failures are counted in *failed and do not end the batch.
#pragma once
#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/underlay_addr.h"

namespace vxtun {

// A failed syscall during setup. `what` carries the context ("opening /dev/net/tun").
struct SysError : std::runtime_error {
  int err;
  std::string syscall;
  SysError(const std::string& what, const std::string& sys, int e);
};
std::string ErrnoName(int e);

// One UDP message to send: iovcnt iovecs gathered into one datagram, or, with gsoSize > 0, into
// one UDP_SEGMENT super-datagram that the kernel cuts into gsoSize-byte datagrams.
struct OutMsg {
  struct iovec* iov = nullptr;
  int iovcnt = 0;
  UnderlayAddr dst;      // the peer's underlay address, either family
  uint16_t dstPort = 0;  // network byte order
  uint16_t gsoSize = 0;
  uint16_t socket = 0;  // which transmit socket (chosen by inner flow hash)
};

// A wait that took longer than this slept: the packet that ended it is most likely alone (TunIO::ReadBatch, and
// engine/worker.cc for a loop that polls).
constexpr std::chrono::microseconds kSlept{20};

class TunIO {
 public:
  virtual ~TunIO() = default;
  // Reads up to n packets, packet i (with its virtio-net header) scattered over the counts[i]
  // iovecs at iovs[i] (readv); stops early once the packets read add up to `budget` bytes. wait: the first read
  // waits for a packet when the queue is in waiting mode (else it finds none), and when that wait slept (kSlept) the
  // batch is that one packet, most likely alone: the read that would find the queue empty is then not on its way; the
  // other reads never wait; a signal ends the wait with 0 (engine/worker.h: how a waiting loop is stopped).
  virtual int ReadBatch(const struct iovec* const* iovs, const int* counts, size_t* sizes, int n, size_t budget,
                        bool wait) = 0;
  // Waiting mode (on) lets a read wait for a packet; poll mode (off) is what a handover passes on (engine/dataplane.h).
  // False when the queue cannot be switched (it stays or falls back to poll mode).
  virtual bool SetWaiting(bool on) = 0;
  virtual bool waiting() const = 0;
  // Writes n packets; packet i is gathered from counts[i] consecutive iovecs of iov (its
  // virtio-net header first). A failed write adds weights[i] to *failed (1 when weights is null): the
  // received datagrams it carried.
  virtual int WriteBatch(const struct iovec* iov, const int* counts, const int* weights, int n, uint64_t* failed) = 0;
  virtual int PollFd() const = 0;
};

class UdpIO {
 public:
  virtual ~UdpIO() = default;
  // Receives up to n messages; srcs[i] is the sender's address (none when the socket reports no
  // address of a known family) and gsoSizes[i] the UDP_GRO segment size when several datagrams were
  // coalesced into message i (else 0). wait: block until at least one message is there (then take what else
  // is, without waiting); a signal ends the wait with 0 (engine/worker.h: how a waiting loop is stopped).
  virtual int RecvBatch(uint8_t* const* bufs, size_t cap, size_t* sizes, UnderlayAddr* srcs, uint16_t* gsoSizes, int n,
                        bool wait) = 0;
  virtual int PollFd() const = 0;
};

// The transmit side of an underlay socket: one call per batch (never per packet).
class UdpSender {
 public:
  virtual ~UdpSender() = default;
  // Sends n messages; every datagram that could not be sent is counted in *failed (a GSO message
  // counts each of its datagrams): one whose destination is of another family than the socket's
  // too. Returns n, or -errno when the socket is gone.
  virtual int SendBatch(OutMsg* msgs, int n, uint64_t* failed) = 0;
  // UDP GSO failed on this socket once and is off for good (messages are then sent unsegmented).
  virtual bool gsoBroken() const = 0;
};

// A transmit loop's sockets, by family (either may be empty; a dual-stack node has both): a packet goes out of
// a socket of its chosen endpoint's family (core/fdb.h ChooseEndpoint).
struct TxSenders {
  std::vector<UdpSender*> v4, v6;
};

}  // namespace vxtun
