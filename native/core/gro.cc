#include "core/gro.h"

#include <cstring>

#include "core/checksum.h"
#include "core/segment.h"

namespace vxtun {

namespace {

constexpr uint8_t kAck = 0x10, kPsh = 0x08;
constexpr int kMaxRunSegments = 64;
constexpr size_t kMaxGsoPacket = 65535;

inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
         p[3];
}

struct Seg {
  size_t th = 0;    // TCP header length, 0 if not a coalescing candidate
  size_t hlen = 0;  // IP + TCP header
  size_t payload = 0;
  uint32_t seq = 0;
  uint8_t flags = 0;
};

// Describes pkt as a coalescing candidate (th == 0 when it is not one).
Seg Describe(const RxPkt& k) {
  Seg s;
  const size_t th = TcpHeaderLen(k.p, k.ip);
  if (th == 0) return s;
  if (k.ip.family == 4 && k.ip.headerLen != kIpv4MinHeader) return s;  // IPv4 options: keep it simple
  // The run's head header gets a fresh IPv4 checksum (close()): it must have verified first.
  if (k.ip.family == 4 && !Ipv4HeaderChecksumOk(k.p, k.ip.headerLen)) return s;
  const uint8_t* tcp = k.p + k.ip.headerLen;
  s.flags = tcp[13];
  if (s.flags != kAck && s.flags != (kAck | kPsh)) return s;
  s.hlen = k.ip.headerLen + th;
  s.payload = k.ip.length - s.hlen;
  if (s.payload == 0) return s;
  s.seq = Be32(tcp + 4);
  s.th = th;
  return s;
}

// Same flow and same header shape: everything but lengths, IDs, checksums, seq and PSH.
bool SameShape(const RxPkt& a, const Seg& sa, const RxPkt& b, const Seg& sb) {
  if (a.ip.family != b.ip.family || sa.th != sb.th) return false;
  const uint8_t* x = a.p;
  const uint8_t* y = b.p;
  if (a.ip.family == 4) {
    if (x[1] != y[1] || x[8] != y[8] || (x[6] & 0xe0) != (y[6] & 0xe0)) return false;  // TOS, TTL, flags
    if (std::memcmp(x + 12, y + 12, 8) != 0) return false;                             // addresses
  } else {
    if (std::memcmp(x, y, 4) != 0 || x[7] != y[7]) return false;  // class, label, hop limit
    if (std::memcmp(x + 8, y + 8, 32) != 0) return false;
  }
  const uint8_t* tx = x + a.ip.headerLen;
  const uint8_t* ty = y + b.ip.headerLen;
  if (std::memcmp(tx, ty, 4) != 0 || std::memcmp(tx + 8, ty + 8, 4) != 0) return false;  // ports, ack
  if (std::memcmp(tx + 14, ty + 14, 2) != 0) return false;                               // window
  return std::memcmp(tx + 20, ty + 20, sa.th - 20) == 0;                                 // options
}

}  // namespace

