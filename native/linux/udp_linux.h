// The underlay UDP sockets on Linux. The kernel builds the outer IP/UDP headers and the UDP
// checksum (never zero: a zero checksum rules out UDP GSO and GRO).
// A socket's family is its bind address's (core/underlay_addr.h): AF_INET, or AF_INET6 with
// IPV6_V6ONLY. This file is the one place where underlay addresses become sockaddr_in/sockaddr_in6 and
// back. A message for an address of the other family fails in the kernel (EAFNOSUPPORT from an IPv4
// socket, ENETUNREACH from a v6-only one) and its datagrams count as failed, as any unsendable one.
//
// Receive: one socket per worker bound to our underlay address and the VXLAN port, sharing the
// port through SO_REUSEPORT; optionally UDP_GRO, which hands over several same-flow datagrams in
// one message with their segment size in a cmsg.
// Transmit: a small pool of sockets per worker bound to our address and kernel-chosen ports; the
// inner flow hash picks one, so the outer source port follows the inner flow (RSS and GRO at the
// peer). Sends are sendmmsg batches, with UDP_SEGMENT for GSO messages; the first EIO on a GSO
// send (no checksum offload on the route) turns GSO off for that socket for good and the message
// is resent datagram by datagram.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/io.h"

namespace vxtun {

class UdpSocket final : public UdpIO, public UdpSender {
 public:
  explicit UdpSocket(int fd) : fd_(fd) {}
  ~UdpSocket() override;
  int RecvBatch(uint8_t* const* bufs, size_t cap, size_t* sizes, UnderlayAddr* srcs, uint16_t* gsoSizes, int n,
                bool wait) override;
  // Sends n messages (all for this socket). A GSO message whose every segment is an iovec pair
  // (the shape PlanTsoSegments makes) or a single iovec (PlanTsoInPlace) is resent unsegmented if GSO
  // fails.
  int SendBatch(OutMsg* msgs, int n, uint64_t* failed) override;
  int PollFd() const override { return fd_; }
  bool gsoBroken() const override { return gsoBroken_; }

 private:
  int ResendSegments(const OutMsg& m, uint64_t* failed);
  int fd_;
  bool gsoBroken_ = false;
};

// The datagrams message m makes: its bytes cut at gsoSize (one when it is not a GSO message).
size_t OutMsgDatagrams(const OutMsg& m);

// Opens `count` receive sockets bound to bindIp:port (port in network byte order), sharing the port
// through SO_REUSEPORT when count > 1. Throws SysError (EAFNOSUPPORT when bindIp is none).
std::vector<std::unique_ptr<UdpSocket>> OpenUdpSockets(const UnderlayAddr& bindIp, uint16_t port, int count);
// Opens `count` transmit sockets bound to bindIp and kernel-chosen ports. Throws SysError.
std::vector<std::unique_ptr<UdpSocket>> OpenTxSockets(const UnderlayAddr& bindIp, int count);

// What the kernel dropped at this socket since it was opened (SO_MEMINFO's SK_MEMINFO_DROPS: the receive
// buffer was full, e.g. while the worker could not run), one per buffer: a datagram, or a whole UDP GRO
// train; 0 when the kernel cannot say.
uint64_t SocketDrops(const UdpSocket& s);

// Adoption (engine/dataplane.h DataplaneOptions::adopt): what is wrong with fd as an underlay socket opened by
// OpenUdpSockets (portNet: the VXLAN port, network byte order) or OpenTxSockets (portNet 0: any port but 0): a UDP
// datagram socket of bindIp's family bound to bindIp and that port, e.g. "is bound to 10.0.0.9:8472, not
// 10.0.0.1:8472"; empty when nothing is. Changes nothing.
std::string UdpSocketMismatch(int fd, const UnderlayAddr& bindIp, uint16_t portNet);
// Makes an adopted socket's fd what Bound makes: close-on-exec, and blocking (per open file: receives use
// MSG_DONTWAIT, sends block at most SO_SNDTIMEO, as in the process it came from). False when fcntl fails.
bool PrepareAdoptedUdp(int fd);
// The socket's inode (sockets are distinct files): 0 when fstat fails.
uint64_t SocketInode(int fd);

// UDP_SEGMENT is available on this socket (Linux ≥ 4.18).
bool ProbeUdpGso(const UdpSocket& s);
// Turns UDP_GRO on; true when the kernel confirms it (getsockopt, Linux ≥ 5.12).
bool EnableUdpGro(const UdpSocket& s);

}  // namespace vxtun
