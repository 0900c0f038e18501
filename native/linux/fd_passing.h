// Unix stream sockets that carry fds (SCM_RIGHTS), for the handover (src/handover/ speaks its protocol over them;
// node/fd_passing_wrap.h is the JavaScript surface, src/dataplane/addon.ts NativeFdPassing its contract). Plain
// Linux syscalls, no napi. Every call is bounded by timeoutMs (a deadline over the whole call, poll between tries);
// a failure throws SysError (ETIMEDOUT when the deadline passed).
// An fd given to Send/SendFds/Recv/Peer may be someone else's (the old process passes the fd of a libuv socket): it
// is used with MSG_DONTWAIT, its flags are never changed and it is never closed.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vxtun {

// At most this many fds per message SendFds sends; Recv takes up to kRecvMaxFds in one message (a few to spare).
constexpr size_t kSendMaxFds = 250;
constexpr size_t kRecvMaxFds = 253;

// Connects a new unix stream socket (SOCK_CLOEXEC, left O_NONBLOCK) to `path`; returns its fd. ENOENT /
// ECONNREFUSED when nobody listens there; a full backlog (EAGAIN) is retried until the deadline.
int FdPassConnect(const std::string& path, int timeoutMs);
// Writes all n bytes (MSG_NOSIGNAL: a closed peer is EPIPE, not a signal).
void FdPassSend(int fd, const uint8_t* data, size_t n, int timeoutMs);
// Sends copies of `fds` in messages of at most kSendMaxFds, each message one '\n' byte; none when fds is empty.
void FdPassSendFds(int fd, const std::vector<int>& fds, int timeoutMs);

struct FdPassReceived {
  std::vector<uint8_t> data;  // empty: end of stream
  std::vector<int> fds;       // close-on-exec; the caller owns them
};
// One read of at most maxBytes (> 0) and the fds that came with them. A message whose fds did not all fit
// (MSG_CTRUNC) throws EMSGSIZE, after closing those that came.
FdPassReceived FdPassRecv(int fd, size_t maxBytes, int timeoutMs);

struct FdPassPeer {
  pid_t pid;
  uid_t uid;
  gid_t gid;
};
// The connected peer's credentials (SO_PEERCRED).
FdPassPeer FdPassPeerCred(int fd);
// Closes fd (an EINTR counts as closed, as on Linux it is).
void FdPassClose(int fd);

}  // namespace vxtun
