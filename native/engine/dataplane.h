// The dataplane: TUN queues, UDP sockets, workers and the forwarding table of one device.
// Sockets: of bindIp's family, and on a dual-stack node (bindIp6 set) of IPv6 too: each worker then has a
// receive socket per family (one receive thread serves both) and transmit sockets of both families.
// Lifecycle: construct (opens the device and sockets; throws SysError) → [the caller configures
// the device: MTU, addresses, up] → Start (probes offloads, starts the workers) → SetTable… →
// Close. Close is idempotent: it stops and joins every thread, then closes every fd (removing the
// device, unless another process holds queues of it).
// Handover (src/dataplane/types.ts DataplaneHandover; src/handover/ drives it): the running dataplane's ExportFds
// are sent to the new process, which constructs its dataplane with `adopt` (the fds checked, nothing opened), sets its
// table; the old one Pauses (loops joined, every batch in hand finished); the new one Starts (adopted offloads,
// nothing probed); the old one Closes — or Resumes when the handover failed.
// TUN queue modes (linux/tun_linux.h SetWaiting): a fresh dataplane's transmit loops wait in their reads (the file
// blocking); a handover passes the queues in poll mode (O_NONBLOCK, what every vxtun version expects: Pause restores
// it), and an adopted dataplane polls until QueuesOwned — after the predecessor has released them, when it can no
// longer resume on them (an older vxtun would block in its batch reads on a blocking file).
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/table_holder.h"
#include "engine/worker.h"
#include "linux/tun_linux.h"
#include "linux/udp_linux.h"

namespace vxtun {

struct DataplaneOptions {
  std::string device;
  int workers = 1;
  int txSocketsPerWorker = 4;  // outer source ports per worker
  uint16_t port = 8472;        // host byte order
  UnderlayAddr bindIp;         // this node's underlay address; the sockets are of its family
  UnderlayAddr bindIp6;        // a dual-stack node's IPv6 address (bindIp then IPv4); none: single-family
  size_t mtu = 1450;           // the TUN device's MTU
  RxPolicy policy;
  // Take over another dataplane's fds instead of opening the device and sockets: adoptFds in ExportFds' order for
  // these options (AdoptFdCount of them), owned by the dataplane from the constructor on (all closed when it
  // throws); each is checked (linux/tun_linux.h TunQueueMismatch, linux/udp_linux.h UdpSocketMismatch), a
  // mismatch is SysError EINVAL naming the fd. Start then runs the loops with adoptOffloads, probing nothing.
  bool adopt = false;
  std::vector<int> adoptFds;
  OffloadSet adoptOffloads;
};

// How many fds ExportFds gives for these options, and adopt takes: the TUN queues (one per worker), then per family
// (bindIp's, then bindIp6's when set) the receive sockets (one per worker), then the transmit sockets
// (txSocketsPerWorker per worker, worker-major).
size_t AdoptFdCount(const DataplaneOptions& o);
// Closes each distinct non-negative fd of `fds` once (an adopt that failed before its fds had owners).
void CloseAdoptFds(const std::vector<int>& fds);

struct DataplaneStats {
  uint64_t txPackets = 0, txBytes = 0, txErrors = 0, txTsoSplit = 0;
  uint64_t rxPackets = 0, rxBytes = 0, rxErrors = 0, rxCsumCompleted = 0, rxSuperSplit = 0, rxCoalesced = 0;
  uint64_t txRco = 0, rxRco = 0;  // packets sent / written with remote checksum offload
  uint64_t txDrops[kVerdictCount] = {};
  uint64_t rxDrops[kVerdictCount] = {};
  OffloadSet offloads;          // as in use now
  uint64_t captureDropped = 0;  // capture records lost to a full ring (all captures, ever)
  uint64_t captureMatched = 0;  // packets that passed a capture's filter (all captures, ever)
  int captureSessions = 0;      // captures running now
  uint64_t rxSocketDrops = 0;   // datagrams the kernel dropped at the receive sockets (buffer full): never seen
};

class Dataplane {
 public:
  explicit Dataplane(const DataplaneOptions& o);
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Probes each offload in `want` and starts the workers with those that work; returns them. An adopted
  // dataplane ignores `want`: it probes nothing, changes no offload setting, and runs with the adopted offloads.
  OffloadSet Start(const OffloadSet& want, FatalFn fatal);
  // The fds in AdoptFdCount's order (still owned here); empty once closed.
  std::vector<int> ExportFds() const;
  // Stops the loops and joins their threads, each loop finishing the batch in hand (nothing read is lost); packets
  // arriving meanwhile wait in the TUN queues and socket buffers. No-op before Start, when paused or closed.
  void Pause();
  // Starts the paused loops again (same offloads, table and counters). No-op unless paused.
  void Resume();
  bool paused() const { return paused_; }
  // An adopted dataplane's queues are this process's alone from now on: its transmit loops switch to waiting reads
  // (woken to do so now). A fresh dataplane's are from the start.
  void QueuesOwned();
  void SetTable(std::unique_ptr<Table> t) { table_.Replace(std::move(t)); }
  // The incremental verbs: publishes Table::Update of the current table; false (and *err, the table
  // unchanged) when the result would be invalid. JS thread only, like SetTable.
  bool UpdatePeers(std::vector<PeerEntry> upsert, const std::vector<std::string>& remove, std::string* err) {
    auto t = Table::Update(table_.Current(), std::move(upsert), remove, err);
    if (!t) return false;
    table_.Replace(std::move(t));
    return true;
  }
  DataplaneStats Stats() const;
  // Packet capture (capture.h); the hub exists from construction, the loops use it once started.
  CaptureHub& capture() { return *capture_; }
  void Close();
  bool closed() const { return closed_; }
  int workers() const { return static_cast<int>(tun_.size()); }

 private:
  void Open(const DataplaneOptions& o);
  void Adopt(const DataplaneOptions& o);  // engine/dataplane_adopt.cc
  void CheckAdopted() const;
  void SignalStop();

  DataplaneOptions opts_;  // adoptFds cleared: the fds are tun_'s and fams_'s
  TableHolder table_;
  std::vector<std::unique_ptr<TunQueue>> tun_;
  // Per family this node has (bindIp's first, then bindIp6's): one receive socket per worker and
  // txSocketsPerWorker transmit sockets per worker.
  struct FamilySockets {
    uint8_t family = 0;                          // 4 or 6
    std::vector<std::unique_ptr<UdpSocket>> rx;  // workers
    std::vector<std::unique_ptr<UdpSocket>> tx;  // workers × txSocketsPerWorker
  };
  std::vector<FamilySockets> fams_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<CaptureHub> capture_;
  OffloadSet offloads_;
  int stopFd_ = -1;
  std::atomic<bool> stopping_{false};  // the loops stop after their batch in hand (worker.h)
  std::atomic<bool> queuesOwned_;      // the transmit loops may wait in their TUN reads (QueuesOwned)
  bool started_ = false;
  bool paused_ = false;
  bool closed_ = false;
  std::mutex mu_;  // guards Start/Pause/Resume/Close
};

}  // namespace vxtun
