// libFuzzer harness: VXLAN decapsulation and the receive-side rules (ClassifyRx) over a
// fuzzer-chosen table and policy, checked against a slow reference written from README "Receive-side rules"
// — the same rules as src/dataplane/codec.ts checkRx.
//
// Input: flags u8 (bit0 acceptUnknownVteps, bit1 checkInnerSource; bit2 the outer source is the other
// family's form of the picked address (a.b.c.d ↔ ::ffff:a.b.c.d, 2001:db8::a.b.c.d ↔ a.b.c.d: never a
// peer's); bit3 the peers' public IPs are IPv6 (fuzz_input.h v6Peers); bits 4..6 pick the outer
// source: peer k's public IP, or 192.168.99.254 (2001:db8::192.168.99.254 with bit3) when no such
// peer; bit7 remoteChecksum (RCO accepted, core/vxlan.h)), vni[3], our mac[6], a table (fuzz_input.h), then the
// datagram. A forwarded datagram's RxResult::rco is checked against a reference of its own.
#include <cstring>

#include "core/checksum.h"
#include "core/classify.h"
#include "fuzz_input.h"

using namespace vxtun;

namespace {

bool In4(const std::vector<Prefix4>& ps, const uint8_t* a) {
  const uint32_t x = Load4(a);
  for (const Prefix4& p : ps) {
    const uint32_t mask = p.len == 0 ? 0 : ~uint32_t{0} << (32 - p.len);
    if ((x & mask) == p.addr) return true;
  }
  return false;
}

bool In6(const std::vector<Prefix6>& ps, const uint8_t* a) {
  for (const Prefix6& p : ps) {
    uint8_t net[16];
    for (int i = 0; i < 8; i++) {
      net[i] = static_cast<uint8_t>(p.hi >> (56 - 8 * i));
      net[8 + i] = static_cast<uint8_t>(p.lo >> (56 - 8 * i));
    }
    bool ok = true;
    for (int bit = 0; bit < p.len && ok; bit++) ok = ((a[bit / 8] ^ net[bit / 8]) & (0x80 >> (bit % 8))) == 0;
    if (ok) return true;
  }
  return false;
}

// The reference: each rule spelled out, in the contract's order.
Verdict Reference(const Table& t, const RxPolicy& pol, const std::vector<Prefix4>& local4,
                  const std::vector<Prefix6>& local6, const UnderlayAddr& src, const uint8_t* d, size_t len) {
  if (len < 22) return Verdict::Short;
  const bool rco = pol.remoteChecksum && d[1] == 0x20;  // RCO's C bit, then d[7] is its start and offset
  if (d[0] != 0x08 || (d[1] && !rco) || d[2] || d[3] || (d[7] && !rco)) return Verdict::BadHeader;
  if ((static_cast<uint32_t>(d[4]) << 16 | d[5] << 8 | d[6]) != pol.vni) return Verdict::Vni;
  int peer = -1;  // same family and the same address bytes, compared byte by byte
  for (size_t i = 0; i < t.size(); i++) {
    const UnderlayAddr& a = t.peer(static_cast<int>(i)).publicIp;
    const size_t n = a.IsV4() ? 4 : 16;
    bool same = a.family == src.family;
    for (size_t k = 0; k < n && same; k++) same = a.bytes[k] == src.bytes[k];
    if (same) peer = static_cast<int>(i);
  }
  if (peer < 0 && !pol.acceptUnknownVteps) return Verdict::UnknownVtep;
  for (int i = 0; i < 6; i++)
    if (d[8 + i] != pol.mac[i]) return Verdict::BadMac;
  const unsigned type = d[20] << 8 | d[21];
  if (type != 0x0800 && type != 0x86dd) return Verdict::Ethertype;
  const uint8_t* p = d + 22;
  const size_t n = len - 22;
  if (n < 1 || (p[0] >> 4) != (type == 0x0800 ? 4 : 6)) return Verdict::BadIp;
  const uint8_t *s, *dst;
  bool v4 = type == 0x0800;
  if (v4) {
    if (n < 20) return Verdict::BadIp;
    const size_t ihl = (p[0] & 15) * 4u, total = p[2] << 8 | p[3];
    if (ihl < 20 || ihl > n || total < ihl || total > n) return Verdict::BadIp;
    uint32_t sum = 0;
    for (size_t i = 0; i < ihl; i += 2) sum += p[i] << 8 | p[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    if (sum != 0xffff) return Verdict::BadIp;
    s = p + 12;
    dst = p + 16;
  } else {
    if (n < 40 || 40u + (p[4] << 8 | p[5]) > n) return Verdict::BadIp;
    s = p + 8;
    dst = p + 24;
  }
  if (pol.checkInnerSource && peer >= 0) {
    const PeerEntry& e = t.peer(peer);
    if (!(v4 ? In4(e.v4, s) : In6(e.v6, s))) return Verdict::SpoofedSource;
  }
  if (!(v4 ? In4(local4, dst) : In6(local6, dst))) return Verdict::NotLocal;
  return Verdict::Forward;
}

// Whether a forwarded datagram's RCO describes its inner packet: the C bit (accepted), TCP or UDP as the O bit
// says, unfragmented, the start (d[7] & 0x7f, halved) at 14 + the IP header, the field within the packet.
bool ReferenceRco(const RxPolicy& pol, const uint8_t* d) {
  if (!pol.remoteChecksum || d[1] != 0x20) return false;
  const uint8_t* p = d + 22;
  const bool v4 = (p[0] >> 4) == 4;
  const size_t hl = v4 ? (p[0] & 15) * 4u : 40u;
  const size_t total = v4 ? static_cast<size_t>(p[2] << 8 | p[3]) : 40u + (p[4] << 8 | p[5]);
  const uint8_t proto = v4 ? p[9] : p[6];
  const uint8_t want = (d[7] & 0x80) ? 17 : 6;
  const size_t off = want == 17 ? 6 : 16;
  if (proto != want || (d[7] & 0x7f) * 2u != 14 + hl || total < hl + off + 2) return false;
  return !v4 || ((p[6] & 0x3f) == 0 && p[7] == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader r(data, size);
  const uint8_t flags = r.U8();
  RxPolicy pol;
  pol.acceptUnknownVteps = flags & 1;
  pol.checkInnerSource = flags & 2;
  pol.remoteChecksum = flags & 0x80;
  pol.vni = static_cast<uint32_t>(r.U8()) << 16 | r.U16();
  r.Bytes(pol.mac, 6);
  std::vector<Prefix4> local4;
  std::vector<Prefix6> local6;
  auto table = fuzz::ReadTable(r, &local4, &local6, flags & 8);
  if (!table) return 0;
  const size_t pick = (flags >> 4) & 7;
  const uint8_t unknown[4] = {192, 168, 99, 254};
  UnderlayAddr src = pick < table->size() ? table->peer(static_cast<int>(pick)).publicIp
                     : (flags & 8)        ? fuzz::Doc6(unknown)
                                          : UnderlayAddr::V4(unknown);
  if (flags & 4) {
    uint8_t v4[4];
    std::memcpy(v4, src.bytes + (src.IsV6() ? 12 : 0), 4);
    uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    std::memcpy(mapped + 12, v4, 4);
    src = src.IsV6() ? UnderlayAddr::V4(v4) : UnderlayAddr::V6(mapped);
  }
  size_t len;
  auto d = r.Rest(&len);

  RxResult out;
  const Verdict v = ClassifyRx(*table, pol, src, d.get(), len, &out);
  const Verdict ref = Reference(*table, pol, local4, local6, src, d.get(), len);
  if (v != ref) {
    std::fprintf(stderr, "ClassifyRx says %s, the reference %s\n", VerdictName(v), VerdictName(ref));
    FUZZ_CHECK(v == ref);
  }
  if (v == Verdict::Forward) {
    FUZZ_CHECK(out.length >= out.ip.headerLen && out.length <= len - kEncapPrefix);
    FUZZ_CHECK(out.peer == -1 || table->peer(out.peer).publicIp == src);
    FUZZ_CHECK(!(flags & 4) || out.peer == -1);  // the other family's form is nobody's address
    FUZZ_CHECK(out.peer >= 0 || pol.acceptUnknownVteps);
    FUZZ_CHECK(out.rco == ReferenceRco(pol, d.get()));
    // What the receive loop does next with an accepted packet must be safe too.
    std::unique_ptr<uint8_t[]> pkt(new uint8_t[out.length]);
    std::memcpy(pkt.get(), d.get() + kEncapPrefix, out.length);
    InnerIp ip;
    FUZZ_CHECK(ParseInnerIp(pkt.get(), out.length, &ip) == Verdict::Forward && ip.length == out.length);
    (void)InnerFlowHash(pkt.get(), ip);
    (void)CompletePartialChecksum(pkt.get(), ip);
  }
  return 0;
}
