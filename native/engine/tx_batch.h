// The transmit loop's per-batch work (TUN → VXLAN → UDP), callable without threads or real fds: the
// worker's transmit thread waits until its TUN queue is readable and calls Run until it returns 0; the
// fuzzer (native/fuzz/tx_loop_fuzz.cc) calls Run over fake I/O.
//
// One Run:
//   1. read up to kBatch packets or kBatchBytes from the TUN queue, each with its virtio-net header placed
//      so the packet starts 22 bytes into its buffer (or scattered for the predicted TSO layout, core/tso.h);
//   2. online in the table: classify each packet (ParseInnerIp, LPM on the inner destination) and write
//      the VXLAN+Ethernet prefix in front of it, over the spent virtio-net header; a NEEDS_CSUM packet gets
//      its checksum finished (core/tso.h); a TSO super-packet is planned into per-segment header blocks plus
//      payload iovecs (no payload copy) and becomes UDP GSO messages of ≤ 64 datagrams / 65,507 bytes, or
//      single datagrams when UDP GSO is off; a datagram that cannot fit 65,507 bytes (an MTU above the
//      cap in src/config/types.ts MAX_MTU) is not sent and counted as a send error;
//   3. offline: one UdpSender::SendBatch per transmit socket used (the inner flow hash picks the socket).
#pragma once
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/fdb.h"
#include "core/tso.h"
#include "engine/io.h"
#include "engine/loop_settings.h"
#include "engine/table_holder.h"

namespace vxtun {

class TxBatch {
 public:
  TxBatch(int id, TunIO* tun, std::vector<UdpSender*> senders, TableHolder* table, TableHolder::ReaderSlot* slot,
          const WorkerSettings& s, Counters* c);
  TxBatch(const TxBatch&) = delete;
  TxBatch& operator=(const TxBatch&) = delete;
  ~TxBatch();

  // One batch. Returns 1 when the queue may hold more, 0 when it is drained, or a negative errno when the
  // loop must end (FatalMessage says why).
  int Run();
  std::string FatalMessage(int rc) const;

  // What every Run so far did with the packets it read (for the fuzzer's accounting): each is forwarded
  // (as one or more datagrams), dropped under a reason (Counters::drops) or too big for UDP (tooBig; its
  // segments are added to Counters::errors).
  struct Tally {
    uint64_t read = 0, forwarded = 0, tooBig = 0;
  };
  const Tally& tally() const { return tally_; }
  // Back to the state of a new batch (the arrays' contents aside: no layout predicted, nothing failed,
  // an empty tally): the fuzzer reuses one batch, whose arrays are megabytes, for every input.
  void Reset();

 private:
  int SendPending(uint64_t* failed);
  struct Arrays;
  void SetLayout(const TsoLayout& l);
  int id_;
  TunIO* tun_;
  std::vector<UdpSender*> senders_;
  TableHolder* table_;
  TableHolder::ReaderSlot* slot_;
  const WorkerSettings& settings_;
  Counters* c_;
  bool sendFailed_ = false;
  Tally tally_;
  std::unique_ptr<Arrays> a_;
};

}  // namespace vxtun
