#include "udp_linux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "constants.h"

namespace vxtun {

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) close(fd_);
}

int UdpSocket::RecvBatch(uint8_t* const* bufs, size_t cap, size_t* sizes, uint32_t* srcIps, int n) {
  struct mmsghdr msgs[kBatch];
  struct iovec iovs[kBatch];
  struct sockaddr_in addrs[kBatch];
  if (n > kBatch) n = kBatch;
  for (int i = 0; i < n; i++) {
    iovs[i] = {bufs[i], cap};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &addrs[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(addrs[i]);
  }
  int r;
  do r = recvmmsg(fd_, msgs, static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    // ECONNREFUSED and friends report ICMP errors for earlier sends: not fatal.
    if (errno == EAGAIN || errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) return 0;
    return -errno;
  }
  for (int i = 0; i < r; i++) {
    // A truncated datagram (larger than cap) is reported at its full length; clamp so the
    // classifier sees only what was stored.
    sizes[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 : msgs[i].msg_len;
    srcIps[i] = addrs[i].sin_family == AF_INET ? addrs[i].sin_addr.s_addr : 0;
  }
  return r;
}

int UdpSocket::SendBatch(OutMsg* msgs, int n, uint64_t* failed) {
  struct mmsghdr hdrs[kBatch];
  struct sockaddr_in addrs[kBatch];
  if (n > kBatch) n = kBatch;
  for (int i = 0; i < n; i++) {
    addrs[i] = {};
    addrs[i].sin_family = AF_INET;
    addrs[i].sin_addr.s_addr = msgs[i].dstIp;
    addrs[i].sin_port = msgs[i].dstPort;
    hdrs[i] = {};
    hdrs[i].msg_hdr.msg_name = &addrs[i];
    hdrs[i].msg_hdr.msg_namelen = sizeof(addrs[i]);
    hdrs[i].msg_hdr.msg_iov = msgs[i].iov;
    hdrs[i].msg_hdr.msg_iovlen = static_cast<size_t>(msgs[i].iovcnt);
  }
  int done = 0;
  while (done < n) {
    const int r = sendmmsg(fd_, hdrs + done, static_cast<unsigned>(n - done), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EBADF) return -errno;
      // This datagram failed (EAGAIN after the send timeout, ENETUNREACH, EMSGSIZE, …): skip it.
      ++*failed;
      ++done;
      continue;
    }
    done += r;
  }
  return n;
}

std::vector<std::unique_ptr<UdpSocket>> OpenUdpSockets(uint32_t bindIp, uint16_t port, int count) {
  std::vector<std::unique_ptr<UdpSocket>> out;
  char ipText[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &bindIp, ipText, sizeof(ipText));
  const std::string where = std::string(ipText) + ":" + std::to_string(ntohs(port));
  for (int i = 0; i < count; i++) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw SysError("creating UDP socket", "socket", errno);
    out.push_back(std::make_unique<UdpSocket>(fd));
    const int one = 1;
    if (count > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
      throw SysError("setting SO_REUSEPORT", "setsockopt", errno);
    const int bufBytes = kSocketBufBytes;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufBytes, sizeof(bufBytes)) < 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufBytes, sizeof(bufBytes));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufBytes, sizeof(bufBytes)) < 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufBytes, sizeof(bufBytes));
    // Like a kernel VXLAN device (df unset): let the kernel fragment rather than fail the send.
    const int pmtu = IP_PMTUDISC_DONT;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
    // Sends block when the socket buffer is full (back-pressure), but never for long: a stop
    // request must be able to join the thread.
    const struct timeval tv = {0, 100 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = bindIp;
    sa.sin_port = port;
    if (bind(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) < 0)
      throw SysError("binding UDP " + where, "bind", errno);
  }
  return out;
}

}  // namespace vxtun
