// Shared by the loop harnesses (rx_loop_fuzz.cc, tx_loop_fuzz.cc): fake I/O seams (engine/io.h) that serve
// generated batches and check what the loops write, a fixed forwarding table, and a TCP/UDP packet builder.
//
// The table: our VTEP MAC 02:00:00:00:00:01, VNI 1, local pods 10.244.0.0/24 and fd00::/64; peer 0, dual-stack
// at 192.0.2.1 and 2001:db8::1 (VtepAddr(3), its own MAC), owns 10.244.1.0/24 and fd00:1::/64; peer 1 at 2001:db8::2
// (IPv6 only) owns 10.244.2.0/24. 192.0.2.9 is an unknown VTEP.
#pragma once
#include <arpa/inet.h>
#include <sanitizer/asan_interface.h>
#include <sys/uio.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/checksum.h"
#include "core/fdb.h"
#include "core/virtio.h"
#include "core/vxlan.h"
#include "engine/io.h"
#include "fuzz_input.h"

namespace vxtun::fuzz {

constexpr uint8_t kOurMac[6] = {2, 0, 0, 0, 0, 1};
constexpr uint8_t kPeerMac[2][6] = {{2, 0, 0, 0, 1, 1}, {2, 0, 0, 0, 1, 2}};
constexpr uint8_t kPeer0Mac6[6] = {2, 0, 0, 0, 6, 1};  // peer 0's IPv6 endpoint
// 0: peer 0 (IPv4), 1: peer 1 (IPv6), 2: unknown, 3: peer 0's IPv6 endpoint.
inline UnderlayAddr VtepAddr(int i) {
  if (i == 1 || i == 3) {
    const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                            0,    0,    0,    0,    0, 0, 0, static_cast<uint8_t>(i == 1 ? 2 : 1)};
    return UnderlayAddr::V6(v6);
  }
  return UnderlayAddr::V4Net(htonl(i == 0 ? 0xc0000201 : 0xc0000209));
}

inline std::unique_ptr<Table> FixedTable() {
  std::vector<PeerEntry> peers(2);
  for (int i = 0; i < 2; i++) {
    peers[i].name = "peer-" + std::to_string(i);
    peers[i].publicIp = VtepAddr(i);
    std::memcpy(peers[i].mac, kPeerMac[i], 6);
    peers[i].v4.push_back(Prefix4{0x0af40000u | static_cast<uint32_t>(i + 1) << 8, 24});
  }
  peers[0].v6.push_back(Prefix6{0xfd00000100000000ull, 0, 64});
  peers[0].vtep6.ip = VtepAddr(3);
  std::memcpy(peers[0].vtep6.mac, kPeer0Mac6, 6);
  peers[0].remoteChecksum = true;  // peer 0 accepts remote checksum offload, peer 1 does not
  std::string err;
  return Table::Build(std::move(peers), {Prefix4{0x0af40000u, 24}}, {Prefix6{0xfd00000000000000ull, 0, 64}}, &err);
}

inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// An IPv4 (10.244.<srcNet>.<srcHost> → 10.244.<dstNet>.<dstHost>) or IPv6 (fd00:<srcNet>::<srcHost> →
// fd00:<dstNet>::<dstHost>) packet: TCP (proto 6) or UDP (17) with `payload` bytes, valid checksums.
struct PacketSpec {
  bool v6 = false;
  uint8_t proto = 6;
  uint8_t srcNet = 1, srcHost = 2, dstNet = 0, dstHost = 2;
  uint16_t sport = 3000, dport = 80;
  uint32_t seq = 1000;
  uint8_t tcpFlags = 0x10;
  size_t payload = 0;
  uint8_t fill = 0;
};

