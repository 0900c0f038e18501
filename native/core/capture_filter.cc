// CaptureFilter: decoding and evaluation of compiled `vxtun dump` filters. The program format and
// the meaning of every op are in capture_filter.h; the reference is src/dump/filter.ts.
#include "core/capture_filter.h"

#include <cstring>

namespace vxtun {
namespace {

enum Op : uint8_t {
  kFalse = 0x01,
  kTx = 0x02,
  kRx = 0x03,
  kVerdict = 0x04,
  kDrops = 0x05,
  kPeer = 0x06,
  kProto = 0x07,
  kPort = 0x08,
  kHost4 = 0x09,
  kHost6 = 0x0a,
  kNet4 = 0x0b,
  kNet6 = 0x0c,
  kNot = 0x20,
  kAnd = 0x21,
  kOr = 0x22,
};

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// The operand bytes that always follow an op (for PEER: its length field, the name comes after);
// -1 for a byte that is no op.
int FixedOperandLen(uint8_t op) {
  switch (op) {
    case kFalse:
    case kTx:
    case kRx:
    case kDrops:
    case kNot:
    case kAnd:
    case kOr: return 0;
    case kVerdict:
    case kProto: return 1;
    case kPeer:
    case kPort: return 2;
    case kHost4: return 4;
    case kHost6: return 16;
    case kNet4: return 1 + 4;
    case kNet6: return 1 + 16;
    default: return -1;
  }
}

// The whole size of the (known) op at `at`, operands included; 0 when fewer than that remain.
size_t OpSize(const uint8_t* at, size_t avail) {
  const size_t fixed = 1 + static_cast<size_t>(FixedOperandLen(at[0]));
  if (avail < fixed) return 0;
  const size_t size = at[0] == kPeer ? fixed + Be16(at + 1) : fixed;
  return avail < size ? 0 : size;
}

// How the op changes the stack: the values it pops, then pushes one.
int Pops(uint8_t op) { return op == kAnd || op == kOr ? 2 : op == kNot ? 1 : 0; }

// Whether the first `bits` bits of a and b agree.
bool SamePrefix(const uint8_t* a, const uint8_t* b, unsigned bits) {
  const unsigned whole = bits / 8, rest = bits % 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return ((a[whole] ^ b[whole]) & mask) == 0;
}

// Whether the bits of addr (n bytes) after the first `bits` are all zero.
bool HostBitsClear(const uint8_t* addr, size_t n, unsigned bits) {
  for (size_t i = 0; i < n; i++) {
    const size_t keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;  // prefix bits in byte i
    const uint8_t host = static_cast<uint8_t>(0xff >> keep);                        // keep == 8 → 0
    if (addr[i] & host) return false;
  }
  return true;
}

// Checks the operands of a NET4/NET6 op at `at` (already known to be complete).
bool NetOperandOk(const uint8_t* at) {
  const size_t n = at[0] == kNet4 ? 4 : 16;
  const unsigned bits = at[1];
  return bits <= 8 * n && HostBitsClear(at + 2, n, bits);
}

// ---- the packet: summarizePacket() in src/dump/packet-summary.ts, as far as the filter needs it ----

struct PacketFacts {
  uint8_t family = 0;            // 4, 6, or 0 when not IP
  int proto = -1;                // IPv4 protocol / IPv6 next header; -1 when not IP
  const uint8_t* src = nullptr;  // 4 or 16 bytes when IP
  const uint8_t* dst = nullptr;
  bool hasPorts = false;  // TCP/UDP with both ports in the captured bytes
  uint16_t sport = 0;
  uint16_t dport = 0;
};

PacketFacts Summarize(const uint8_t* p, size_t len) {
  PacketFacts s;
  const unsigned version = len > 0 ? p[0] >> 4 : 0;
  size_t l4;
  if (version == 4 && len >= 20) {
    s.family = 4;
    s.proto = p[9];
    s.src = p + 12;
    s.dst = p + 16;
    l4 = static_cast<size_t>(p[0] & 0x0f) * 4;       // may be < 20 in garbage; the reference reads there anyway
    if (((p[6] & 0x1f) << 8 | p[7]) != 0) return s;  // only the first fragment has the transport header
  } else if (version == 6 && len >= 40) {
    s.family = 6;
    s.proto = p[6];
    s.src = p + 8;
    s.dst = p + 24;
    l4 = 40;
  } else {
    return s;
  }
  if ((s.proto == kTcp || s.proto == kUdp) && len >= l4 + 4) {
    s.hasPorts = true;
    s.sport = Be16(p + l4);
    s.dport = Be16(p + l4 + 2);
  }
  return s;
}

// The summary of one Match's packet, made on first use.
class LazyFacts {
 public:
  explicit LazyFacts(const CaptureView& v) : v_(v) {}
  const PacketFacts& get() {
    if (!done_) f_ = Summarize(v_.pkt, v_.len), done_ = true;
    return f_;
  }