int PlanTunWrites(RxPkt* pkts, int n, bool coalesce, size_t mtu, const GroScratch& s, GroStats* st) {
  int nw = 0, ni = 0;
  auto begin = [&](TunWrite::Kind kind, int pkt, const VnetHdr& v) -> TunWrite* {
    if (nw >= s.maxWrites || ni >= s.iovCap) return nullptr;
    TunWrite& w = s.writes[nw];
    w = TunWrite{};
    w.kind = kind;
    w.pkt = pkt;
    w.firstIov = ni;
    uint8_t* vh = s.vnet + static_cast<size_t>(nw) * kVnetHdrLen;
    WriteVnetHdr(vh, v);
    s.iov[ni++] = {vh, kVnetHdrLen};
    w.iovcnt = 1;
    nw++;
    return &w;
  };
  auto add = [&](TunWrite* w, void* base, size_t len) {
    if (ni >= s.iovCap) return false;
    s.iov[ni++] = {base, len};
    w->iovcnt++;
    return true;
  };

  // The open run.
  TunWrite* run = nullptr;
  Seg runFirst;
  Seg runLast;
  int runHead = -1;
  size_t runPayload = 0;
  uint32_t runNextSeq = 0;

  auto close = [&]() {
    if (!run) return;
    if (run->segments > 1) {
      RxPkt& h = pkts[runHead];
      uint8_t* p = h.p;
      const size_t total = runFirst.hlen + runPayload;
      if (h.ip.family == 4) {
        Put16(p + 2, static_cast<uint16_t>(total));
        Put16(p + 10, 0);
        Put16(p + 10, static_cast<uint16_t>(~Fold(SumBytes(p, h.ip.headerLen))));
      } else {
        Put16(p + 4, static_cast<uint16_t>(total - kIpv6Header));
      }
      uint8_t* tcp = p + h.ip.headerLen;
      tcp[13] = runLast.flags;  // PSH of the last segment, if any
      InnerIp ip = h.ip;
      ip.length = total;
      Put16(tcp + 16, Fold(PseudoHeaderSum(ip, runFirst.th + runPayload)));
      VnetHdr v;
      v.flags = kVnetFlagNeedsCsum;
      v.gsoType = h.ip.family == 4 ? kVnetGsoTcpv4 : kVnetGsoTcpv6;
      v.hdrLen = static_cast<uint16_t>(runFirst.hlen);
      v.gsoSize = static_cast<uint16_t>(runFirst.payload);
      v.csumStart = static_cast<uint16_t>(h.ip.headerLen);
      v.csumOffset = 16;
      WriteVnetHdr(s.vnet + static_cast<size_t>(run - s.writes) * kVnetHdrLen, v);
      run->kind = TunWrite::kGso;
    }
    run = nullptr;
  };

  for (int i = 0; i < n; i++) {
    RxPkt& k = pkts[i];
    const size_t th = TcpHeaderLen(k.p, k.ip);
    // A super-packet: GSO write (coalescing on) or userspace split (off).
    if (th != 0 && k.ip.length > mtu && mtu > k.ip.headerLen + th) {
      close();
      // Segmenting (here or in the kernel) rewrites every checksum: only a packet whose checksums
      // stand (or are a kernel's partial seed) may be. A bad one goes in whole, unchanged, for
      // the pod's stack to reject.
      if ((k.ip.family == 4 && !Ipv4HeaderChecksumOk(k.p, k.ip.headerLen)) ||
          (!k.rco && !SeedOrValidChecksum(k.p, k.ip))) {
        TunWrite* w = begin(TunWrite::kPlain, i, VnetHdr{});
        if (!w || !add(w, k.p, k.ip.length)) return -1;
        continue;
      }
      if (!coalesce) {
        TunWrite* w = begin(TunWrite::kSplit, i, VnetHdr{});
        if (!w) return -1;
        continue;
      }
      VnetHdr v;
      v.flags = kVnetFlagNeedsCsum;
      v.gsoType = k.ip.family == 4 ? kVnetGsoTcpv4 : kVnetGsoTcpv6;
      v.hdrLen = static_cast<uint16_t>(k.ip.headerLen + th);
      v.gsoSize = static_cast<uint16_t>(mtu - k.ip.headerLen - th);
      v.csumStart = static_cast<uint16_t>(k.ip.headerLen);
      v.csumOffset = 16;
      uint8_t* tcp = k.p + k.ip.headerLen;
      Put16(tcp + 16, Fold(PseudoHeaderSum(k.ip, k.ip.length - k.ip.headerLen)));
      TunWrite* w = begin(TunWrite::kGso, i, v);
      if (!w || !add(w, k.p, k.ip.length)) return -1;
      continue;
    }
    // Verified, not assumed (gro.h): one sum, which also completes a partial checksum.
    VnetHdr plain;
    CsumFix fix;
    if (k.rco) {
      const size_t off = L4ChecksumOffset(k.ip.proto);
      Put16(k.p + k.ip.headerLen + off, Fold(PseudoHeaderSum(k.ip, k.ip.length - k.ip.headerLen)));
      plain.flags = kVnetFlagNeedsCsum;
      plain.csumStart = static_cast<uint16_t>(k.ip.headerLen);
      plain.csumOffset = static_cast<uint16_t>(off);
      fix = CsumFix::Valid;
      st->rco++;
    } else {
      fix = CompletePartialChecksum(k.p, k.ip);
      if (fix == CsumFix::Completed) st->csumCompleted++;
    }
    const Seg sg = coalesce && fix == CsumFix::Valid ? Describe(k) : Seg{};
    if (run && sg.th != 0 && run->segments < kMaxRunSegments && SameShape(pkts[runHead], runFirst, k, sg) &&
        sg.seq == runNextSeq && sg.payload <= runFirst.payload && runLast.payload == runFirst.payload &&
        !(runLast.flags & kPsh) && runFirst.hlen + runPayload + sg.payload <= kMaxGsoPacket) {
      if (!add(run, k.p + sg.hlen, sg.payload)) return -1;
      run->segments++;
      runPayload += sg.payload;
      runNextSeq += static_cast<uint32_t>(sg.payload);
      runLast = sg;
      st->coalesced++;
      continue;
    }
    close();
    TunWrite* w = begin(TunWrite::kPlain, i, plain);
    if (!w || !add(w, k.p, k.ip.length)) return -1;
    if (sg.th != 0) {
      run = w;
      runHead = i;
      runFirst = runLast = sg;
      runPayload = sg.payload;
      runNextSeq = sg.seq + static_cast<uint32_t>(sg.payload);
    }
  }
  close();
  return nw;
}

}  // namespace vxtun
