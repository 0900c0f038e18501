// A fixed-capacity array whose every write is checked: the loops' per-batch arrays (engine/rx_batch.cc,
// engine/tx_batch.cc). Allocated once; Append and Set return false instead of writing past the end, and the
// caller decides what a full array means (flush the batch so far, or drop and count).
#pragma once
#include <cstddef>
#include <memory>

namespace vxtun {

template <class T>
class Bounded {
 public:
  explicit Bounded(size_t cap) : cap_(cap), v_(new T[cap]()) {}
  size_t size() const { return n_; }
  size_t capacity() const { return cap_; }
  size_t room() const { return cap_ - n_; }
  bool full() const { return n_ == cap_; }
  void Clear() { n_ = 0; }
  bool Append(const T& x) {
    if (n_ >= cap_) return false;
    v_[n_++] = x;
    return true;
  }
  // The next k slots, appended at once (for a callee that fills them), or null when fewer are left.
  T* Take(size_t k) {
    if (k > cap_ - n_) return nullptr;
    T* p = v_.get() + n_;
    n_ += k;
    return p;
  }
  // Gives back the last k slots taken but not filled.
  void Shrink(size_t k) { n_ -= k <= n_ ? k : n_; }
  // Writes slot i (< capacity); the size grows to cover it.
  bool Set(size_t i, const T& x) {
    if (i >= cap_) return false;
    v_[i] = x;
    if (i >= n_) n_ = i + 1;
    return true;
  }
  // Reads are the caller's to keep below size() (every index read was written through Append or Set).
  const T& operator[](size_t i) const { return v_[i]; }
  T& operator[](size_t i) { return v_[i]; }
  T* data() { return v_.get(); }

 private:
  size_t cap_;
  size_t n_ = 0;
  std::unique_ptr<T[]> v_;
};

}  // namespace vxtun
