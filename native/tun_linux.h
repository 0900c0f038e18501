// TUN device queues on Linux (/dev/net/tun). The device is not persistent: it disappears, with
// its addresses and routes, when the last queue is closed — so a crashed daemon leaves nothing.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "io.h"

namespace vxtun {

class TunQueue final : public TunIO {
 public:
  explicit TunQueue(int fd) : fd_(fd) {}
  ~TunQueue() override;
  int ReadBatch(uint8_t* const* bufs, size_t cap, size_t* sizes, int n) override;
  int WriteBatch(const struct iovec* pkts, int n, uint64_t* failed) override;
  int PollFd() const override { return fd_; }

 private:
  int fd_;
};

// Creates TUN device `name` (IFF_TUN|IFF_NO_PI|IFF_MULTI_QUEUE) with `queues` queues, failing with
// EBUSY if a device of that name already exists. Throws SysError.
std::vector<std::unique_ptr<TunQueue>> OpenTunQueues(const std::string& name, int queues);

}  // namespace vxtun
