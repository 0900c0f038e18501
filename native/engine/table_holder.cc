#include "engine/table_holder.h"

#include <string>
#include <thread>

namespace vxtun {

TableHolder::TableHolder() {
  std::string err;
  current_.store(Table::Build({}, {}, {}, &err).release());
}

TableHolder::~TableHolder() { delete current_.load(); }

TableHolder::ReaderSlot* TableHolder::RegisterReader() {
  std::lock_guard<std::mutex> lock(writerMu_);
  slots_.push_back(std::make_unique<ReaderSlot>());
  return slots_.back().get();
}

void TableHolder::Replace(std::unique_ptr<Table> t) {
  std::lock_guard<std::mutex> lock(writerMu_);
  const Table* old = current_.exchange(t.release(), std::memory_order_seq_cst);
  WaitForReaders();
  delete old;
}

void TableHolder::Synchronize() {
  std::lock_guard<std::mutex> lock(writerMu_);
  WaitForReaders();
}

void TableHolder::WaitForReaders() {
  const uint64_t target = epoch_.fetch_add(1, std::memory_order_seq_cst) + 1;
  // Grace period: a reader online with an epoch older than `target` may still hold what was unpublished.
  for (const auto& s : slots_) {
    for (;;) {
      const uint64_t e = s->epoch.load(std::memory_order_seq_cst);
      if (e == 0 || e >= target) break;
      std::this_thread::yield();
    }
  }
}

size_t TableHolder::PeerCount() {
  std::lock_guard<std::mutex> lock(writerMu_);
  return current_.load()->size();
}

}  // namespace vxtun
