// Shared by the libFuzzer harnesses: a byte reader over the fuzzer's input, and the decoding of a
// forwarding table and receive policy from it. Seeds in corpus/ are written in this layout by
// make-corpus.ts; keep the two in step.
//
// Table layout (every count is taken modulo its bound, every prefix is masked to its length):
//   npeers u8 (%5), then per peer: publicIP[4] mac[6] n4 u8 (%3) {addr[4] len u8 (%33)}… n6 u8 (%3)
//   {addr[16] len u8 (%129)}…; then the local CIDRs: n4 u8 (%3) {…} n6 u8 (%3) {…}.
//   publicIP[4] is an IPv4 address, or with v6Peers the IPv6 address 2001:db8::<those 4 bytes>.
// An input that runs out reads as zeros.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/fdb.h"

namespace vxtun::fuzz {

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint8_t U8() { return n_ ? (n_--, *p_++) : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() << 8 | U8()); }
  void Bytes(uint8_t* out, size_t k) {
    for (size_t i = 0; i < k; i++) out[i] = U8();
  }
  // The rest of the input as its own heap block of exactly that size, so that ASan sees any read
  // past the end (a vector's spare capacity would hide it).
  std::unique_ptr<uint8_t[]> Rest(size_t* len) {
    *len = n_;
    std::unique_ptr<uint8_t[]> b(new uint8_t[n_]);
    if (n_) std::memcpy(b.get(), p_, n_);
    p_ += n_;
    n_ = 0;
    return b;
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

inline Prefix4 ReadPrefix4(Reader& r) {
  uint8_t b[4];
  r.Bytes(b, 4);
  Prefix4 p;
  p.len = static_cast<uint8_t>(r.U8() % 33);
  const uint32_t mask = p.len == 0 ? 0 : ~uint32_t{0} << (32 - p.len);
  p.addr = Load4(b) & mask;
  return p;
}

inline Prefix6 ReadPrefix6(Reader& r) {
  uint8_t b[16];
  r.Bytes(b, 16);
  Prefix6 p;
  p.len = static_cast<uint8_t>(r.U8() % 129);
  Load6(b, &p.hi, &p.lo);
  const uint64_t mh = p.len == 0 ? 0 : p.len >= 64 ? ~uint64_t{0} : ~uint64_t{0} << (64 - p.len);
  const uint64_t ml = p.len <= 64 ? 0 : p.len >= 128 ? ~uint64_t{0} : ~uint64_t{0} << (128 - p.len);
  p.hi &= mh;
  p.lo &= ml;
  return p;
}

inline void ReadPrefixes(Reader& r, std::vector<Prefix4>* v4, std::vector<Prefix6>* v6) {
  for (int i = r.U8() % 3; i > 0; i--) v4->push_back(ReadPrefix4(r));
  for (int i = r.U8() % 3; i > 0; i--) v6->push_back(ReadPrefix6(r));
}

// The IPv6 underlay address the fuzzers make of 4 input bytes: 2001:db8::a.b.c.d.
inline UnderlayAddr Doc6(const uint8_t b[4]) {
  uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
  std::memcpy(v6 + 12, b, 4);
  return UnderlayAddr::V6(v6);
}

// Decodes a table; null when Table::Build rejects it (two peers with one IP or one prefix). The
// local CIDRs are copied to *local4/*local6 when given (Table keeps its own private).
inline std::unique_ptr<Table> ReadTable(Reader& r, std::vector<Prefix4>* local4 = nullptr,
                                        std::vector<Prefix6>* local6 = nullptr, bool v6Peers = false) {
  std::vector<PeerEntry> peers(r.U8() % 5);
  for (size_t i = 0; i < peers.size(); i++) {
    PeerEntry& p = peers[i];
    p.name = "peer-" + std::to_string(i);
    uint8_t ip[4];
    r.Bytes(ip, 4);
    p.publicIp = v6Peers ? Doc6(ip) : UnderlayAddr::V4(ip);  // network byte order, as the sockets deliver it
    r.Bytes(p.mac, 6);
    ReadPrefixes(r, &p.v4, &p.v6);
  }
  std::vector<Prefix4> l4;
  std::vector<Prefix6> l6;
  ReadPrefixes(r, &l4, &l6);
  if (local4) *local4 = l4;
  if (local6) *local6 = l6;
  std::string err;
  return Table::Build(std::move(peers), std::move(l4), std::move(l6), &err);
}

// Stops the fuzzer with a message when an invariant does not hold (libFuzzer reports it as a crash
// and saves the input).
#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

}  // namespace vxtun::fuzz
