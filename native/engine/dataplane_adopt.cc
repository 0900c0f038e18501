// Dataplane adoption (dataplane.h DataplaneOptions::adopt): the fds of another process's dataplane become this
// one's. Ownership: every fd given is closed exactly once whatever happens — by CloseAdoptFds when the list itself
// is wrong (count, a negative or repeated fd), else by its owner (TunQueue, UdpSocket) once wrapped. Nothing is
// changed on an fd before every fd passed its check; then each is made what the engine's own open makes (FD_CLOEXEC,
// O_NONBLOCK on TUN queues, blocking sockets: linux/ Prepare…), which for fds from a vxtun changes nothing shared.
#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>

#include <set>
#include <string>

#include "engine/dataplane.h"

namespace vxtun {

namespace {

std::string FamilyName(const UnderlayAddr& a) { return a.IsV6() ? "IPv6" : "IPv4"; }

[[noreturn]] void Mismatch(const std::string& what) { throw SysError(what, "adopt", EINVAL); }

}  // namespace

void CloseAdoptFds(const std::vector<int>& fds) {
  std::set<int> seen;
  for (int fd : fds)
    if (fd >= 0 && seen.insert(fd).second) close(fd);
}

void Dataplane::Adopt(const DataplaneOptions& o) {
  const std::vector<int>& fds = o.adoptFds;
  const size_t want = AdoptFdCount(o);
  std::set<int> seen;
  for (int fd : fds) {
    if (fd < 0 || !seen.insert(fd).second) {
      CloseAdoptFds(fds);
      Mismatch(fd < 0 ? "adopted fd " + std::to_string(fd) + " is not an fd"
                      : "adopted fd " + std::to_string(fd) + " is given twice");
    }
  }
  if (fds.size() != want) {
    CloseAdoptFds(fds);
    Mismatch("adopting " + std::to_string(fds.size()) + " fds, but " + std::to_string(o.workers) + " workers, " +
             std::to_string(o.bindIp6.empty() ? 1 : 2) + " underlay families and " +
             std::to_string(o.txSocketsPerWorker) + " transmit sockets per worker take " + std::to_string(want));
  }
  // Owners first (allocation is all that can fail here; the fds not yet owned are then closed by hand).
  const size_t w = static_cast<size_t>(o.workers), per = w + w * static_cast<size_t>(o.txSocketsPerWorker);
  size_t i = 0;
  try {
    tun_.reserve(w);
    for (; i < w; i++) tun_.push_back(std::make_unique<TunQueue>(fds[i]));
    for (const UnderlayAddr* a : {&o.bindIp, &o.bindIp6}) {
      if (a == &o.bindIp6 && a->empty()) continue;
      FamilySockets& f = fams_.emplace_back();
      f.family = a->family;
      for (size_t k = 0; k < per; k++, i++) (k < w ? f.rx : f.tx).push_back(std::make_unique<UdpSocket>(fds[i]));
    }
  } catch (...) {
    for (; i < fds.size(); i++) close(fds[i]);
    throw;
  }
  CheckAdopted();
  for (const auto& q : tun_)
    if (!PrepareAdoptedTun(q->fd())) throw SysError("adopted fd " + std::to_string(q->fd()), "fcntl", errno);
  for (const auto& f : fams_)
    for (const auto* group : {&f.rx, &f.tx})
      for (const auto& s : *group)
        if (!PrepareAdoptedUdp(s->PollFd()))
          throw SysError("adopted fd " + std::to_string(s->PollFd()), "fcntl", errno);
}

// Every adopted fd against what the options say it is; the first mismatch is thrown, naming the fd and its role
// ("adopted fd 7 (receive socket 2 of IPv4) is bound to 10.0.0.9:8472, not 10.0.0.1:8472"; indices from 0).
void Dataplane::CheckAdopted() const {
  for (size_t q = 0; q < tun_.size(); q++) {
    const int fd = tun_[q]->fd();
    const std::string role = "adopted fd " + std::to_string(fd) + " (TUN queue " + std::to_string(q) + ")";
    const std::string bad = TunQueueMismatch(fd, opts_.device);
    if (!bad.empty()) Mismatch(role + " " + bad);
    for (size_t p = 0; p < q; p++)
      if (SameOpenFile(tun_[p]->fd(), fd))
        Mismatch(role + " is the same queue as fd " + std::to_string(tun_[p]->fd()) + " (TUN queue " +
                 std::to_string(p) + ")");
  }
  std::set<uint64_t> inodes;
  for (const auto& f : fams_) {
    const UnderlayAddr& addr = f.family == opts_.bindIp.family ? opts_.bindIp : opts_.bindIp6;
    for (const bool rx : {true, false}) {
      const auto& group = rx ? f.rx : f.tx;
      for (size_t k = 0; k < group.size(); k++) {
        const int fd = group[k]->PollFd();
        const std::string role = "adopted fd " + std::to_string(fd) + " (" + (rx ? "receive" : "transmit") +
                                 " socket " + std::to_string(k) + " of " + FamilyName(addr) + ")";
        const std::string bad = UdpSocketMismatch(fd, addr, rx ? htons(opts_.port) : 0);
        if (!bad.empty()) Mismatch(role + " " + bad);
        if (!inodes.insert(SocketInode(fd)).second) Mismatch(role + " is a socket given twice (another fd of it)");
      }
    }
  }
}

}  // namespace vxtun
