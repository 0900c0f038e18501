#include "tun_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace vxtun {

SysError::SysError(const std::string& what, const std::string& sys, int e)
    : std::runtime_error(what + ": " + ErrnoName(e) + " (" + strerror(e) + ")"), err(e), syscall(sys) {}

std::string ErrnoName(int e) {
  const char* n = strerrorname_np(e);
  return n ? n : "E" + std::to_string(e);
}

TunQueue::~TunQueue() {
  if (fd_ >= 0) close(fd_);
}

int TunQueue::ReadBatch(uint8_t* const* bufs, size_t cap, size_t* sizes, int n) {
  int got = 0;
  while (got < n) {
    const ssize_t r = read(fd_, bufs[got], cap);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return got > 0 ? got : -errno;
    }
    sizes[got++] = static_cast<size_t>(r);
  }
  return got;
}

int TunQueue::WriteBatch(const struct iovec* pkts, int n, uint64_t* failed) {
  for (int i = 0; i < n; i++) {
    ssize_t r;
    do r = write(fd_, pkts[i].iov_base, pkts[i].iov_len);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
      // EBADFD/EIO: the device is gone; anything else (EINVAL for a packet the stack rejects)
      // costs only this packet.
      if (errno == EBADFD || errno == EIO || errno == EBADF) return -errno;
      ++*failed;
    }
  }
  return n;
}

std::vector<std::unique_ptr<TunQueue>> OpenTunQueues(const std::string& name, int queues) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw SysError("device name " + name, "TUNSETIFF", EINVAL);
  std::vector<std::unique_ptr<TunQueue>> out;
  for (int q = 0; q < queues; q++) {
    const int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw SysError("opening /dev/net/tun", "open", errno);
    out.push_back(std::make_unique<TunQueue>(fd));
    struct ifreq ifr = {};
    strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
    if (q == 0) ifr.ifr_flags |= IFF_TUN_EXCL;  // never attach to someone else's device
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      const int e = errno;
      if (e == EBUSY || e == EINVAL)
        throw SysError("creating TUN device " + name + " (a device of that name exists)", "ioctl(TUNSETIFF)", e);
      throw SysError("creating TUN device " + name, "ioctl(TUNSETIFF)", e);
    }
  }
  return out;
}

}  // namespace vxtun
