// The forwarding table: inner destination prefix → peer {name, public IP, VTEP MAC}, plus the
// reverse map public IP → peer used by the receive-side checks, and the local node's pod CIDRs.
//
// A Table is immutable once built. TableHolder publishes one at a time: readers (worker threads)
// take no lock — they mark themselves online, load the current pointer, use it, and go offline
// (quiescent-state based reclamation). The writer (the JS thread) swaps the pointer and frees the
// old table only after every online reader has moved past it. Readers must not block while online.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace vxtun {

struct Prefix4 {
  uint32_t addr = 0;  // host byte order, host bits zero
  uint8_t len = 0;
};
struct Prefix6 {
  uint64_t hi = 0, lo = 0;  // host byte order halves, host bits zero
  uint8_t len = 0;
};

struct PeerEntry {
  std::string name;
  uint32_t publicIp = 0;  // network byte order, as in sockaddr_in
  uint8_t mac[6] = {};
  std::vector<Prefix4> v4;
  std::vector<Prefix6> v6;
};

// Parses "a.b.c.d/n" or "x::/n" (host bits must be zero). Returns false on any error.
bool ParsePrefix(const std::string& s, Prefix4* v4, Prefix6* v6, bool* isV6);
void Load6(const uint8_t* p, uint64_t* hi, uint64_t* lo);
uint32_t Load4(const uint8_t* p);  // big-endian bytes → host order

class Table {
 public:
  // Builds a table; returns null and sets *err when two peers claim the same prefix or public IP.
  static std::unique_ptr<Table> Build(std::vector<PeerEntry> peers, std::vector<Prefix4> local4,
                                      std::vector<Prefix6> local6, std::string* err);
  // The incremental verbs (design.md: upsert/remove): a copy of base without the peers named in
  // `remove`, with each of `upsert` in place of the peer of the same name (or added), and base's
  // local prefixes; validated like Build. Equal to Build over the resulting peer set (tested).
  static std::unique_ptr<Table> Update(const Table& base, std::vector<PeerEntry> upsert,
                                       const std::vector<std::string>& remove, std::string* err);

  // Longest-prefix match; the peer's index or -1.
  int Lookup4(uint32_t dst) const;
  int Lookup6(uint64_t hi, uint64_t lo) const;
  // The peer whose public IP (network byte order) this is, or -1.
  int PeerByIp(uint32_t ipNet) const;
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
  std::unordered_map<uint32_t, int> byIp_;
  std::vector<Prefix4> local4_;
  std::vector<Prefix6> local6_;
};

class TableHolder {
 public:
  struct alignas(64) ReaderSlot {
    std::atomic<uint64_t> epoch{0};  // 0 = offline (quiescent)
  };
  TableHolder();
  ~TableHolder();

  // Must be called before the reader threads start; slots live as long as the holder.
  ReaderSlot* RegisterReader();

  // Reader side: Enter returns the current table (never null); Exit must follow before blocking.
  const Table* Enter(ReaderSlot* s) {
    s->epoch.store(epoch_.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
    return current_.load(std::memory_order_seq_cst);
  }
  static void Exit(ReaderSlot* s) { s->epoch.store(0, std::memory_order_release); }

  // Writer side: publishes t, waits until no reader can still hold the old table, frees it.
  void Replace(std::unique_ptr<Table> t);
  // Writer side only (the thread that calls Replace): the table published last.
  const Table& Current() const { return *current_.load(std::memory_order_relaxed); }
  // Waits until every reader that was between Enter and Exit when this was called has left
  // (other state the readers use under Enter, e.g. capture sessions, can then be freed).
  void Synchronize();
  size_t PeerCount();

 private:
  void WaitForReaders();  // with writerMu_ held
  std::mutex writerMu_;  // serialises Replace and RegisterReader
  std::atomic<const Table*> current_;
  std::atomic<uint64_t> epoch_{1};
  std::vector<std::unique_ptr<ReaderSlot>> slots_;
};

}  // namespace vxtun
