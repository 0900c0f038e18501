#include "linux/tun_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>

#include "core/checksum.h"
#include "core/virtio.h"

namespace vxtun {

TunQueue::~TunQueue() {
  if (fd_ >= 0) close(fd_);
}

int TunQueue::ReadBatch(const struct iovec* const* iovs, const int* counts, size_t* sizes, int n, size_t budget,
                        bool wait) {
  int got = 0;
  size_t bytes = 0;
  while (got < n && bytes < budget) {
    const bool waitHere = wait && got == 0;
    const auto t0 = waitHere ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    // Only the waiting read may wait, whatever the file's flag says now (a handover peer may have changed it).
    const ssize_t r = waitHere || noWaitRefused_ ? readv(fd_, iovs[got], counts[got])
                                                 : preadv2(fd_, iovs[got], counts[got], -1, RWF_NOWAIT);
    if (r < 0) {
      if (errno == EINTR) {
        if (waitHere) return 0;
        continue;
      }
      if (errno == EAGAIN) break;
      if (errno == EOPNOTSUPP && !waitHere && !noWaitRefused_) {
        noWaitRefused_ = true;  // this kernel's TUN: no RWF_NOWAIT, so no waiting mode (reads rely on O_NONBLOCK)
        if (!waiting_ || SetWaiting(false)) continue;
        return got > 0 ? got : -EOPNOTSUPP;
      }
      return got > 0 ? got : -errno;
    }
    sizes[got++] = static_cast<size_t>(r);
    bytes += static_cast<size_t>(r);
    if (waitHere && std::chrono::steady_clock::now() - t0 > kSlept) break;
  }
  return got;
}

bool TunQueue::SetWaiting(bool on) {
  if (on && noWaitRefused_) return false;
  const int fl = fcntl(fd_, F_GETFL);
  if (fl < 0) return false;
  const int want = on ? fl & ~O_NONBLOCK : fl | O_NONBLOCK;
  if (want != fl && fcntl(fd_, F_SETFL, want) < 0) return false;
  waiting_ = on;
  return true;
}

int TunQueue::WriteBatch(const struct iovec* iov, const int* counts, const int* weights, int n, uint64_t* failed) {
  for (int i = 0; i < n; i++) {
    ssize_t r;
    do r = writev(fd_, iov, counts[i]);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
      // EBADFD/EIO: the device is gone; anything else (EINVAL for a packet the stack rejects)
      // costs only this packet.
      if (errno == EBADFD || errno == EIO || errno == EBADF) return -errno;
      *failed += weights ? static_cast<uint64_t>(weights[i]) : 1;
    }
    iov += counts[i];
  }
  return n;
}

std::vector<std::unique_ptr<TunQueue>> OpenTunQueues(const std::string& name, int queues, bool vnetHdr) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw SysError("device name " + name, "TUNSETIFF", EINVAL);
  std::vector<std::unique_ptr<TunQueue>> out;
  for (int q = 0; q < queues; q++) {
    const int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw SysError("opening /dev/net/tun", "open", errno);
    out.push_back(std::make_unique<TunQueue>(fd));
    struct ifreq ifr = {};
    strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | (vnetHdr ? IFF_VNET_HDR : 0);
    if (q == 0) ifr.ifr_flags |= IFF_TUN_EXCL;  // never attach to someone else's device
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      const int e = errno;
      if (e == EBUSY || e == EINVAL)
        throw SysError("creating TUN device " + name + " (a device of that name exists)", "ioctl(TUNSETIFF)", e);
      throw SysError("creating TUN device " + name, "ioctl(TUNSETIFF)", e);
    }
    const int hdrLen = static_cast<int>(kVnetHdrLen);
    if (vnetHdr && ioctl(fd, TUNSETVNETHDRSZ, &hdrLen) < 0)
      throw SysError("setting the vnet header size", "ioctl(TUNSETVNETHDRSZ)", errno);
  }
  return out;
}

