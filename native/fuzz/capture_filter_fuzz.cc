// libFuzzer harness: compiled `vxtun dump` filters (CaptureFilter, core/capture_filter.h) — decoding of
// arbitrary programs and matching of arbitrary packets. Invariants: a refused program says why and
// leaves the filter as it was; an accepted one matches deterministically, and appending NOT (or
// FALSE OR) to it still decodes and gives the opposite (the same) answer.
//
// Input: progLen u16, prog[progLen], dir u8, verdict u8, peerLen u8, peer[peerLen], then the
// packet (the rest). Every part is its own heap block of exactly its size, so that ASan sees any
// read past its end; a short input reads as zeros (make-corpus.ts writes seeds in this layout).
#include <algorithm>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "core/capture_filter.h"
#include "fuzz_input.h"

using namespace vxtun;

namespace {

std::unique_ptr<uint8_t[]> ReadBlock(fuzz::Reader& r, size_t n) {
  std::unique_ptr<uint8_t[]> b(new uint8_t[n]);
  r.Bytes(b.get(), n);
  return b;
}

// The program followed by `tail`, decoded; false when that is refused.
bool DecodeWith(const uint8_t* prog, size_t len, std::initializer_list<uint8_t> tail, CaptureFilter* out) {
  std::unique_ptr<uint8_t[]> b(new uint8_t[len + tail.size()]);
  std::copy(prog, prog + len, b.get());
  std::copy(tail.begin(), tail.end(), b.get() + len);
  std::string err;
  return CaptureFilter::Decode(b.get(), len + tail.size(), out, &err);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader r(data, size);
  const size_t progLen = r.U16() % (kMaxFilterProgram + 64);
  auto prog = ReadBlock(r, progLen);
  const uint8_t dir = r.U8();
  const uint8_t verdict = r.U8();
  const size_t peerLen = r.U8();
  auto peer = ReadBlock(r, peerLen);
  size_t len;
  auto pkt = r.Rest(&len);

  const CaptureView v{dir, verdict, std::string_view(reinterpret_cast<const char*>(peer.get()), peerLen), pkt.get(),
                      len};
  const CaptureView empty{dir, verdict, {}, nullptr, 0};

  CaptureFilter f;
  std::string err;
  if (!CaptureFilter::Decode(prog.get(), progLen, &f, &err)) {
    FUZZ_CHECK(!err.empty());
    FUZZ_CHECK(f.size() == 0 && f.Match(v));  // untouched: still the empty program
    return 0;
  }
  FUZZ_CHECK(f.size() == progLen);
  const bool m = f.Match(v);
  FUZZ_CHECK(f.Match(v) == m);
  (void)f.Match(empty);
  if (progLen == 0) {
    FUZZ_CHECK(m);
    return 0;
  }
  if (progLen + 1 <= kMaxFilterProgram) {
    CaptureFilter g;
    FUZZ_CHECK(DecodeWith(prog.get(), progLen, {0x20 /* NOT */}, &g));
    FUZZ_CHECK(g.Match(v) == !m);
  }
  if (progLen + 2 <= kMaxFilterProgram) {
    CaptureFilter g;
    FUZZ_CHECK(DecodeWith(prog.get(), progLen, {0x01 /* FALSE */, 0x22 /* OR */}, &g));
    FUZZ_CHECK(g.Match(v) == m);
  }
  return 0;
}
