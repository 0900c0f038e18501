// TableHolder publishes one forwarding table (core/fdb.h) at a time: readers (worker threads) take
// no lock — they mark themselves online, load the current pointer, use it, and go offline
// (quiescent-state based reclamation). The writer (the JS thread) swaps the pointer and frees the
// old table only after every online reader has moved past it. Readers must not block while online.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/fdb.h"

namespace vxtun {

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
  std::mutex writerMu_;   // serialises Replace and RegisterReader
  std::atomic<const Table*> current_;
  std::atomic<uint64_t> epoch_{1};
  std::vector<std::unique_ptr<ReaderSlot>> slots_;
};

}  // namespace vxtun
