// Test and bench exports over the receive side's coalescing plan (core/gro.h PlanTunWrites).
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/classify.h"
#include "core/gro.h"
#include "core/virtio.h"
#include "testing/exports.h"

namespace vxtun {
namespace {

// Parses the inner packets of a groPlan/groWrites call into pkts (unparsable ones are skipped).
// outerVerified: the packets came in a UDP GRO train (RxPkt::outerVerified), one flag for all.
void ReadRxPkts(const Napi::Array& arr, bool outerVerified, std::vector<RxPkt>* pkts) {
  const uint32_t n = arr.Length();
  pkts->reserve(n);
  for (uint32_t i = 0; i < n; i++) {
    auto b = arr.Get(i).As<Napi::Uint8Array>();
    RxPkt k;
    if (ParseInnerIp(b.Data(), b.ByteLength(), &k.ip) != Verdict::Forward) continue;
    k.p = b.Data();
    k.len = k.ip.length;
    k.outerVerified = outerVerified;
    pkts->push_back(k);
  }
}

// groPlan(packets: Buffer[], mtu, outerVerified = false) → writes: the receive-side coalescing plan
// for a batch of inner packets, as the receive loop does before writing (benchmarks).
Napi::Value JS_groPlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t mtu = info[1].As<Napi::Number>().Uint32Value();
  std::vector<RxPkt> pkts;
  ReadRxPkts(info[0].As<Napi::Array>(), info.Length() > 2 && info[2].ToBoolean().Value(), &pkts);
  std::vector<uint8_t> vnet(pkts.size() * kVnetHdrLen + kVnetHdrLen);
  std::vector<struct iovec> iov(2 * pkts.size() + 8);
  std::vector<TunWrite> writes(pkts.size() + 1);
  const GroScratch s{vnet.data(), iov.data(), static_cast<int>(iov.size()), writes.data(),
                     static_cast<int>(writes.size())};
  // Planning rewrites the headers of run heads in place; keep the inputs reusable across calls.
  constexpr size_t kHead = 128;
  std::vector<uint8_t> saved(pkts.size() * kHead);
  for (size_t i = 0; i < pkts.size(); i++) std::memcpy(&saved[i * kHead], pkts[i].p, std::min(kHead, pkts[i].len));
  GroStats st;
  const int nw = PlanTunWrites(pkts.data(), static_cast<int>(pkts.size()), true, mtu, s, &st);
  for (size_t i = 0; i < pkts.size(); i++) std::memcpy(pkts[i].p, &saved[i * kHead], std::min(kHead, pkts[i].len));
  return Napi::Number::New(env, nw);
}

// groWrites(packets: Buffer[], mtu, outerVerified, coalesce) → [{kind, first, segments, vnet, bytes}]
// (tests): the TUN writes PlanTunWrites plans for copies of the packets (the inputs are not
// changed): kind 'plain' | 'gso' | 'split', the index of its first packet, the packets it covers,
// its virtio-net header {flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset} and the bytes it
// gathers after that header (for 'split', the packet the receive loop segments). Throws when
// planning fails.
Napi::Value JS_groWrites(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto arr = info[0].As<Napi::Array>();
  const size_t mtu = info[1].As<Napi::Number>().Uint32Value();
  const bool outerVerified = info[2].ToBoolean().Value();
  const bool coalesce = info.Length() <= 3 || info[3].ToBoolean().Value();
  std::vector<std::vector<uint8_t>> copies;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    auto b = arr.Get(i).As<Napi::Uint8Array>();
    copies.emplace_back(b.Data(), b.Data() + b.ByteLength());
  }
  std::vector<RxPkt> pkts;
  for (auto& c : copies) {
    RxPkt k;
    if (ParseInnerIp(c.data(), c.size(), &k.ip) != Verdict::Forward) continue;
    k.p = c.data();
    k.len = k.ip.length;
    k.outerVerified = outerVerified;
    pkts.push_back(k);
  }
  std::vector<uint8_t> vnet(pkts.size() * kVnetHdrLen + kVnetHdrLen);
  std::vector<struct iovec> iov(2 * pkts.size() + 8);
  std::vector<TunWrite> writes(pkts.size() + 1);
  const GroScratch s{vnet.data(), iov.data(), static_cast<int>(iov.size()), writes.data(),
                     static_cast<int>(writes.size())};
  GroStats st;
  const int nw = PlanTunWrites(pkts.data(), static_cast<int>(pkts.size()), coalesce, mtu, s, &st);
  if (nw < 0) throw Napi::Error::New(env, "groWrites: scratch ran out");
  Napi::Array out = Napi::Array::New(env, static_cast<size_t>(nw));
  for (int w = 0; w < nw; w++) {
    const TunWrite& tw = writes[static_cast<size_t>(w)];
    const VnetHdr v = ReadVnetHdr(static_cast<const uint8_t*>(iov[static_cast<size_t>(tw.firstIov)].iov_base));
    Napi::Object vh = Napi::Object::New(env);
    vh.Set("flags", v.flags);
    vh.Set("gsoType", v.gsoType);
    vh.Set("hdrLen", v.hdrLen);
    vh.Set("gsoSize", v.gsoSize);
    vh.Set("csumStart", v.csumStart);
    vh.Set("csumOffset", v.csumOffset);
    std::vector<uint8_t> bytes;
    if (tw.kind == TunWrite::kSplit) {
      const RxPkt& k = pkts[static_cast<size_t>(tw.pkt)];
      bytes.assign(k.p, k.p + k.len);
    }
    for (int j = 1; j < tw.iovcnt; j++) {
      const struct iovec& e = iov[static_cast<size_t>(tw.firstIov + j)];
      bytes.insert(bytes.end(), static_cast<uint8_t*>(e.iov_base), static_cast<uint8_t*>(e.iov_base) + e.iov_len);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", tw.kind == TunWrite::kGso ? "gso" : tw.kind == TunWrite::kSplit ? "split" : "plain");
    o.Set("first", tw.pkt);
    o.Set("segments", tw.segments);
    o.Set("vnet", vh);
    o.Set("bytes", Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size()));
    out.Set(static_cast<uint32_t>(w), o);
  }
  return out;
}

}  // namespace

void AddGroExports(Napi::Env env, Napi::Object exports) {
  exports.Set("groPlan", Napi::Function::New(env, JS_groPlan));
  exports.Set("groWrites", Napi::Function::New(env, JS_groWrites));
}

}  // namespace vxtun
