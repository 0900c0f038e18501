// Classification of one packet against the forwarding table: the transmit decision (which peer)
// and the receive-side rules (README "Receive-side rules"). Pure: spans in, verdict out.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/fdb.h"
#include "core/vxlan.h"

namespace vxtun {

struct RxPolicy {
  uint32_t vni = 1;
  uint8_t mac[6] = {};              // our VTEP MAC
  bool acceptUnknownVteps = false;  // debugging switch: accept datagrams from unknown sources
  bool checkInnerSource = true;     // inner source must lie in the sending peer's pod CIDRs
  bool remoteChecksum = false;      // accept remote checksum offload (core/vxlan.h) and send it to peers that do
};

struct TxResult {
  int peer = -1;      // index into the table
  size_t length = 0;  // the IP packet's own length
  uint16_t ethertype = 0;
  uint32_t flowHash = 0;
  InnerIp ip;  // the parsed packet (pointers into it)
};

// A packet read from the TUN: Forward (with the peer), or Short, BadIp, NoRoute.
Verdict ClassifyTx(const Table& t, const uint8_t* pkt, size_t len, TxResult* out);

struct RxResult {
  int peer = -1;      // the sending peer, or -1 when unknown sources are accepted
  size_t length = 0;  // inner IP length; the packet starts at kEncapPrefix
  InnerIp ip;         // the parsed inner packet (pointers into the datagram)
  bool rco = false;   // its checksum was left to us by remote checksum offload that matches it (core/vxlan.h)
};

// A datagram received from outer source src (either family). Checks, in the contract's
// order, and returns the first failure: Short, BadHeader, Vni, UnknownVtep, BadMac, Ethertype,
// BadIp, SpoofedSource, NotLocal — or Forward.
Verdict ClassifyRx(const Table& t, const RxPolicy& pol, const UnderlayAddr& src, const uint8_t* d, size_t len,
                   RxResult* out);

}  // namespace vxtun