// Appends the packet to out (no allocation beyond out's growth: the harnesses build thousands per input).
inline void AppendPacket(std::vector<uint8_t>& out, const PacketSpec& s) {
  const size_t ihl = s.v6 ? 40 : 20, l4h = s.proto == 6 ? 20 : 8;
  const size_t at = out.size(), len = ihl + l4h + s.payload;
  out.resize(at + len, s.fill);
  uint8_t* p = out.data() + at;
  std::memset(p, 0, ihl + l4h);
  if (s.v6) {
    p[0] = 0x60;
    Put16(&p[4], static_cast<uint16_t>(l4h + s.payload));
    p[6] = s.proto;
    p[7] = 64;
    p[8] = 0xfd, p[11] = s.srcNet, p[23] = s.srcHost;
    p[24] = 0xfd, p[27] = s.dstNet, p[39] = s.dstHost;
  } else {
    p[0] = 0x45;
    Put16(&p[2], static_cast<uint16_t>(len > 65535 ? 65535 : len));
    p[8] = 64;
    p[9] = s.proto;
    p[12] = 10, p[13] = 244, p[14] = s.srcNet, p[15] = s.srcHost;
    p[16] = 10, p[17] = 244, p[18] = s.dstNet, p[19] = s.dstHost;
    Put16(&p[10], static_cast<uint16_t>(~Fold(SumBytes(p, 20))));
  }
  uint8_t* t = p + ihl;
  Put16(t, s.sport);
  Put16(t + 2, s.dport);
  if (s.proto == 6) {
    t[4] = static_cast<uint8_t>(s.seq >> 24), t[5] = static_cast<uint8_t>(s.seq >> 16);
    t[6] = static_cast<uint8_t>(s.seq >> 8), t[7] = static_cast<uint8_t>(s.seq);
    t[11] = 1;
    t[12] = 5 << 4;
    t[13] = s.tcpFlags;
    Put16(t + 14, 512);
  } else {
    Put16(t + 4, static_cast<uint16_t>(8 + s.payload));
  }
  InnerIp ip;
  if (ParseInnerIp(p, len, &ip) == Verdict::Forward) {
    const size_t off = s.proto == 6 ? 16 : 6;
    // The payload is s.payload bytes of s.fill at an even offset: its sum in closed form (summing tens of
    // megabytes per input byte by byte was a third of the harnesses' time).
    const uint64_t fillSum = (s.payload / 2) * (s.fill * 257ull) + ((s.payload & 1) ? s.fill << 8 : 0);
    uint16_t c = static_cast<uint16_t>(~Fold(SumBytes(t, l4h, PseudoHeaderSum(ip, l4h + s.payload) + fillSum)));
    if (s.proto == 17 && c == 0) c = 0xffff;
    Put16(t + off, c);
  }
}

inline std::vector<uint8_t> BuildPacket(const PacketSpec& s) {
  std::vector<uint8_t> p;
  AppendPacket(p, s);
  return p;
}

// A FIFO whose elements keep their capacity when it is cleared: the loop harnesses queue megabytes of
// messages per input, and fresh vectors would be mapped, faulted in and unmapped (ASan) every execution.
// emplace() hands out a cleared element; elements are never shared between inputs.
template <typename T>
class RecycledQueue {
 public:
  T& emplace() {
    if (end_ == items_.size()) items_.emplace_back();
    T& x = items_[end_++];
    x.clear();
    return x;
  }
  T& front() { return items_[begin_]; }
  void pop_front() { begin_++; }
  bool empty() const { return begin_ == end_; }
  size_t size() const { return end_ - begin_; }
  void clear() { begin_ = end_ = 0; }
  typename std::vector<T>::const_iterator begin() const { return items_.begin() + static_cast<ptrdiff_t>(begin_); }
  typename std::vector<T>::const_iterator end() const { return items_.begin() + static_cast<ptrdiff_t>(end_); }

 private:
  std::vector<T> items_;
  size_t begin_ = 0, end_ = 0;
};

// With VXTUN_FUZZ_DIGEST set, the loop harnesses print one line per input with what it did (counts, capture
// bytes). Executions are independent when every input prints the same line alone as after any other.
inline void Digest(std::initializer_list<uint64_t> values) {
  static const bool on = std::getenv("VXTUN_FUZZ_DIGEST") != nullptr;
  if (!on) return;
  std::fprintf(stderr, "digest");
  for (uint64_t v : values) std::fprintf(stderr, " %llu", static_cast<unsigned long long>(v));
  std::fprintf(stderr, "\n");
}

// Gathers iovecs into one buffer (reused: cleared first).
inline const std::vector<uint8_t>& Gather(const struct iovec* iov, int n) {
  static std::vector<uint8_t> out;
  out.clear();
  for (int i = 0; i < n; i++) {
    const uint8_t* b = static_cast<const uint8_t*>(iov[i].iov_base);
    out.insert(out.end(), b, b + iov[i].iov_len);
  }
  return out;
}

