// TUN device queues on Linux (/dev/net/tun). The device is not persistent: it disappears, with
// its addresses and routes, when the last queue is closed — so a crashed daemon leaves nothing.
// Every queue is opened with IFF_VNET_HDR (core/virtio.h): reads may carry TSO super-packets and
// NEEDS_CSUM packets once TUNSETOFFLOAD allows them, and writes may carry GSO packets.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/io.h"

namespace vxtun {

class TunQueue final : public TunIO {
 public:
  explicit TunQueue(int fd) : fd_(fd) {}
  ~TunQueue() override;
  int ReadBatch(const struct iovec* const* iovs, const int* counts, size_t* sizes, int n, size_t budget,
                bool wait) override;
  // Waiting mode: the file is blocking, so the waiting read waits; poll mode: the file is O_NONBLOCK, as
  // OpenTunQueues opens it. The flag belongs to the open file, which a handover shares with the other process, so
  // every read that must not wait says so itself (preadv2 RWF_NOWAIT) in either mode. A kernel whose TUN refuses
  // RWF_NOWAIT (EOPNOTSUPP) puts the queue in poll mode for good at its first such read.
  bool SetWaiting(bool on) override;
  bool waiting() const override { return waiting_; }
  int WriteBatch(const struct iovec* iov, const int* counts, const int* weights, int n, uint64_t* failed) override;
  int PollFd() const override { return fd_; }
  int fd() const { return fd_; }

 private:
  int fd_;
  bool waiting_ = false;
  bool noWaitRefused_ = false;  // RWF_NOWAIT was refused (EOPNOTSUPP): poll mode only
};

// Creates TUN device `name` (IFF_TUN|IFF_NO_PI|IFF_MULTI_QUEUE, plus IFF_VNET_HDR unless
// vnetHdr is false) with `queues` queues, failing with EBUSY if a device of that name already
// exists. Throws SysError.
std::vector<std::unique_ptr<TunQueue>> OpenTunQueues(const std::string& name, int queues, bool vnetHdr = true);

// Asks the kernel for TSO reads (TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6) on every queue; false when the
// kernel refuses (then reads stay plain packets).
bool EnableTunTso(const std::vector<std::unique_ptr<TunQueue>>& queues);

// Probes GSO writes (the receive-side coalescing): writes one two-segment TCP GSO packet
// addressed to 127.0.0.1 (a martian on this device, so the stack drops it after accepting the
// write). False when the kernel rejects it, as some kernels have done (e.g. 6.6.44's EINVAL).
bool ProbeTunGsoWrite(TunQueue& q);

// Adoption (engine/dataplane.h DataplaneOptions::adopt): what is wrong with fd as a queue of TUN device `name`
// opened as OpenTunQueues opens them (attached, IFF_TUN|IFF_NO_PI|IFF_MULTI_QUEUE|IFF_VNET_HDR, a kVnetHdrLen
// virtio-net header), e.g. "is a queue of vxtun9, not vxtun0"; empty when nothing is. Changes nothing.
std::string TunQueueMismatch(int fd, const std::string& name);
// Makes an adopted queue's fd what OpenTunQueues makes: close-on-exec (per fd) and O_NONBLOCK (per open file, so
// shared with the process it came from, which has it set too). False when fcntl fails.
bool PrepareAdoptedTun(int fd);
// Whether fds a and b are the same open file (kcmp); false when they are not or the kernel cannot say.
bool SameOpenFile(int a, int b);

}  // namespace vxtun
