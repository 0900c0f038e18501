// The production addon's `fdPassing` object (src/dataplane/addon.ts NativeFdPassing is its contract): the
// handover's unix-socket calls of linux/fd_passing.h, blocking the JS thread for at most each call's timeoutMs.
// Arguments are checked strictly (fds and timeouts: integers 0..2^31−1; data: a Uint8Array; maxBytes 1..2^30):
// TypeError / RangeError naming the argument. A failed syscall throws the SysError shape (node/sys_error.h), a
// timeout with code ETIMEDOUT.
//
//   connect(path, timeoutMs) → fd           send(fd, data, timeoutMs)        sendFds(fd, fds, timeoutMs)
//   recv(fd, maxBytes, timeoutMs) → {data: Buffer, fds: number[]}           peer(fd) → {pid, uid, gid}
//   close(fd)
#pragma once
#include <napi.h>

namespace vxtun {

Napi::Object FdPassingObject(Napi::Env env);

}  // namespace vxtun
