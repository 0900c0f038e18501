// "Copy floor" relay: the least work any TUN + UDP-socket userspace dataplane has to do per node.
//
//   relay TUN_NAME BIND_IP BIND_PORT PEER_IP PEER_PORT [SEGMENT_SIZE]
//
// It opens TUN_NAME (IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, 10-byte virtio-net header, TSO4/TSO6/CSUM
// offloads: the same as vxtun's native engine) and a UDP socket bound to BIND_IP:BIND_PORT and
// connected to PEER_IP:PEER_PORT, with UDP_GRO on. Then two threads:
//
//   tun → udp  read() one TSO super-packet [vnet header + IP packet] and send it unchanged as ONE
//              sendmsg() with UDP_SEGMENT (segments of SEGMENT_SIZE, default 1472 = 1500 − 28);
//   udp → tun  recvmsg() the GRO-coalesced datagram (= the bytes the peer read) and write() it to
//              the TUN unchanged (the vnet header is at its front).
//
// No checksums, no segmentation, no VXLAN header, no parsing beyond one length check: what is left
// is the four copies (TUN read, UDP send, UDP receive, TUN write) and the syscalls. This is NOT a
// valid VXLAN endpoint; it only measures the ceiling of the TUN + UDP design.
//
// With VXTUN_RELAY_IOVECS=1 in its environment it moves the same bytes with vxtun's iovec layout
// instead of one iovec per syscall: each UDP_SEGMENT send gathers two iovecs per datagram (a 74-byte
// "header" and the rest, as vxtun sends prefix + headers and the payload in place), and each TUN
// write one iovec for the headers plus one per gso_size payload (as vxtun's coalesced writes). The
// difference to the plain relay is what gathering costs the kernel's copies (vxtun bench lab --floor-iovecs).
//
// Prints "relay ready" on stdout once the device and socket exist; on SIGTERM/SIGINT prints its
// counters as one JSON line on stderr and exits 0. The TUN device vanishes with the process.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define VNET_HDR_LEN 10        // struct virtio_net_hdr, as native/core/virtio.h kVnetHdrLen
#define MAX_UDP_PAYLOAD 65507  // 65535 − 20 (IPv4) − 8 (UDP)
#define BUF_BYTES (128 * 1024)

static int tun_fd = -1, udp_fd = -1;
static int seg_size = 1472;
static int iovec_layout = 0;  // VXTUN_RELAY_IOVECS=1
#define MAX_IOVECS 256

// Each counter is written by one thread only; main reads them once at exit.
static struct {
  uint64_t reads, read_bytes, read_max, read_gso, oversize, sends, send_segs, send_errs, last_send_errno;
  char pad[64];
} tx;
static struct {
  uint64_t recvs, recv_bytes, recv_max, recv_coalesced, partial, longer, truncated, writes, write_errs, last_write_errno;
  char pad[64];
} rx;

