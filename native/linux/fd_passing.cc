#include "linux/fd_passing.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>

#include "engine/io.h"

namespace vxtun {

namespace {

using Clock = std::chrono::steady_clock;

// The deadline of one call: timeoutMs from now.
struct Deadline {
  Clock::time_point at;
  int timeoutMs;
  explicit Deadline(int ms) : at(Clock::now() + std::chrono::milliseconds(ms)), timeoutMs(ms) {}
  int LeftMs() const {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
  }
};

// Waits until fd has `events` (or an error/hang-up, which the next call reports); ETIMEDOUT at the deadline.
void WaitFor(int fd, short events, const Deadline& d, const char* what) {
  for (;;) {
    struct pollfd p = {fd, events, 0};
    const int r = poll(&p, 1, d.LeftMs());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw SysError(what, "poll", errno);
    if (r == 0)
      throw SysError(std::string(what) + ": timed out after " + std::to_string(d.timeoutMs) + " ms", "poll", ETIMEDOUT);
    if (p.revents & POLLNVAL) throw SysError(what, "poll", EBADF);
    return;
  }
}

// Sends one message (all of msg's bytes or none: callers send 1 byte with fds, or loop over partial writes).
ssize_t SendMsgWaiting(int fd, struct msghdr* msg, const Deadline& d, const char* what) {
  for (;;) {
    const ssize_t r = sendmsg(fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw SysError(what, "sendmsg", errno);
    WaitFor(fd, POLLOUT, d, what);
  }
}

}  // namespace

int FdPassConnect(const std::string& path, int timeoutMs) {
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(sa.sun_path))
    throw SysError("connecting to " + path + ": path length", "connect", ENAMETOOLONG);
  memcpy(sa.sun_path, path.data(), path.size());
  const Deadline d(timeoutMs);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw SysError("creating a unix socket", "socket", errno);
  const std::string what = "connecting to " + path;
  try {
    for (;;) {
      if (connect(fd, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)) == 0) return fd;
      const int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN) {  // the listener's backlog is full: try again shortly
        if (d.LeftMs() == 0)
          throw SysError(what + ": timed out after " + std::to_string(timeoutMs) + " ms", "connect", ETIMEDOUT);
        poll(nullptr, 0, d.LeftMs() < 10 ? d.LeftMs() : 10);
        continue;
      }
      if (e != EINPROGRESS) throw SysError(what, "connect", e);
      WaitFor(fd, POLLOUT, d, what.c_str());
      int err = 0;
      socklen_t len = sizeof(err);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) throw SysError(what, "getsockopt", errno);
      if (err != 0) throw SysError(what, "connect", err);
      return fd;
    }
  } catch (...) {
    close(fd);
    throw;
  }
}

void FdPassSend(int fd, const uint8_t* data, size_t n, int timeoutMs) {
  const Deadline d(timeoutMs);
  size_t done = 0;
  while (done < n) {
    struct iovec iov = {const_cast<uint8_t*>(data + done), n - done};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    done += static_cast<size_t>(SendMsgWaiting(fd, &msg, d, "sending on a handover socket"));
  }
}

void FdPassSendFds(int fd, const std::vector<int>& fds, int timeoutMs) {
  const Deadline d(timeoutMs);
  alignas(struct cmsghdr) char ctrl[CMSG_SPACE(kSendMaxFds * sizeof(int))];
  for (size_t at = 0; at < fds.size(); at += kSendMaxFds) {
    const size_t k = fds.size() - at < kSendMaxFds ? fds.size() - at : kSendMaxFds;
    char nl = '\n';
    struct iovec iov = {&nl, 1};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = CMSG_SPACE(k * sizeof(int));
    memset(ctrl, 0, sizeof(ctrl));
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(k * sizeof(int));
    memcpy(CMSG_DATA(c), fds.data() + at, k * sizeof(int));
    SendMsgWaiting(fd, &msg, d, "sending fds on a handover socket");
  }
}

FdPassReceived FdPassRecv(int fd, size_t maxBytes, int timeoutMs) {
  const Deadline d(timeoutMs);
  FdPassReceived out;
  out.data.resize(maxBytes);
  alignas(struct cmsghdr) char ctrl[CMSG_SPACE(kRecvMaxFds * sizeof(int))];
  const char* what = "receiving on a handover socket";
  for (;;) {
    WaitFor(fd, POLLIN, d, what);
    struct iovec iov = {out.data.data(), maxBytes};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof(ctrl);
    const ssize_t r = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (r < 0) throw SysError(what, "recvmsg", errno);
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < n; i++) {
        int got;
        memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        out.fds.push_back(got);
      }
    }
    if (msg.msg_flags & MSG_CTRUNC) {
      for (int f : out.fds) close(f);
      throw SysError(std::string(what) + ": more fds than " + std::to_string(kRecvMaxFds) + " in one message",
                     "recvmsg", EMSGSIZE);
    }
    out.data.resize(static_cast<size_t>(r));
    return out;
  }
}

FdPassPeer FdPassPeerCred(int fd) {
  struct ucred cred = {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    throw SysError("reading the handover peer's credentials", "getsockopt", errno);
  return FdPassPeer{cred.pid, cred.uid, cred.gid};
}

void FdPassClose(int fd) {
  if (close(fd) < 0 && errno != EINTR) throw SysError("closing a handover socket", "close", errno);
}

}  // namespace vxtun