// A receive socket serving queued messages (a message larger than the buffer arrives empty, as
// MSG_TRUNC makes the real one report it). The bytes of each buffer past the message are poisoned (ASan): the
// batch's buffers live across inputs, and a read past the message would otherwise see an earlier input's bytes.
class FakeUdp final : public UdpIO {
 public:
  struct Msg {
    std::vector<uint8_t> data;
    UnderlayAddr src;
    uint16_t gso = 0;
    void clear() {
      data.clear();
      src = UnderlayAddr{};
      gso = 0;
    }
  };
  RecycledQueue<Msg> queue;
  // wait: a fake never blocks; an empty queue returns 0 as an interrupted wait does.
  int RecvBatch(uint8_t* const* bufs, size_t cap, size_t* sizes, UnderlayAddr* srcs, uint16_t* gsoSizes, int n,
                bool /*wait*/) override {
    int i = 0;
    for (; i < n && !queue.empty(); i++) {
      Msg& m = queue.front();
      sizes[i] = m.data.size() > cap ? 0 : m.data.size();
      ASAN_UNPOISON_MEMORY_REGION(bufs[i], cap);
      if (sizes[i]) std::memcpy(bufs[i], m.data.data(), sizes[i]);
      ASAN_POISON_MEMORY_REGION(bufs[i] + sizes[i], cap - sizes[i]);
      srcs[i] = m.src;
      gsoSizes[i] = m.gso;
      queue.pop_front();
    }
    return i;
  }
  int PollFd() const override { return -1; }
};

// A TUN queue: serves queued reads (readv semantics: scattered over the iovecs, truncated to their
// room) and checks every write: a consistent virtio-net header and one well-formed IP packet (a GSO
// write: a TCP super-packet of ≤ 65535 bytes whose headers the header describes). Writes fail (EINVAL)
// when failEvery says so.
class FakeTun final : public TunIO {
 public:
  RecycledQueue<std::vector<uint8_t>> reads;  // [virtio-net header | packet]
  uint64_t packetsRead = 0;
  uint64_t writes = 0, writesFailed = 0, datagramsFailed = 0;
  unsigned failEvery = 0;    // every n-th write fails (0: none)
  bool gone = false;         // the device is gone: writes return -EIO
  bool rco = false;          // remote checksum offload accepted: a plain write may carry NEEDS_CSUM (checked)
  bool waitingMode = false;  // SetWaiting

  // A waiting read never waits here: it finds the packets the input left, or none (as an interrupted wait).
  int ReadBatch(const struct iovec* const* iovs, const int* counts, size_t* sizes, int n, size_t budget,
                bool wait) override {
    FUZZ_CHECK(!wait || waitingMode);
    int got = 0;
    size_t bytes = 0;
    while (got < n && bytes < budget && !reads.empty()) {
      const std::vector<uint8_t>& p = reads.front();
      size_t done = 0;
      for (int k = 0; k < counts[got] && done < p.size(); k++) {
        const size_t take = std::min(iovs[got][k].iov_len, p.size() - done);
        std::memcpy(iovs[got][k].iov_base, p.data() + done, take);
        done += take;
      }
      sizes[got++] = done;
      bytes += done;
      packetsRead++;
      reads.pop_front();
    }
    return got;
  }

  bool SetWaiting(bool on) override {
    waitingMode = on;
    return true;
  }
  bool waiting() const override { return waitingMode; }

  int WriteBatch(const struct iovec* iov, const int* counts, const int* weights, int n, uint64_t* failed) override {
    if (gone) return -EIO;
    for (int i = 0; i < n; i++) {
      FUZZ_CHECK(counts[i] >= 2);
      FUZZ_CHECK(iov[0].iov_len == kVnetHdrLen);
      const VnetHdr v = ReadVnetHdr(static_cast<const uint8_t*>(iov[0].iov_base));
      const std::vector<uint8_t>& p = Gather(iov + 1, counts[i] - 1);
      InnerIp ip;
      FUZZ_CHECK(ParseInnerIp(p.data(), p.size(), &ip) == Verdict::Forward);
      FUZZ_CHECK(ip.length == p.size());
      FUZZ_CHECK(p.size() <= 65535);
      if (v.gsoType != kVnetGsoNone) {
        FUZZ_CHECK(v.gsoType == (ip.family == 4 ? kVnetGsoTcpv4 : kVnetGsoTcpv6));
        FUZZ_CHECK(ip.proto == 6);
        FUZZ_CHECK(v.flags == kVnetFlagNeedsCsum);
        FUZZ_CHECK(v.csumStart == ip.headerLen && v.csumOffset == 16);
        FUZZ_CHECK(v.gsoSize > 0 && v.hdrLen >= ip.headerLen + 20 && v.hdrLen < p.size());
      } else if (v.flags != 0) {
        // Only a packet received with remote checksum offload: NEEDS_CSUM at its TCP/UDP field, which holds the seed.
        FUZZ_CHECK(rco && v.flags == kVnetFlagNeedsCsum && (ip.proto == 6 || ip.proto == 17));
        FUZZ_CHECK(v.csumStart == ip.headerLen && v.csumOffset == (ip.proto == 6 ? 16 : 6));
        const uint8_t* f = p.data() + ip.headerLen + v.csumOffset;
        FUZZ_CHECK((f[0] << 8 | f[1]) == Fold(PseudoHeaderSum(ip, ip.length - ip.headerLen)));
      }
      writes++;
      if (failEvery && writes % failEvery == 0) {
        writesFailed++;
        const uint64_t w = weights ? static_cast<uint64_t>(weights[i]) : 1;
        FUZZ_CHECK(w >= 1);
        datagramsFailed += w;
        *failed += w;
      }
      iov += counts[i];
    }
    return n;
  }
  int PollFd() const override { return -1; }
};