 private:
  const CaptureView& v_;
  bool done_ = false;
  PacketFacts f_;
};

bool HostMatches(const PacketFacts& f, uint8_t family, const uint8_t* addr) {
  const size_t n = family == 4 ? 4 : 16;
  return f.family == family && (std::memcmp(f.src, addr, n) == 0 || std::memcmp(f.dst, addr, n) == 0);
}

bool NetMatches(const PacketFacts& f, uint8_t family, unsigned bits, const uint8_t* net) {
  return f.family == family && (SamePrefix(f.src, net, bits) || SamePrefix(f.dst, net, bits));
}

// The value of the leaf op at `at` (a decoded program's, so its operands are all there).
bool Leaf(const uint8_t* at, const CaptureView& v, LazyFacts& facts) {
  const uint8_t* o = at + 1;
  switch (at[0]) {
    case kTx: return v.dir == 0;
    case kRx: return v.dir != 0;
    case kVerdict: return v.verdict == o[0];
    case kDrops: return v.verdict != 0;
    case kPeer: return v.peer == std::string_view(reinterpret_cast<const char*>(o + 2), Be16(o));
    case kProto: return facts.get().proto == o[0];
    case kPort: {
      const PacketFacts& f = facts.get();
      const uint16_t port = Be16(o);
      return f.hasPorts && (f.sport == port || f.dport == port);
    }
    case kHost4: return HostMatches(facts.get(), 4, o);
    case kHost6: return HostMatches(facts.get(), 6, o);
    case kNet4: return NetMatches(facts.get(), 4, o[0], o + 1);
    case kNet6: return NetMatches(facts.get(), 6, o[0], o + 1);
    default: return false;  // kFalse
  }
}

std::string At(size_t off) { return " at byte " + std::to_string(off); }

}  // namespace

bool CaptureFilter::Decode(const uint8_t* prog, size_t len, CaptureFilter* out, std::string* err) {
  if (len > kMaxFilterProgram) {
    *err = "program too long (" + std::to_string(len) + " bytes, at most " + std::to_string(kMaxFilterProgram) + ")";
    return false;
  }
  size_t depth = 0;
  for (size_t off = 0; off < len;) {
    const uint8_t op = prog[off];
    if (FixedOperandLen(op) < 0) {
      *err = "bad opcode " + std::to_string(op) + At(off);
      return false;
    }
    const size_t size = OpSize(prog + off, len - off);
    if (size == 0) {
      *err = "truncated operand of opcode " + std::to_string(op) + At(off);
      return false;
    }
    if ((op == kNet4 || op == kNet6) && !NetOperandOk(prog + off)) {
      *err = "bad prefix (length too long or host bits set)" + At(off);
      return false;
    }
    const size_t pops = static_cast<size_t>(Pops(op));
    if (depth < pops) {
      *err = "stack underflow" + At(off);
      return false;
    }
    depth = depth - pops + 1;
    if (depth > kMaxFilterStack) {
      *err = "stack overflow (more than " + std::to_string(kMaxFilterStack) + " values)" + At(off);
      return false;
    }
    off += size;
  }
  if (len > 0 && depth != 1) {
    *err = "program leaves " + std::to_string(depth) + " values, not 1";
    return false;
  }
  out->prog_.assign(prog, prog + len);
  return true;
}

bool CaptureFilter::Match(const CaptureView& v) const {
  if (prog_.empty()) return true;
  bool stack[kMaxFilterStack];
  size_t sp = 0;
  LazyFacts facts(v);
  const uint8_t* p = prog_.data();
  const uint8_t* const end = p + prog_.size();
  while (p < end) {
    // Decode checked every op's operands and every stack effect, so nothing here can run off.
    switch (*p) {
      case kNot: stack[sp - 1] = !stack[sp - 1]; break;
      case kAnd: sp--, stack[sp - 1] = stack[sp - 1] && stack[sp]; break;
      case kOr: sp--, stack[sp - 1] = stack[sp - 1] || stack[sp]; break;
      default: stack[sp++] = Leaf(p, v, facts); break;
    }
    p += OpSize(p, static_cast<size_t>(end - p));
  }
  return stack[0];
}

}  // namespace vxtun
