// The forwarding table: inner destination prefix → peer {name, endpoints}, plus the reverse map
// endpoint address → peer used by the receive-side checks, and the local node's pod CIDRs.
// A peer has one endpoint (public IP + VTEP MAC, either family: core/underlay_addr.h) or two (a dual-stack
// peer: an IPv4 public IP and an IPv6 second endpoint, each with its MAC). ChooseEndpoint says which one a
// packet goes to (README "How it works"; src/dataplane/codec.ts chooseEndpoint is the reference).
//
// A Table is immutable once built and pure: no threads, no syscalls. engine/table_holder.h publishes
// one at a time to the forwarding loops.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/underlay_addr.h"

namespace vxtun {

struct Prefix4 {
  uint32_t addr = 0;  // host byte order, host bits zero
  uint8_t len = 0;
};
struct Prefix6 {
  uint64_t hi = 0, lo = 0;  // host byte order halves, host bits zero
  uint8_t len = 0;
};

// One VXLAN endpoint of a peer: its underlay address and the VTEP MAC that answers there.
struct Vtep {
  UnderlayAddr ip;
  uint8_t mac[6] = {};
};

struct PeerEntry {
  std::string name;
  UnderlayAddr publicIp;  // IPv4 or IPv6 (IPv4 when vtep6 is set)
  uint8_t mac[6] = {};
  Vtep vtep6;  // a dual-stack peer's IPv6 endpoint; vtep6.ip.empty() when the peer has one endpoint
  std::vector<Prefix4> v4;
  std::vector<Prefix6> v6;
  bool remoteChecksum = false;  // accepts remote checksum offload (core/vxlan.h)
};

// Which endpoint a packet of inner family innerFamily (4 or 6) goes to, from a node whose underlay has
// IPv4 (have4) and/or IPv6 (have6): the peer's endpoint of the inner family when this node has that family;
// else the peer's first endpoint (publicIp, then vtep6) of a family this node has; else none.
enum class Endpoint : int8_t { None = -1, Primary = 0, V6 = 1 };
Endpoint ChooseEndpoint(const PeerEntry& p, uint8_t innerFamily, bool have4, bool have6);
inline const UnderlayAddr& EndpointIp(const PeerEntry& p, Endpoint e) {
  return e == Endpoint::V6 ? p.vtep6.ip : p.publicIp;
}
inline const uint8_t* EndpointMac(const PeerEntry& p, Endpoint e) { return e == Endpoint::V6 ? p.vtep6.mac : p.mac; }

// Parses "a.b.c.d/n" or "x::/n" (host bits must be zero). Returns false on any error.
bool ParsePrefix(const std::string& s, Prefix4* v4, Prefix6* v6, bool* isV6);
void Load6(const uint8_t* p, uint64_t* hi, uint64_t* lo);
uint32_t Load4(const uint8_t* p);  // big-endian bytes → host order

class Table {
 public:
  // Builds a table; returns null and sets *err when two peers claim the same prefix, an address is claimed
  // twice across all endpoints, or a second endpoint is not IPv6 or comes with a primary that is not IPv4.
  static std::unique_ptr<Table> Build(std::vector<PeerEntry> peers, std::vector<Prefix4> local4,
                                      std::vector<Prefix6> local6, std::string* err);
  // The incremental verbs (README "How it works": upsert/remove): a copy of base without the peers named in
  // `remove`, with each of `upsert` in place of the peer of the same name (or added), and base's
  // local prefixes; validated like Build. Equal to Build over the resulting peer set (tested).
  static std::unique_ptr<Table> Update(const Table& base, std::vector<PeerEntry> upsert,
                                       const std::vector<std::string>& remove, std::string* err);

  // Longest-prefix match; the peer's index or -1.
  int Lookup4(uint32_t dst) const;
  int Lookup6(uint64_t hi, uint64_t lo) const;
  // The peer with an endpoint at this address (same family, same bytes), or -1.
  int PeerByIp(const UnderlayAddr& ip) const;
  bool IsLocal4(uint32_t a) const;
  bool IsLocal6(uint64_t hi, uint64_t lo) const;
  static bool Contains4(const std::vector<Prefix4>& ps, uint32_t a);
  static bool Contains6(const std::vector<Prefix6>& ps, uint64_t hi, uint64_t lo);

  const PeerEntry& peer(int i) const { return peers_[static_cast<size_t>(i)]; }
  size_t size() const { return peers_.size(); }

 private:
  struct Key6 {
    uint64_t hi, lo;
    bool operator==(const Key6& o) const { return hi == o.hi && lo == o.lo; }
  };
  struct Hash6 {
    size_t operator()(const Key6& k) const { return std::hash<uint64_t>()(k.hi * 0x9e3779b97f4a7c15ull ^ k.lo); }
  };
  struct Level4 {
    uint8_t len;
    uint32_t mask;
    std::unordered_map<uint32_t, int> map;
  };
  struct Level6 {
    uint8_t len;
    uint64_t maskHi, maskLo;
    std::unordered_map<Key6, int, Hash6> map;
  };
  std::vector<PeerEntry> peers_;
  std::vector<Level4> levels4_;  // longest prefix first
  std::vector<Level6> levels6_;
  std::unordered_map<UnderlayAddr, int, UnderlayAddrHash> byIp_;
  std::vector<Prefix4> local4_;
  std::vector<Prefix6> local6_;
};

}  // namespace vxtun