// A transmit socket of one family (4 or 6) in a loop whose sockets have the families have4/have6: checks every
// message (each datagram ≤ 65,507 bytes with a valid VXLAN header for VNI 1, our inner source MAC, addressed to
// the endpoint decision 4 of the contract picks (written out here, not through ChooseEndpoint) of the peer that
// owns its inner destination, of this socket's family, with that endpoint's MAC as destination MAC) and counts
// datagrams; sends fail when failEvery says so.
class FakeSender final : public UdpSender {
 public:
  uint64_t sent = 0, failedDatagrams = 0, msgs = 0;
  unsigned failEvery = 0;
  bool broken = false;
  bool rco = false;  // remote checksum offload on: datagrams to peer 0 may carry it (checked)
  uint8_t family = 4;
  bool have4 = true, have6 = false;
  // The endpoint index (VtepAddr(i)) a packet of this family and destination goes to.
  int Expected(const InnerIp& ip) const {
    if (ip.family == 4 && ip.dst[2] == 2) return 1;  // peer 1: IPv6 only
    if (ip.family == 6 && have6) return 3;           // peer 0's endpoint of the inner family, when we have it
    if (ip.family == 4 && have4) return 0;
    return have4 ? 0 : 3;  // else its first endpoint of a family we have
  }
  int SendBatch(OutMsg* m, int n, uint64_t* failed) override {
    for (int i = 0; i < n; i++) {
      const std::vector<uint8_t>& d = Gather(m[i].iov, m[i].iovcnt);
      FUZZ_CHECK(d.size() <= 65507);
      FUZZ_CHECK(m[i].gsoSize == 0 || !broken);
      const size_t seg = m[i].gsoSize ? m[i].gsoSize : d.size();
      FUZZ_CHECK(seg > 0);
      uint64_t count = 0;
      for (size_t off = 0; off < d.size(); off += seg) {
        const size_t len = std::min(seg, d.size() - off);
        FUZZ_CHECK(len >= kEncapPrefix + kIpv4MinHeader);
        FUZZ_CHECK(CheckVxlanHeader(d.data() + off, len, 1, rco) == Verdict::Forward);
        FUZZ_CHECK(std::memcmp(d.data() + off + kVxlanHeader + 6, kOurMac, 6) == 0);
        InnerIp ip;
        FUZZ_CHECK(ParseInnerIp(d.data() + off + kEncapPrefix, len - kEncapPrefix, &ip) == Verdict::Forward);
        FUZZ_CHECK(ip.length == len - kEncapPrefix);
        // 10.244.1.0/24 and fd00:1::/64 are peer 0's, 10.244.2.0/24 peer 1's (FixedTable).
        const int e = Expected(ip);
        FUZZ_CHECK(m[i].dst == VtepAddr(e));
        FUZZ_CHECK(m[i].dst.family == family);
        const uint8_t* mac = e == 1 ? kPeerMac[1] : e == 3 ? kPeer0Mac6 : kPeerMac[0];
        FUZZ_CHECK(std::memcmp(d.data() + off + kVxlanHeader, mac, 6) == 0);
        // Remote checksum offload only to peer 0 (FixedTable), and describing the packet exactly.
        if (d[off + 1] != 0) FUZZ_CHECK(e != 1 && RcoMatches(d.data() + off, d.data() + off + kEncapPrefix, ip));
        count++;
      }
      msgs++;
      if (failEvery && msgs % failEvery == 0) {
        failedDatagrams += count;
        *failed += count;
      } else {
        sent += count;
      }
    }
    return n;
  }
  bool gsoBroken() const override { return broken; }
};

}  // namespace vxtun::fuzz