static void die(const char* what) {
  fprintf(stderr, "relay: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void* tun_to_udp(void* arg) {
  (void)arg;
  static uint8_t buf[BUF_BYTES];
  char ctrl[CMSG_SPACE(sizeof(uint16_t))];
  for (;;) {
    const ssize_t n = read(tun_fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die("read(tun)");
    }
    tx.reads++;
    tx.read_bytes += (uint64_t)n;
    if ((uint64_t)n > tx.read_max) tx.read_max = (uint64_t)n;
    if (n > VNET_HDR_LEN && ((struct virtio_net_hdr*)buf)->gso_type != VIRTIO_NET_HDR_GSO_NONE) tx.read_gso++;
    if (n > MAX_UDP_PAYLOAD) {  // does not fit one UDP datagram (a GRO-built or BIG TCP super-packet)
      tx.oversize++;
      continue;
    }
    struct iovec iov[MAX_IOVECS];
    size_t ni = 0;
    if (iovec_layout) {  // per datagram: 74 bytes, then the rest
      for (size_t off = 0; off < (size_t)n; off += (size_t)seg_size) {
        const size_t len = (size_t)n - off < (size_t)seg_size ? (size_t)n - off : (size_t)seg_size;
        const size_t h = len < 74 ? len : 74;
        iov[ni++] = (struct iovec){buf + off, h};
        if (len > h) iov[ni++] = (struct iovec){buf + off + h, len - h};
      }
    } else {
      iov[ni++] = (struct iovec){buf, (size_t)n};
    }
    struct msghdr mh = {0};
    mh.msg_iov = iov;
    mh.msg_iovlen = ni;
    if (n > seg_size) {
      mh.msg_control = ctrl;
      mh.msg_controllen = sizeof(ctrl);
      struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const uint16_t gso = (uint16_t)seg_size;
      memcpy(CMSG_DATA(c), &gso, sizeof(gso));
    }
    ssize_t r;
    do r = sendmsg(udp_fd, &mh, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
      tx.send_errs++;
      tx.last_send_errno = (uint64_t)errno;
      continue;
    }
    tx.sends++;
    tx.send_segs += ((uint64_t)n + (uint64_t)seg_size - 1) / (uint64_t)seg_size;
  }
  return NULL;
}

/** The length [vnet header + IP packet] the datagram should have, from the IP header; 0 if unknown. */
static size_t expected_len(const uint8_t* p, size_t n) {
  if (n < VNET_HDR_LEN + 20) return 0;
  const uint8_t* ip = p + VNET_HDR_LEN;
  switch (ip[0] >> 4) {
    case 4: return VNET_HDR_LEN + (((size_t)ip[2] << 8) | ip[3]);
    case 6: return n < VNET_HDR_LEN + 40 ? 0 : VNET_HDR_LEN + 40 + (((size_t)ip[4] << 8) | ip[5]);
    default: return 0;
  }
}

/**
 * vxtun's TUN write layout for [vnet header + TCP packet] p: one iovec up to the end of the TCP header,
 * then one per gso_size payload. Returns the iovec count, or 0 for one iovec (not TCP, no GSO, too many).
 */
static int payload_iovecs(uint8_t* p, size_t n, struct iovec* iov) {
  const struct virtio_net_hdr* v = (const struct virtio_net_hdr*)p;
  const size_t mss = v->gso_size;
  if (v->gso_type == VIRTIO_NET_HDR_GSO_NONE || mss < 64 || n < VNET_HDR_LEN + 40) return 0;
  const uint8_t* ip = p + VNET_HDR_LEN;
  size_t hl;
  if ((ip[0] >> 4) == 4 && ip[9] == 6) hl = (size_t)(ip[0] & 15) * 4;
  else if ((ip[0] >> 4) == 6 && ip[6] == 6) hl = 40;
  else return 0;
  if (n < VNET_HDR_LEN + hl + 20) return 0;
  const size_t head = VNET_HDR_LEN + hl + (size_t)(ip[hl + 12] >> 4) * 4;
  if (head > n || (n - head) / mss + 2 > MAX_IOVECS) return 0;
  int ni = 0;
  iov[ni++] = (struct iovec){p, head};
  for (size_t off = head; off < n; off += mss) iov[ni++] = (struct iovec){p + off, n - off < mss ? n - off : mss};
  return ni;
}

static void* udp_to_tun(void* arg) {
  (void)arg;
  static uint8_t buf[BUF_BYTES];
  char ctrl[CMSG_SPACE(sizeof(int))];
  for (;;) {
    struct iovec iov = {buf, sizeof(buf)};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctrl;
    mh.msg_controllen = sizeof(ctrl);
    const ssize_t n = recvmsg(udp_fd, &mh, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNREFUSED) continue;
      die("recvmsg(udp)");
    }
    rx.recvs++;
    rx.recv_bytes += (uint64_t)n;
    if ((uint64_t)n > rx.recv_max) rx.recv_max = (uint64_t)n;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) rx.recv_coalesced++;
    if (mh.msg_flags & MSG_TRUNC) {
      rx.truncated++;
      continue;
    }
    // The one check: GRO must have handed back exactly one whole super-packet.
    const size_t want = expected_len(buf, (size_t)n);
    if (want == 0 || (size_t)n < want) {
      rx.partial++;
      continue;
    }
    if ((size_t)n > want) {  // the next super-packet's first segments were merged in: drop all of it
      rx.longer++;
      continue;
    }
    struct iovec out[MAX_IOVECS];
    const int ni = iovec_layout ? payload_iovecs(buf, (size_t)n, out) : 0;
    if (ni == 0) out[0] = (struct iovec){buf, (size_t)n};
    ssize_t w;
    do w = writev(tun_fd, out, ni == 0 ? 1 : ni);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
      rx.write_errs++;
      rx.last_write_errno = (uint64_t)errno;
      continue;
    }
    rx.writes++;
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 6 || argc > 7) {
    fprintf(stderr, "usage: relay TUN_NAME BIND_IP BIND_PORT PEER_IP PEER_PORT [SEGMENT_SIZE]\n");
    return 2;
  }
  if (argc == 7) seg_size = atoi(argv[6]);
  const char* layout = getenv("VXTUN_RELAY_IOVECS");
  iovec_layout = layout != NULL && strcmp(layout, "1") == 0;
  if (seg_size < 64 || seg_size > 65000) {
    fprintf(stderr, "relay: bad segment size %d\n", seg_size);
    return 2;
  }

  tun_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tun_fd < 0) die("open /dev/net/tun");
  struct ifreq ifr = {0};
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL;
  if (ioctl(tun_fd, TUNSETIFF, &ifr) < 0) die("ioctl(TUNSETIFF)");
  const int hdr_len = VNET_HDR_LEN;
  if (ioctl(tun_fd, TUNSETVNETHDRSZ, &hdr_len) < 0) die("ioctl(TUNSETVNETHDRSZ)");
  if (ioctl(tun_fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) die("ioctl(TUNSETOFFLOAD)");

  udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (udp_fd < 0) die("socket");
  const int buf_bytes = 4 << 20;  // as native/core/constants.h kSocketBufBytes
  if (setsockopt(udp_fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf_bytes, sizeof(buf_bytes)) < 0)
    setsockopt(udp_fd, SOL_SOCKET, SO_RCVBUF, &buf_bytes, sizeof(buf_bytes));
  if (setsockopt(udp_fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf_bytes, sizeof(buf_bytes)) < 0)
    setsockopt(udp_fd, SOL_SOCKET, SO_SNDBUF, &buf_bytes, sizeof(buf_bytes));
  const int pmtu = IP_PMTUDISC_DONT;
  setsockopt(udp_fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
  const int one = 1;
  if (setsockopt(udp_fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0) die("setsockopt(UDP_GRO)");
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)atoi(argv[3]));
  if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) die("bad BIND_IP");
  if (bind(udp_fd, (struct sockaddr*)&sa, sizeof(sa)) < 0) die("bind");
  struct sockaddr_in peer = {0};
  peer.sin_family = AF_INET;
  peer.sin_port = htons((uint16_t)atoi(argv[5]));
  if (inet_pton(AF_INET, argv[4], &peer.sin_addr) != 1) die("bad PEER_IP");
  if (connect(udp_fd, (struct sockaddr*)&peer, sizeof(peer)) < 0) die("connect");

  // Only main takes SIGTERM/SIGINT (sigwait); the workers inherit the blocked mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  pthread_t t1, t2;
  if (pthread_create(&t1, NULL, tun_to_udp, NULL) != 0) die("pthread_create");
  if (pthread_create(&t2, NULL, udp_to_tun, NULL) != 0) die("pthread_create");
  printf("relay ready %s %s:%s -> %s:%s seg %d%s\n", argv[1], argv[2], argv[3], argv[4], argv[5], seg_size,
         iovec_layout ? " (vxtun's iovec layout)" : "");
  fflush(stdout);

  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr,
          "{\"event\":\"relay-stats\",\"tun\":\"%s\","
          "\"tunReads\":%llu,\"tunReadBytes\":%llu,\"tunReadMax\":%llu,\"tunReadGso\":%llu,\"oversizeDrops\":%llu,"
          "\"udpSends\":%llu,\"udpSendSegments\":%llu,\"udpSendErrors\":%llu,\"lastSendErrno\":%llu,"
          "\"udpRecvs\":%llu,\"udpRecvBytes\":%llu,\"udpRecvMax\":%llu,\"udpRecvGro\":%llu,"
          "\"partialDrops\":%llu,\"mergedDrops\":%llu,\"truncatedDrops\":%llu,"
          "\"tunWrites\":%llu,\"tunWriteErrors\":%llu,\"lastWriteErrno\":%llu}\n",
          argv[1], (unsigned long long)tx.reads, (unsigned long long)tx.read_bytes, (unsigned long long)tx.read_max,
          (unsigned long long)tx.read_gso, (unsigned long long)tx.oversize, (unsigned long long)tx.sends,
          (unsigned long long)tx.send_segs, (unsigned long long)tx.send_errs, (unsigned long long)tx.last_send_errno,
          (unsigned long long)rx.recvs, (unsigned long long)rx.recv_bytes, (unsigned long long)rx.recv_max,
          (unsigned long long)rx.recv_coalesced, (unsigned long long)rx.partial, (unsigned long long)rx.longer,
          (unsigned long long)rx.truncated, (unsigned long long)rx.writes, (unsigned long long)rx.write_errs,
          (unsigned long long)rx.last_write_errno);
  fflush(stderr);
  _exit(0);
}