bool EnableTunTso(const std::vector<std::unique_ptr<TunQueue>>& queues) {
  const unsigned mask = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  for (const auto& q : queues)
    if (ioctl(q->fd(), TUNSETOFFLOAD, mask) < 0) return false;
  return true;
}

bool ProbeTunGsoWrite(TunQueue& q) {
  // 127.0.0.1 → 127.0.0.1, TCP ACK, 2 segments of 8 bytes + a 4-byte tail.
  uint8_t pkt[20 + 20 + 20] = {};
  const size_t total = sizeof(pkt);
  pkt[0] = 0x45;
  pkt[2] = 0;
  pkt[3] = static_cast<uint8_t>(total);
  pkt[8] = 64;
  pkt[9] = 6;
  const uint8_t lo[4] = {127, 0, 0, 1};
  memcpy(pkt + 12, lo, 4);
  memcpy(pkt + 16, lo, 4);
  const uint16_t ipsum = static_cast<uint16_t>(~Fold(SumBytes(pkt, 20)));
  pkt[10] = static_cast<uint8_t>(ipsum >> 8);
  pkt[11] = static_cast<uint8_t>(ipsum);
  uint8_t* tcp = pkt + 20;
  tcp[0] = 0x9c;  // ports 40000 → 9 (discard)
  tcp[1] = 0x40;
  tcp[3] = 9;
  tcp[12] = 5 << 4;
  tcp[13] = 0x10;
  tcp[14] = 0xff;
  InnerIp ip;
  ParseInnerIp(pkt, total, &ip);
  const uint16_t seed = Fold(PseudoHeaderSum(ip, total - 20));
  tcp[16] = static_cast<uint8_t>(seed >> 8);
  tcp[17] = static_cast<uint8_t>(seed);
  VnetHdr v;
  v.flags = kVnetFlagNeedsCsum;
  v.gsoType = kVnetGsoTcpv4;
  v.hdrLen = 40;
  v.gsoSize = 8;
  v.csumStart = 20;
  v.csumOffset = 16;
  uint8_t vh[kVnetHdrLen];
  WriteVnetHdr(vh, v);
  struct iovec iov[2] = {{vh, sizeof(vh)}, {pkt, total}};
  ssize_t r;
  do r = writev(q.fd(), iov, 2);
  while (r < 0 && errno == EINTR);
  return r == static_cast<ssize_t>(kVnetHdrLen + total);
}

std::string TunQueueMismatch(int fd, const std::string& name) {
  struct ifreq ifr = {};
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
    // ENOTTY/EINVAL: not a TUN file; EBADFD: a TUN file attached to no device (or a detached queue).
    const int e = errno;
    return std::string("is not a queue of a TUN device (ioctl(TUNGETIFF): ") + ErrnoName(e) + ")";
  }
  const std::string got(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  if (got != name) return "is a queue of " + got + ", not " + name;
  const int want = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR;
  if ((ifr.ifr_flags & (want | IFF_TAP)) != want) {
    char flags[16];
    snprintf(flags, sizeof(flags), "0x%04x", static_cast<unsigned>(ifr.ifr_flags) & 0xffffu);
    return std::string("is a queue of ") + name + " with flags " + flags +
           ", not IFF_TUN|IFF_NO_PI|IFF_MULTI_QUEUE|IFF_VNET_HDR";
  }
  int hdrLen = 0;
  if (ioctl(fd, TUNGETVNETHDRSZ, &hdrLen) < 0 || hdrLen != static_cast<int>(kVnetHdrLen))
    return "has a virtio-net header of " + std::to_string(hdrLen) + " bytes, not " + std::to_string(kVnetHdrLen);
  return "";
}

bool PrepareAdoptedTun(int fd) {
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)) return false;
  return fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
}

bool SameOpenFile(int a, int b) {
  const pid_t self = getpid();
  return syscall(SYS_kcmp, self, self, KCMP_FILE, a, b) == 0;
}

}  // namespace vxtun
