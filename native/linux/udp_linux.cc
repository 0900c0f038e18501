#include "linux/udp_linux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/constants.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace vxtun {

namespace {
constexpr int kMaxMsgs = 1024;  // UIO_MAXIOV: sendmmsg's vlen limit

// A socket address of either family.
union SockAddr {
  struct sockaddr sa;
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
};

// addr:port (port in network byte order) as a socket address; returns its length (0 for none, which
// the kernel refuses).
socklen_t ToSockAddr(const UnderlayAddr& addr, uint16_t portNet, SockAddr* out) {
  if (addr.IsV6()) {
    out->v6 = {};
    out->v6.sin6_family = AF_INET6;
    memcpy(&out->v6.sin6_addr, addr.bytes, 16);
    out->v6.sin6_port = portNet;
    return sizeof(out->v6);
  }
  out->v4 = {};
  out->v4.sin_family = addr.IsV4() ? AF_INET : AF_UNSPEC;
  memcpy(&out->v4.sin_addr, addr.bytes, 4);
  out->v4.sin_port = portNet;
  return addr.IsV4() ? sizeof(out->v4) : 0;
}

// The sender's address as recvmmsg reported it; an IPv4-mapped IPv6 address (from a dual-stack
// socket) as IPv4, so it matches the peer configured by its IPv4 address. None for any other family.
UnderlayAddr FromSockAddr(const SockAddr& a) {
  if (a.sa.sa_family == AF_INET) return UnderlayAddr::V4Net(a.v4.sin_addr.s_addr);
  if (a.sa.sa_family == AF_INET6) {
    if (IN6_IS_ADDR_V4MAPPED(&a.v6.sin6_addr)) return UnderlayAddr::V4(a.v6.sin6_addr.s6_addr + 12);
    return UnderlayAddr::V6(a.v6.sin6_addr.s6_addr);
  }
  return UnderlayAddr{};
}
}  // namespace

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) close(fd_);
}

int UdpSocket::RecvBatch(uint8_t* const* bufs, size_t cap, size_t* sizes, UnderlayAddr* srcs, uint16_t* gsoSizes, int n,
                         bool wait) {
  struct mmsghdr msgs[kBatch];
  struct iovec iovs[kBatch];
  SockAddr addrs[kBatch];
  alignas(struct cmsghdr) char ctrl[kBatch][CMSG_SPACE(sizeof(int))];
  if (n > kBatch) n = kBatch;
  for (int i = 0; i < n; i++) {
    iovs[i] = {bufs[i], cap};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &addrs[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(addrs[i]);
    msgs[i].msg_hdr.msg_control = ctrl[i];
    msgs[i].msg_hdr.msg_controllen = sizeof(ctrl[i]);
  }
  // The socket is blocking (PrepareAdoptedUdp, OpenUdpSockets): MSG_DONTWAIT, or MSG_WAITFORONE to wait for the first.
  const int flags = wait ? MSG_WAITFORONE : MSG_DONTWAIT;
  int r;
  do r = recvmmsg(fd_, msgs, static_cast<unsigned>(n), flags, nullptr);
  while (r < 0 && errno == EINTR && !wait);
  if (r < 0) {
    // ECONNREFUSED and friends report ICMP errors for earlier sends: not fatal. EINTR: a waiting receive was
    // interrupted (engine/worker.h: the stop signal).
    if (errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
      return 0;
    return -errno;
  }
  for (int i = 0; i < r; i++) {
    // A truncated datagram (larger than cap) cannot be checked: report it empty ("short").
    sizes[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 : msgs[i].msg_len;
    srcs[i] = msgs[i].msg_hdr.msg_namelen > 0 ? FromSockAddr(addrs[i]) : UnderlayAddr{};
    gsoSizes[i] = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int g;
        memcpy(&g, CMSG_DATA(c), sizeof(g));
        if (g > 0 && g < 65536) gsoSizes[i] = static_cast<uint16_t>(g);
      }
    }
  }
  return r;
}

// The datagrams a message makes: its bytes cut at gsoSize (one when it is not a GSO message).
size_t OutMsgDatagrams(const OutMsg& m) {
  if (m.gsoSize == 0) return 1;
  size_t total = 0;
  for (int i = 0; i < m.iovcnt; i++) total += m.iov[i].iov_len;
  return total == 0 ? 1 : (total + m.gsoSize - 1) / m.gsoSize;
}

int UdpSocket::ResendSegments(const OutMsg& m, uint64_t* failed) {
  // Send a GSO message's datagrams one by one: each is an iovec pair (PlanTsoSegments' shape), or a
  // gsoSize slice of a single iovec (PlanTsoInPlace's shape).
  struct mmsghdr hdrs[kBatch];
  struct iovec slices[kBatch];
  SockAddr addr;
  const socklen_t addrLen = ToSockAddr(m.dst, m.dstPort, &addr);
  const bool sliced = m.iovcnt == 1;
  const size_t total = sliced ? m.iov[0].iov_len : 0;
  const int segs = sliced ? static_cast<int>(OutMsgDatagrams(m)) : m.iovcnt / 2;
  int done = 0;
  while (done < segs) {
    const int k = segs - done < kBatch ? segs - done : kBatch;
    for (int j = 0; j < k; j++) {
      hdrs[j] = {};
      hdrs[j].msg_hdr.msg_name = &addr;
      hdrs[j].msg_hdr.msg_namelen = addrLen;
      if (sliced) {
        const size_t off = static_cast<size_t>(done + j) * m.gsoSize;
        const size_t len = total - off < m.gsoSize ? total - off : m.gsoSize;
        slices[j] = {static_cast<uint8_t*>(m.iov[0].iov_base) + off, len};
        hdrs[j].msg_hdr.msg_iov = &slices[j];
        hdrs[j].msg_hdr.msg_iovlen = 1;
      } else {
        hdrs[j].msg_hdr.msg_iov = m.iov + 2 * (done + j);
        hdrs[j].msg_hdr.msg_iovlen = 2;
      }
    }
    const int r = sendmmsg(fd_, hdrs, static_cast<unsigned>(k), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EBADF) return -errno;
      ++*failed;
      ++done;
      continue;
    }
    done += r;
  }
  return 0;
}

