// libFuzzer harness: inner IP parsing (ParseInnerIp) and what the transmit path does with a parsed
// packet (ClassifyTx, InnerFlowHash, the IPv4 header checksum, TcpHeaderLen) — on an input that is
// the packet itself, as read from the TUN.
#include "core/checksum.h"
#include "core/classify.h"
#include "core/segment.h"
#include "fuzz_input.h"

using namespace vxtun;

namespace {

// A fixed two-peer table (10.244.2.0/24 + fd10:244:0:2::/64, 10.244.0.0/16 as a shorter prefix),
// local 10.244.1.0/24 and fd10:244:0:1::/64.
const Table& FixedTable() {
  static const Table* t = [] {
    std::vector<PeerEntry> peers(2);
    std::string err;
    Prefix4 p4;
    Prefix6 p6;
    bool is6;
    peers[0].name = "node-2";
    peers[0].publicIp = UnderlayAddr::V4Net(0x0263a8c0);
    ParsePrefix("10.244.2.0/24", &p4, &p6, &is6);
    peers[0].v4.push_back(p4);
    ParsePrefix("fd10:244:0:2::/64", &p4, &p6, &is6);
    peers[0].v6.push_back(p6);
    peers[1].name = "gateway";
    peers[1].publicIp = UnderlayAddr::V4Net(0x0363a8c0);
    ParsePrefix("10.244.0.0/16", &p4, &p6, &is6);
    peers[1].v4.push_back(p4);
    std::vector<Prefix4> l4(1);
    std::vector<Prefix6> l6(1);
    ParsePrefix("10.244.1.0/24", &l4[0], &p6, &is6);
    ParsePrefix("fd10:244:0:1::/64", &p4, &l6[0], &is6);
    return Table::Build(std::move(peers), std::move(l4), std::move(l6), &err).release();
  }();
  return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader r(data, size);
  size_t len;
  auto p = r.Rest(&len);
  InnerIp ip;
  const Verdict v = ParseInnerIp(p.get(), len, &ip);
  FUZZ_CHECK(v == Verdict::Forward || v == Verdict::Short || v == Verdict::BadIp);
  TxResult tx;
  const Verdict t = ClassifyTx(FixedTable(), p.get(), len, &tx);
  if (v != Verdict::Forward) {
    FUZZ_CHECK(t == v);
    return 0;
  }
  FUZZ_CHECK(ip.family == 4 || ip.family == 6);
  FUZZ_CHECK(ip.family == (p[0] >> 4));
  FUZZ_CHECK(ip.headerLen >= (ip.family == 4 ? 20u : 40u) && ip.headerLen <= ip.length && ip.length <= len);
  const size_t alen = ip.family == 4 ? 4 : 16;
  FUZZ_CHECK(ip.src >= p.get() && ip.src + alen <= p.get() + ip.headerLen);
  FUZZ_CHECK(ip.dst >= p.get() && ip.dst + alen <= p.get() + ip.headerLen);
  FUZZ_CHECK(t == Verdict::Forward || t == Verdict::NoRoute);
  if (t == Verdict::Forward) {
    FUZZ_CHECK(tx.length == ip.length && tx.peer >= 0 && static_cast<size_t>(tx.peer) < FixedTable().size());
    FUZZ_CHECK(tx.flowHash == InnerFlowHash(p.get(), ip));
  }
  if (ip.family == 4) (void)Ipv4HeaderChecksumOk(p.get(), ip.headerLen);
  const size_t th = TcpHeaderLen(p.get(), ip);
  FUZZ_CHECK(th == 0 || (th >= 20 && th <= 60 && ip.headerLen + th <= ip.length));
  return 0;
}
