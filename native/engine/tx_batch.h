// The transmit loop's per-batch work (TUN → VXLAN → UDP), callable without threads or real fds: the
// worker's transmit thread waits until its TUN queue is readable and calls Run until it returns 0; the
// fuzzer (native/fuzz/tx_loop_fuzz.cc) calls Run over fake I/O.
//
// One Run, in named steps:
//   1. Read: up to kBatch packets or kBatchBytes from the TUN queue, each with its virtio-net header placed
//      so the packet starts 22 bytes into its buffer (or scattered for the predicted TSO layout, core/tso.h);
//   2. online in the table, per packet:
//      Classify: ParseInnerIp, LPM on the inner destination, the TSO and NEEDS_CSUM checks (a NEEDS_CSUM
//        packet gets its checksum finished, core/tso.h); a drop is counted and offered to the capture tap;
//      Build: the peer's endpoint is chosen (core/fdb.h ChooseEndpoint over the families this loop has sockets
//        of; none: the packet is not sent and counted as a send error), the VXLAN+Ethernet prefix (destination
//        MAC: the endpoint's) is written in front of the packet, over the spent virtio-net header,
//        the packet offered to the capture tap, and its messages appended: one datagram, or for a TSO
//        super-packet per-segment header blocks plus payload iovecs (no payload copy) as UDP GSO messages of
//        ≤ 64 datagrams / 65,507 bytes (single datagrams when UDP GSO is off); a datagram that cannot fit
//        65,507 bytes (an MTU above the cap in src/config/types.ts MAX_MTU) is not sent and counted as a send error;
//   3. offline: Send, one UdpSender::SendBatch per transmit socket used (the inner flow hash picks the socket
//      among those of the endpoint's family);
//      then Count (the counters and the tally, once per batch).
#pragma once
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/fdb.h"
#include "core/tso.h"
#include "engine/capture.h"
#include "engine/io.h"
#include "engine/loop_settings.h"
#include "engine/table_holder.h"

namespace vxtun {

class TxBatch {
 public:
  TxBatch(int id, TunIO* tun, const TxSenders& senders, TableHolder* table, TableHolder::ReaderSlot* slot,
          const WorkerSettings& s, Counters* c);
  TxBatch(const TxBatch&) = delete;
  TxBatch& operator=(const TxBatch&) = delete;
  ~TxBatch();

  // One batch of at most maxPackets (1..kBatch) packets; wait: its first read waits (TunIO::ReadBatch). Returns 1
  // when the queue may hold more (maxPackets read, or the byte budget), 0 when it is drained (or nothing came),
  // or a negative errno when the loop must end (FatalMessage says why).
  int Run(int maxPackets, bool wait);
  // Packets the last Run read: 0 after a wait that ended with nothing (TxLoop then polls once).
  int lastRead() const { return lastRead_; }
  std::string FatalMessage(int rc) const;

  // What every Run so far did with the packets it read (for the fuzzer's accounting): each is forwarded
  // (as one or more datagrams), dropped under a reason (Counters::drops), too big for UDP (tooBig; its
  // segments are added to Counters::errors), or for a peer without an endpoint of a family this loop has
  // (noEndpoint; added to Counters::errors once per packet).
  struct Tally {
    uint64_t read = 0, forwarded = 0, tooBig = 0, noEndpoint = 0;
  };
  const Tally& tally() const { return tally_; }
  // Back to the state of a new batch (the arrays' contents aside: no layout predicted, nothing failed,
  // an empty tally): the fuzzer reuses one batch, whose arrays are megabytes, for every input.
  void Reset();

 private:
  struct Arrays;
  struct Packet;
  struct Totals;
  void Classify(const Table& t, int i, const TsoLayout& layout, Packet* p);
  void Build(const Packet& p, const PeerEntry& peer, int i, const TsoLayout& layout, Totals* b);
  void BuildDatagram(const Packet& p, const OutMsg& base, Totals* b);
  void BuildInPlace(const Packet& p, const OutMsg& base, bool gso, const TsoLayout& layout, Totals* b);
  void BuildSegments(const Packet& p, const OutMsg& base, bool gso, int i, Totals* b);
  void Tap(const Packet& p, const PeerEntry& peer, const UnderlayAddr& vtep, const TsoLayout& layout);
  int Send(uint64_t* failed);
  void Count(const Totals& b, int n);
  void SetLayout(const TsoLayout& l);
  int id_;
  TunIO* tun_;
  std::vector<UdpSender*> senders_;  // the IPv4 ones (n4_ of them), then the IPv6 ones
  size_t n4_ = 0, n6_ = 0;
  TableHolder* table_;
  TableHolder::ReaderSlot* slot_;
  const WorkerSettings& settings_;
  Counters* c_;
  CaptureTap tap_;
  bool sendFailed_ = false;
  int lastRead_ = 0;
  Tally tally_;
  std::unique_ptr<Arrays> a_;
};

}  // namespace vxtun
