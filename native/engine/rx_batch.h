// The receive loop's per-batch work (UDP → checks → TUN), callable without threads or real fds: the
// worker's receive thread waits until its socket is readable and calls Run until it returns 0; the
// fuzzer (native/fuzz/rx_loop_fuzz.cc) calls Run over fake I/O.
//
// One Run, in named steps:
//   1. Receive: recvmmsg up to NextRecvBatch messages (UdpIO::RecvBatch), each one datagram or a UDP GRO
//      train of gso-sized datagrams;
//   2. online in the table: Classify every datagram (ClassifyRx: the receive-side rules); count drops;
//   3. Flush: coalesce (plan the TUN writes, core/gro.h: checksum completion, TCP coalescing into GSO writes,
//      super-packets) and capture them (TapWrites) while still online; then offline Write them, one writev
//      each, through the flow's TUN queue, and count them.
// Steps 2-3 repeat within one Run when a batch holds more datagrams than the per-batch arrays:
// a message may be a train of any number of datagrams. Every datagram received is counted once: in
// packets, in errors (the write that carried it failed) or under its drop reason.
// Capture (capture.h): checked once per batch; only then is each packet copied into the loop's ring.
// No allocation, no blocking while online in the table.
#pragma once
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/fdb.h"
#include "core/gro.h"
#include "engine/capture.h"
#include "engine/io.h"
#include "engine/loop_settings.h"
#include "engine/table_holder.h"

namespace vxtun {

class RxBatch {
 public:
  // tun: the worker's own queue (used when s.tunQueues has at most one). Buffers are allocated here, once.
  RxBatch(int id, UdpIO* sock, TunIO* tun, TableHolder* table, TableHolder::ReaderSlot* slot, const WorkerSettings& s,
          Counters* c);
  RxBatch(const RxBatch&) = delete;
  RxBatch& operator=(const RxBatch&) = delete;
  ~RxBatch();

  // One batch. Returns 1 when the socket may hold more (the batch was full), 0 when it is drained, or a
  // negative errno when the loop must end (FatalMessage says why). wait: the receive waits for the first
  // message (UdpIO::RecvBatch); 0 then also means the wait was interrupted.
  int Run(bool wait);
  // The messages the last Run received (0: none, e.g. an interrupted wait).
  int lastReceived() const { return lastReceived_; }
  std::string FatalMessage(int rc) const;
  // Back to the state of a new batch (the arrays' contents aside): the fuzzer reuses one batch, whose
  // arrays are megabytes, for every input.
  void Reset() {
    want_ = kBatch;
    tunGone_ = false;
  }

 private:
  struct Arrays;
  struct Totals;
  bool Classify(const Table** t, int i, Totals* b);
  bool Flush(const Table& t);
  void TapWrites(const Table& t, int nw);
  bool Write(int nw, uint64_t* failed, uint64_t* split);
  bool WriteSplit(TunIO* q, const RxPkt& k, uint64_t* failed);
  int id_;
  int lastReceived_ = 0;
  UdpIO* sock_;
  TunIO* tun_;
  TableHolder* table_;
  TableHolder::ReaderSlot* slot_;
  const WorkerSettings& settings_;
  Counters* c_;
  CaptureTap tap_;
  int want_;
  bool tunGone_ = false;
  std::unique_ptr<Arrays> a_;
};

}  // namespace vxtun