int UdpSocket::SendBatch(OutMsg* msgs, int n, uint64_t* failed) {
  struct mmsghdr hdrs[kMaxMsgs];
  SockAddr addrs[kMaxMsgs];
  alignas(struct cmsghdr) static thread_local char ctrl[kMaxMsgs][CMSG_SPACE(sizeof(uint16_t))];
  int base = 0;
  while (base < n) {
    const int k = n - base < kMaxMsgs ? n - base : kMaxMsgs;
    for (int i = 0; i < k; i++) {
      const OutMsg& m = msgs[base + i];
      hdrs[i] = {};
      hdrs[i].msg_hdr.msg_name = &addrs[i];
      hdrs[i].msg_hdr.msg_namelen = ToSockAddr(m.dst, m.dstPort, &addrs[i]);
      hdrs[i].msg_hdr.msg_iov = m.iov;
      hdrs[i].msg_hdr.msg_iovlen = static_cast<size_t>(m.iovcnt);
      if (m.gsoSize > 0) {
        hdrs[i].msg_hdr.msg_control = ctrl[i];
        hdrs[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
        struct cmsghdr* c = CMSG_FIRSTHDR(&hdrs[i].msg_hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        memcpy(CMSG_DATA(c), &m.gsoSize, sizeof(uint16_t));
      }
    }
    int done = 0;
    while (done < k) {
      const int r = sendmmsg(fd_, hdrs + done, static_cast<unsigned>(k - done), 0);
      if (r >= 0) {
        done += r;
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EBADF) return -errno;
      const OutMsg& m = msgs[base + done];
      if (m.gsoSize > 0 && (errno == EIO || errno == EINVAL || errno == EMSGSIZE)) {
        // The route cannot take GSO (EIO: no checksum offload; EINVAL/EMSGSIZE: segment too
        // large for the path): stop using GSO on this socket and resend this one unsegmented.
        gsoBroken_ = true;
        if (ResendSegments(m, failed) < 0) return -EBADF;
      } else {
        // This datagram failed (EAGAIN after the send timeout, ENETUNREACH, …): skip it.
        *failed += OutMsgDatagrams(m);
      }
      ++done;
    }
    base += k;
  }
  return n;
}

namespace {

void TuneSocket(int fd, bool v6) {
  const int bufBytes = kSocketBufBytes;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufBytes, sizeof(bufBytes)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufBytes, sizeof(bufBytes));
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufBytes, sizeof(bufBytes)) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufBytes, sizeof(bufBytes));
  // Like a kernel VXLAN device (df unset): let the kernel fragment rather than fail the send.
  if (v6) {
    const int pmtu = IPV6_PMTUDISC_DONT;
    setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu));
  } else {
    const int pmtu = IP_PMTUDISC_DONT;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
  }
  // Sends block when the socket buffer is full (back-pressure), but never for long: a stop
  // request must be able to join the thread.
  const struct timeval tv = {0, 100 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

std::unique_ptr<UdpSocket> Bound(const UnderlayAddr& bindIp, uint16_t port, bool reuseport, const std::string& where) {
  SockAddr sa;
  const socklen_t saLen = ToSockAddr(bindIp, port, &sa);
  if (saLen == 0) throw SysError("binding UDP " + where + ": no underlay address", "bind", EAFNOSUPPORT);
  const int fd = socket(sa.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SysError("creating UDP socket", "socket", errno);
  auto s = std::make_unique<UdpSocket>(fd);
  const int one = 1;
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
    throw SysError("setting SO_REUSEPORT", "setsockopt", errno);
  // IPv6 only: IPv4 peers are reached through a socket of their own family, never as IPv4-mapped.
  // UDP_NO_CHECK6_TX and UDP_NO_CHECK6_RX stay off: the kernel computes the outer UDP checksum on
  // send and drops zero-checksum datagrams on receive (README "Wire format", IPv6 underlay).
  if (bindIp.IsV6() && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
    throw SysError("setting IPV6_V6ONLY", "setsockopt", errno);
  TuneSocket(fd, bindIp.IsV6());
  if (bind(fd, &sa.sa, saLen) < 0) throw SysError("binding UDP " + where, "bind", errno);
  return s;
}

// "192.0.2.1:8472", "[fd99::1]:8472".
std::string Where(const UnderlayAddr& bindIp, uint16_t port) {
  const std::string ip = bindIp.ToString();
  return (bindIp.IsV6() ? "[" + ip + "]" : ip) + ":" + std::to_string(ntohs(port));
}

}  // namespace

std::vector<std::unique_ptr<UdpSocket>> OpenUdpSockets(const UnderlayAddr& bindIp, uint16_t port, int count) {
  std::vector<std::unique_ptr<UdpSocket>> out;
  for (int i = 0; i < count; i++) out.push_back(Bound(bindIp, port, count > 1, Where(bindIp, port)));
  return out;
}

std::vector<std::unique_ptr<UdpSocket>> OpenTxSockets(const UnderlayAddr& bindIp, int count) {
  std::vector<std::unique_ptr<UdpSocket>> out;
  for (int i = 0; i < count; i++) out.push_back(Bound(bindIp, 0, false, Where(bindIp, 0)));
  return out;
}

std::string UdpSocketMismatch(int fd, const UnderlayAddr& bindIp, uint16_t portNet) {
  int type = 0, domain = 0, proto = 0;
  socklen_t len = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
    return std::string("is not a socket (getsockopt(SO_TYPE): ") + ErrnoName(errno) + ")";
  len = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) domain = -1;
  len = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0) proto = -1;
  const int wantDomain = bindIp.IsV6() ? AF_INET6 : AF_INET;
  if (type != SOCK_DGRAM || proto != IPPROTO_UDP || domain != wantDomain)
    return "is not a UDP socket of " + std::string(bindIp.IsV6() ? "IPv6" : "IPv4") + " (type " + std::to_string(type) +
           ", family " + std::to_string(domain) + ", protocol " + std::to_string(proto) + ")";
  SockAddr sa = {};
  len = sizeof(sa);
  if (getsockname(fd, &sa.sa, &len) < 0) return std::string("has no address (getsockname: ") + ErrnoName(errno) + ")";
  const UnderlayAddr got = FromSockAddr(sa);
  const uint16_t gotPort = sa.sa.sa_family == AF_INET6 ? sa.v6.sin6_port : sa.v4.sin_port;
  const bool portOk = portNet != 0 ? gotPort == portNet : gotPort != 0;
  if (sa.sa.sa_family != wantDomain || !(got == bindIp) || !portOk)
    return "is bound to " + Where(got, gotPort) + ", not " +
           (portNet != 0 ? Where(bindIp, portNet) : bindIp.ToString() + " (a port of its own)");
  return "";
}

bool PrepareAdoptedUdp(int fd) {
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || ((fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)) return false;
  return fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
}

uint64_t SocketInode(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

uint64_t SocketDrops(const UdpSocket& s) {
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
  uint32_t mem[16] = {};  // SK_MEMINFO_VARS is 9 since Linux 4.x; room for more
  socklen_t len = sizeof(mem);
  constexpr int kSkMeminfoDrops = 8;
  if (getsockopt(s.PollFd(), SOL_SOCKET, SO_MEMINFO, mem, &len) < 0 || len < (kSkMeminfoDrops + 1) * sizeof(uint32_t))
    return 0;
  return mem[kSkMeminfoDrops];
}

bool ProbeUdpGso(const UdpSocket& s) {
  int v = 0;
  socklen_t len = sizeof(v);
  return getsockopt(s.PollFd(), SOL_UDP, UDP_SEGMENT, &v, &len) == 0;
}

bool EnableUdpGro(const UdpSocket& s) {
  const int one = 1;
  if (setsockopt(s.PollFd(), SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0) return false;
  int v = 0;
  socklen_t len = sizeof(v);
  return getsockopt(s.PollFd(), SOL_UDP, UDP_GRO, &v, &len) == 0 && v == 1;
}

}  // namespace vxtun
