// `vxtun dump` filters evaluated in the addon, so that a forwarding loop can drop a packet the
// capture does not want before copying it into a capture ring. The filter language and its
// reference meaning live in src/dump/filter.ts (parseDumpFilter); compileDumpFilter there turns a
// filter into the program below, and CaptureFilter::Match must agree with parseDumpFilter on every
// input. Change the two files together.
//
// ---- Program format (the contract with compileDumpFilter) ----
// A program is a postfix (RPN) sequence of ops over a stack of booleans. Each op is one byte,
// followed by its operands; multi-byte numbers are big-endian. The empty program matches
// everything; any other program must leave exactly one value, which is the result. Limits: at most
// kMaxFilterProgram bytes and kMaxFilterStack values on the stack at any time (compileDumpFilter
// orders and/or operands so that real filters stay far below it).
//
//   byte  op       operands                       pushes
//   0x01  FALSE    -                              false (e.g. `verdict X` for an X no code has)
//   0x02  TX       -                              dir == 0
//   0x03  RX       -                              dir != 0
//   0x04  VERDICT  code u8                        verdict == code
//   0x05  DROPS    -                              verdict != 0
//   0x06  PEER     n u16, name[n] (UTF-8)         peer == name, byte for byte
//   0x07  PROTO    p u8                           an IP packet whose protocol / next header is p
//   0x08  PORT     port u16                       a TCP/UDP packet whose source or dest port is port
//   0x09  HOST4    addr[4]                        an IPv4 packet whose source or dest is addr
//   0x0a  HOST6    addr[16]                       an IPv6 packet whose source or dest is addr
//   0x0b  NET4     len u8 (0..32), addr[4]        an IPv4 packet with source or dest in addr/len
//   0x0c  NET6     len u8 (0..128), addr[16]      the same for IPv6
//   0x20  NOT      -                              pops a; pushes !a
//   0x21  AND      -                              pops b, a; pushes a && b
//   0x22  OR       -                              pops b, a; pushes a || b
// NETx addresses have their host bits clear (Decode rejects one that has not).
//
// What the packet ops see is src/dump/packet-summary.ts summarizePacket(), computed at most once per
// Match and only when a packet op runs: IPv4 when the version nibble is 4 and there are 20 bytes,
// IPv6 when it is 6 and there are 40 (extension headers are not followed), anything else is not IP
// (no address, protocol or port matches). Ports exist only for TCP/UDP with 4 bytes of transport
// header present (after IHL*4 bytes, whatever the IHL says), and never in an IPv4 fragment whose
// offset is not zero. An IPv4 address never matches an IPv6 one (IPv4-mapped included).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vxtun {

constexpr size_t kMaxFilterProgram = 4096;
constexpr size_t kMaxFilterStack = 32;

// What a filter looks at: one packet and what the dataplane decided about it.
struct CaptureView {
  uint8_t dir;            // 0 tx, 1 rx
  uint8_t verdict;        // 0 forward, else the verdict code
  std::string_view peer;  // "" when unknown
  const uint8_t* pkt;     // the inner IP packet (may be truncated or garbage)
  size_t len;
};

class CaptureFilter {
 public:
  // Validates and copies a program from compileDumpFilter(); false with *err set on a malformed one
  // (bad opcode, truncated operand, bad prefix, stack underflow/overflow, not exactly one result,
  // longer than kMaxFilterProgram). *out is left untouched on failure.
  static bool Decode(const uint8_t* prog, size_t len, CaptureFilter* out, std::string* err);

  // Whether the packet passes; the empty program passes everything. Pure: no allocation, no
  // exceptions, no state; safe to call from several threads at once.
  bool Match(const CaptureView& v) const;

  size_t size() const { return prog_.size(); }

 private:
  std::vector<uint8_t> prog_;  // a program that Decode accepted
};

}  // namespace vxtun
