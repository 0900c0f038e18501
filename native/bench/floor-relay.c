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
// With VXTUN_RELAY_VXLAN=1 it sends and receives valid VXLAN instead, doing only what validity asks (see
// tun_to_udp_vxlan below; vxtun bench lab --floor-vxlan).
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

// A system call repeated while a signal interrupts it (GNU statement expression; cc builds this file).
#define RETRY_EINTR(call)                        \
  ({                                             \
    ssize_t r_;                                  \
    do r_ = (call);                              \
    while (r_ < 0 && errno == EINTR);            \
    r_;                                          \
  })

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
    const ssize_t r = RETRY_EINTR(sendmsg(udp_fd, &mh, 0));
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

/**
 * Receives one (GRO-coalesced) message into buf and counts it; *gso is its segment size (n when not coalesced).
 * Returns its length, or 0 for one to skip (truncated).
 */
static size_t recv_gro(uint8_t* buf, size_t cap, size_t* gso) {
  char ctrl[CMSG_SPACE(sizeof(int))];
  for (;;) {
    struct iovec iov = {buf, cap};
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
    *gso = (size_t)n;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int g;
        memcpy(&g, CMSG_DATA(c), sizeof(g));
        if (g > 0) *gso = (size_t)g;
        rx.recv_coalesced++;
      }
    if (mh.msg_flags & MSG_TRUNC) {
      rx.truncated++;
      return 0;
    }
    return (size_t)n;
  }
}

/** One TUN write, counted. */
static void write_tun(struct iovec* iov, int n) {
  const ssize_t w = RETRY_EINTR(writev(tun_fd, iov, n));
  if (w < 0) {
    rx.write_errs++;
    rx.last_write_errno = (uint64_t)errno;
    return;
  }
  rx.writes++;
}

static void* udp_to_tun(void* arg) {
  (void)arg;
  static uint8_t buf[BUF_BYTES];
  for (;;) {
    size_t gso;
    const size_t n = recv_gro(buf, sizeof(buf), &gso);
    if (n == 0) continue;
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
    write_tun(out, ni == 0 ? 1 : ni);
  }
  return NULL;
}

// ---- VXTUN_RELAY_VXLAN=1: the least work of a VALID VXLAN endpoint (vxtun bench lab --floor-vxlan) ----
//
// The same threads, but what goes on the wire is VXLAN as kernel VXLAN and vxtun send it: every datagram one inner
// Ethernet frame with its own IPv4 + TCP headers. Transmit: a TSO super-packet is cut into MSS segments, each sent as
// two iovecs (its 22-byte VXLAN + Ethernet prefix with its IP/TCP headers, written in a scratch block; its payload in
// place) in UDP_SEGMENT messages of at most 65507 bytes (two per 64 KB super-packet, as vxtun). Per segment only what
// validity asks: IP total length, id and header checksum, TCP sequence and flags, and the TCP checksum field left as
// the pseudo-header seed with remote checksum offload (RCO, as vxtun's dataplane.remoteChecksum) so no payload is
// summed. Other packets go as one datagram (RCO when the kernel left a partial checksum). Receive: each GRO-coalesced
// message is parsed datagram by datagram (VXLAN header, IPv4 header checksum); consecutive TCP segments of one flow
// in sequence become one GSO write (one header, then the payloads gathered in place, NEEDS_CSUM over the seed),
// anything else is written alone. No forwarding table, no classification beyond that, no counters but the relay's.
// Inner IPv4 only (the floor's lab); not a dataplane: it trusts its one peer.

#define VX_PREFIX 22  // VXLAN 8 + inner Ethernet 14
#define VX_MAX_HDR (VX_PREFIX + 60 + 60)
#define VX_MAX_SEGS 128
static int vxlan_mode = 0;  // VXTUN_RELAY_VXLAN=1

static uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) acc += (uint32_t)(p[n - 1] << 8);
  return acc;
}
static uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return (uint16_t)acc;
}
static void put16(uint8_t* p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static uint16_t get16(const uint8_t* p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put32(uint8_t* p, uint32_t v) {
  put16(p, (uint16_t)(v >> 16));
  put16(p + 2, (uint16_t)v);
}
static void ipv4_csum(uint8_t* ip, size_t hl) {
  put16(ip + 10, 0);
  put16(ip + 10, (uint16_t)~fold(sum16(ip, hl, 0)));
}
/** The TCP/UDP pseudo-header seed (folded, not inverted) for an IPv4 packet of l4len L4 bytes. */
static uint16_t ipv4_seed(const uint8_t* ip, size_t l4len) {
  return fold(sum16(ip + 12, 8, (uint32_t)ip[9] + (uint32_t)l4len));
}
/** The 22-byte prefix; rco_byte 0: no RCO. */
static void vx_prefix(uint8_t* h, uint8_t rco_byte) {
  static const uint8_t eth[14] = {0x0a, 0, 0, 0, 0, 2, 0x0a, 0, 0, 0, 0, 1, 0x08, 0x00};
  memset(h, 0, 8);
  h[0] = 0x08;
  h[6] = 1;  // VNI 1
  if (rco_byte) {
    h[1] = 0x20;
    h[7] = rco_byte;
  }
  memcpy(h + 8, eth, 14);
}

static void vx_send(struct mmsghdr* mm, int nm) {
  int off = 0;
  while (off < nm) {
    const int r = sendmmsg(udp_fd, mm + off, (unsigned)(nm - off), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      tx.send_errs++;
      tx.last_send_errno = (uint64_t)errno;
      return;
    }
    tx.sends += (uint64_t)r;
    off += r;
  }
}

/**
 * Sends one IPv4 TCP super-packet (ip, iplen; hl, th its header lengths, mss its segment size) as VXLAN. With
 * `scattered` its segment k's payload already lies in block k of sbuf (the scattered read below), and each UDP_SEGMENT
 * message is one contiguous span; else the payloads are gathered in place from ip, two iovecs per segment.
 */
#define VX_BLOCKS_BYTES (2 * BUF_BYTES)
static uint8_t sbuf[VX_BLOCKS_BYTES];
static void vx_send_tso(uint8_t* ip, size_t iplen, size_t hl, size_t th, size_t mss, int scattered) {
  static uint8_t hdrs[VX_MAX_SEGS * VX_MAX_HDR];
  static uint8_t tmpl[120];
  static struct iovec iov[2 * VX_MAX_SEGS];
  static struct mmsghdr mm[VX_MAX_SEGS];
  static char ctrl[VX_MAX_SEGS][CMSG_SPACE(sizeof(uint16_t))];
  const size_t hdr = hl + th, payload = iplen - hdr, segs = (payload + mss - 1) / mss;
  const size_t dgram = VX_PREFIX + hdr + mss, per_msg = 65507 / dgram;
  if (segs > VX_MAX_SEGS || hdr > sizeof(tmpl)) {
    tx.oversize++;
    return;
  }
  memcpy(tmpl, ip, hdr);
  const uint16_t id0 = get16(tmpl + 4);
  const uint32_t seq0 = get32(tmpl + hl + 4);
  const uint8_t flags = tmpl[hl + 13];
  int nm = 0;
  for (size_t k = 0; k < segs; k++) {
    const size_t len = payload - k * mss < mss ? payload - k * mss : mss;
    uint8_t* h = scattered ? sbuf + k * dgram : hdrs + k * VX_MAX_HDR;
    vx_prefix(h, (uint8_t)((14 + hl) >> 1));
    uint8_t* sip = h + VX_PREFIX;
    memcpy(sip, tmpl, hdr);
    put16(sip + 2, (uint16_t)(hdr + len));
    put16(sip + 4, (uint16_t)(id0 + k));
    ipv4_csum(sip, hl);
    uint8_t* tcp = sip + hl;
    put32(tcp + 4, seq0 + (uint32_t)(k * mss));
    uint8_t f = flags;
    if (k + 1 < segs) f &= (uint8_t)~0x09;  // FIN, PSH only on the last
    if (k > 0) f &= (uint8_t)~0x80;         // CWR only on the first
    tcp[13] = f;
    put16(tcp + 16, ipv4_seed(sip, th + len));
    if (k % per_msg == 0) {  // a new UDP_SEGMENT message
      struct msghdr* m = &mm[nm].msg_hdr;
      memset(&mm[nm], 0, sizeof(mm[nm]));
      m->msg_iov = &iov[scattered ? (size_t)nm : 2 * k];
      m->msg_control = ctrl[nm];
      m->msg_controllen = sizeof(ctrl[nm]);
      struct cmsghdr* c = CMSG_FIRSTHDR(m);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const uint16_t g = (uint16_t)dgram;
      memcpy(CMSG_DATA(c), &g, sizeof(g));
      if (scattered) {
        iov[nm] = (struct iovec){h, 0};
        m->msg_iovlen = 1;
      }
      nm++;
    }
    if (scattered) {
      iov[nm - 1].iov_len += VX_PREFIX + hdr + len;
    } else {
      iov[2 * k] = (struct iovec){h, VX_PREFIX + hdr};
      iov[2 * k + 1] = (struct iovec){ip + hdr + k * mss, len};
      mm[nm - 1].msg_hdr.msg_iovlen += 2;
    }
  }
  tx.send_segs += segs;
  vx_send(mm, nm);
}

// The scattered read (as vxtun's native/core/tso.h): with a layout predicted from the last super-packet (its IP+TCP
// header length and MSS), the read puts segment k's payload straight into block k of sbuf ([prefix 22][headers]
// [payload], one datagram each), leaving the room for each segment's headers; block 0 takes the virtio-net header
// and the packet's own headers in front of its payload. A packet of another shape is moved back together first.
static size_t lay_hdr = 0, lay_mss = 0;  // the predicted layout; 0: none (a contiguous read)

static void* tun_to_udp_vxlan(void* arg) {
  (void)arg;
  static uint8_t flat[BUF_BYTES];
  static struct iovec rd[VX_MAX_SEGS + 1];
  static struct iovec iov[2];
  static struct mmsghdr mm;
  for (;;) {
    int nr = 0;
    size_t blk = 0;
    if (lay_mss == 0) {
      rd[nr++] = (struct iovec){sbuf + VX_PREFIX - VNET_HDR_LEN, BUF_BYTES};
    } else {
      blk = VX_PREFIX + lay_hdr + lay_mss;
      rd[nr++] = (struct iovec){sbuf + VX_PREFIX - VNET_HDR_LEN, VNET_HDR_LEN + lay_hdr + lay_mss};
      for (size_t off = blk; off + blk <= VX_BLOCKS_BYTES && nr < VX_MAX_SEGS + 1; off += blk)
        rd[nr++] = (struct iovec){sbuf + off + VX_PREFIX + lay_hdr, lay_mss};
    }
    const ssize_t n = readv(tun_fd, rd, nr);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die("readv(tun)");
    }
    tx.reads++;
    tx.read_bytes += (uint64_t)n;
    if ((uint64_t)n > tx.read_max) tx.read_max = (uint64_t)n;
    if (n < VNET_HDR_LEN + 20) continue;
    struct virtio_net_hdr v;
    memcpy(&v, sbuf + VX_PREFIX - VNET_HDR_LEN, sizeof(v));
    uint8_t* ip = sbuf + VX_PREFIX;
    const size_t iplen = (size_t)n - VNET_HDR_LEN;
    const int spread = nr > 1 && (size_t)n > rd[0].iov_len;
    const size_t hl = (size_t)(ip[0] & 15) * 4;
    const int tso = v.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && v.gso_size >= 64 && (ip[0] >> 4) == 4 && ip[9] == 6 &&
                    iplen >= hl + 20 && iplen > hl + (size_t)(ip[hl + 12] >> 4) * 4;
    const size_t th = tso ? (size_t)(ip[hl + 12] >> 4) * 4 : 0;
    if (spread && !(tso && hl + th == lay_hdr && v.gso_size == lay_mss)) {
      // Another shape than predicted: move it back together (into flat) before anything reads it.
      size_t at = 0;
      for (int k = 0; k < nr && at < iplen; k++) {
        const uint8_t* src = k == 0 ? ip : (const uint8_t*)rd[k].iov_base;
        const size_t room = k == 0 ? rd[0].iov_len - VNET_HDR_LEN : rd[k].iov_len;
        const size_t take = iplen - at < room ? iplen - at : room;
        memcpy(flat + at, src, take);
        at += take;
      }
      ip = flat;
    }
    if (tso) {
      tx.read_gso++;
      if (get16(ip + 2) != iplen) {  // truncated by a read too small for it (an MSS far below the prediction's)
        tx.oversize++;
        continue;
      }
      vx_send_tso(ip, iplen, hl, th, v.gso_size, ip != flat && spread);
      if (hl + th <= 120 && VX_PREFIX + hl + th + v.gso_size <= 65507) {
        lay_hdr = hl + th;
        lay_mss = v.gso_size;
      }
      continue;
    }
    // One datagram; a partial checksum travels with RCO (its start right after the IP header).
    uint8_t rco = 0;
    if ((v.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && v.csum_start == hl && (ip[9] == 6 || ip[9] == 17) &&
        ((14 + hl) >> 1) < 0x80)
      rco = (uint8_t)(((14 + hl) >> 1) | (v.csum_offset == 6 ? 0x80 : 0));
    static uint8_t h[VX_PREFIX];
    vx_prefix(h, rco);
    iov[0] = (struct iovec){h, VX_PREFIX};
    iov[1] = (struct iovec){ip, iplen};
    memset(&mm, 0, sizeof(mm));
    mm.msg_hdr.msg_iov = iov;
    mm.msg_hdr.msg_iovlen = 2;
    tx.send_segs++;
    vx_send(&mm, 1);
  }
  return NULL;
}

// The receive side's run of TCP segments being gathered into one GSO write.
static struct {
  int segs;
  size_t mss, hdr, hl, payload;
  uint32_t next_seq;
  const uint8_t* ip;  // the first segment's IP header (in the receive buffer)
  uint8_t psh;
  struct iovec iov[2 + VX_MAX_SEGS];
} run;

/** Writes one inner packet alone: NEEDS_CSUM over a fresh seed when it came with RCO. */
static void vx_write_one(uint8_t* ip, size_t len, uint8_t rco_byte) {
  struct virtio_net_hdr v = {0};
  if (rco_byte) {
    const size_t start = (size_t)(rco_byte & 0x7f) * 2 - 14, off = rco_byte & 0x80 ? 6 : 16;
    if (start + off + 2 > len) {
      rx.partial++;
      return;
    }
    v.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    v.csum_start = (uint16_t)start;
    v.csum_offset = (uint16_t)off;
    put16(ip + start + off, ipv4_seed(ip, len - start));
  }
  struct iovec iov[2] = {{&v, sizeof(v)}, {ip, len}};
  write_tun(iov, 2);
}

static void vx_flush(void) {
  if (run.segs == 0) return;
  static uint8_t head[VNET_HDR_LEN + 120];
  uint8_t* ip = head + VNET_HDR_LEN;
  memcpy(ip, run.ip, run.hdr);
  const size_t len = run.hdr + run.payload;
  put16(ip + 2, (uint16_t)len);
  ipv4_csum(ip, run.hl);
  if (run.psh) ip[run.hl + 13] |= 0x08;
  put16(ip + run.hl + 16, ipv4_seed(ip, len - run.hl));
  struct virtio_net_hdr* v = (struct virtio_net_hdr*)head;
  memset(v, 0, sizeof(*v));
  v->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  v->csum_start = (uint16_t)run.hl;
  v->csum_offset = 16;
  if (run.segs > 1) {
    v->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    v->gso_size = (uint16_t)run.mss;
    v->hdr_len = (uint16_t)run.hdr;
  }
  run.iov[0] = (struct iovec){head, VNET_HDR_LEN + run.hdr};
  write_tun(run.iov, 1 + run.segs);
  run.segs = 0;
}

static void* udp_to_tun_vxlan(void* arg) {
  (void)arg;
  static uint8_t buf[BUF_BYTES];
  for (;;) {
    size_t gso;
    const size_t n = recv_gro(buf, sizeof(buf), &gso);
    if (n == 0) continue;
    for (size_t off = 0; off < (size_t)n; off += gso) {
      uint8_t* d = buf + off;
      const size_t dl = (size_t)n - off < gso ? (size_t)n - off : gso;
      uint8_t* ip = d + VX_PREFIX;
      if (dl < VX_PREFIX + 20 || d[0] != 0x08 || get16(d + 20) != 0x0800 || (ip[0] >> 4) != 4) {
        rx.partial++;
        continue;
      }
      const size_t hl = (size_t)(ip[0] & 15) * 4, len = get16(ip + 2);
      if (hl < 20 || len < hl || len > dl - VX_PREFIX || fold(sum16(ip, hl, 0)) != 0xffff) {
        rx.partial++;
        continue;
      }
      const uint8_t rco = d[1] == 0x20 ? d[7] : 0;
      const size_t th = ip[9] == 6 && len >= hl + 20 ? (size_t)(ip[hl + 12] >> 4) * 4 : 0;
      const int tcp_data = th >= 20 && len > hl + th && rco == (uint8_t)((14 + hl) >> 1) &&
                           (get16(ip + 6) & 0x3fff) == 0 && (ip[hl + 13] & 0x27) == 0;  // no FIN/SYN/RST/URG
      if (!tcp_data) {
        vx_flush();
        vx_write_one(ip, len, rco);
        continue;
      }
      const size_t seg = len - hl - th;
      const uint32_t seq = get32(ip + hl + 4);
      const int joins = run.segs > 0 && run.segs < VX_MAX_SEGS && run.hdr == hl + th && seq == run.next_seq &&
                        seg <= run.mss && !run.psh && run.payload + seg + run.hdr <= 65535 - 20 &&
                        memcmp(run.ip + 12, ip + 12, 8) == 0 && memcmp(run.ip + run.hl, ip + hl, 4) == 0 &&
                        run.iov[run.segs].iov_len == run.mss;  // only the last segment may be shorter
      if (!joins) {
        vx_flush();
        run.ip = ip;
        run.hl = hl;
        run.hdr = hl + th;
        run.mss = seg;
        run.payload = 0;
        run.psh = 0;
      }
      run.iov[1 + run.segs++] = (struct iovec){ip + hl + th, seg};
      run.payload += seg;
      run.next_seq = seq + (uint32_t)seg;
      run.psh = ip[hl + 13] & 0x08;
    }
    vx_flush();
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
  const char* vx = getenv("VXTUN_RELAY_VXLAN");
  vxlan_mode = vx != NULL && strcmp(vx, "1") == 0;
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
  if (pthread_create(&t1, NULL, vxlan_mode ? tun_to_udp_vxlan : tun_to_udp, NULL) != 0) die("pthread_create");
  if (pthread_create(&t2, NULL, vxlan_mode ? udp_to_tun_vxlan : udp_to_tun, NULL) != 0) die("pthread_create");
  printf("relay ready %s %s:%s -> %s:%s seg %d%s\n", argv[1], argv[2], argv[3], argv[4], argv[5], seg_size,
         vxlan_mode ? " (valid VXLAN)" : iovec_layout ? " (vxtun's iovec layout)" : "");
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
