#include "testing/table_wrap.h"

#include <arpa/inet.h>

#include <cstdio>
#include <memory>

#include "core/classify.h"
#include "core/fdb.h"
#include "node/convert.h"

namespace vxtun {
namespace {

class TableWrap : public Napi::ObjectWrap<TableWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "Table",
        {InstanceMethod("lookup", &TableWrap::JS_lookup), InstanceMethod("update", &TableWrap::JS_update),
         InstanceMethod("peers", &TableWrap::JS_peers), InstanceMethod("peerByIp", &TableWrap::JS_peerByIp),
         InstanceMethod("classifyTx", &TableWrap::JS_classifyTx),
         InstanceMethod("classifyRx", &TableWrap::JS_classifyRx),
         InstanceMethod("lookupBatch", &TableWrap::JS_lookupBatch),
         InstanceMethod("chooseEndpoint", &TableWrap::JS_chooseEndpoint),
         InstanceMethod("classifyRxBatch", &TableWrap::JS_classifyRxBatch)});
  }
  explicit TableWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TableWrap>(info) {
    table_ = ParseTable(info.Env(), info[0]);
  }

 private:
  Napi::Value PeerName(Napi::Env env, int i) {
    return i < 0 ? env.Null() : Napi::String::New(env, table_->peer(i).name);
  }
  // update(upsert, remove): replaces this handle's table by Table::Update of it (tests, benchmarks).
  Napi::Value JS_update(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<PeerEntry> upsert = ParsePeers(env, info[0]);
    const std::vector<std::string> remove = ParseNames(env, info[1]);
    std::string err;
    auto t = Table::Update(*table_, std::move(upsert), remove, &err);
    if (!t) throw Napi::RangeError::New(env, err);
    table_ = std::move(t);
    return env.Undefined();
  }
  static std::string MacText(const uint8_t* m) {
    char mac[18];
    snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return mac;
  }
  // peers() → [{name, publicIP, vtepMAC, publicIPv6?, vtepMACv6?}] in table order (tests: what Build/Update kept).
  Napi::Value JS_peers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env, table_->size());
    for (size_t i = 0; i < table_->size(); i++) {
      const PeerEntry& p = table_->peer(static_cast<int>(i));
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", p.name);
      o.Set("publicIP", p.publicIp.ToString());
      o.Set("vtepMAC", MacText(p.mac));
      if (!p.vtep6.ip.empty()) {
        o.Set("publicIPv6", p.vtep6.ip.ToString());
        o.Set("vtepMACv6", MacText(p.vtep6.mac));
      }
      a.Set(static_cast<uint32_t>(i), o);
    }
    return a;
  }
  // chooseEndpoint(peerName, innerFamily, have4, have6) → {ip, mac} of the endpoint ChooseEndpoint picks for that
  // peer, or null (none, or no such peer).
  Napi::Value JS_chooseEndpoint(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    const uint8_t family = static_cast<uint8_t>(info[1].As<Napi::Number>().Uint32Value());
    for (size_t i = 0; i < table_->size(); i++) {
      const PeerEntry& p = table_->peer(static_cast<int>(i));
      if (p.name != name) continue;
      const Endpoint e = ChooseEndpoint(p, family, info[2].ToBoolean(), info[3].ToBoolean());
      if (e == Endpoint::None) return env.Null();
      Napi::Object o = Napi::Object::New(env);
      o.Set("ip", EndpointIp(p, e).ToString());
      o.Set("mac", MacText(EndpointMac(p, e)));
      return o;
    }
    return env.Null();
  }
  // peerByIp(publicIP) → the name of the peer with that public IP (either family), or null (the receive-side map).
  Napi::Value JS_peerByIp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return PeerName(env, table_->PeerByIp(ParseUnderlayAddr(env, info[0].As<Napi::String>().Utf8Value(), "publicIP")));
  }
  // lookup(ip) → peer name or null (longest-prefix match, local CIDRs excluded).
  Napi::Value JS_lookup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string s = info[0].As<Napi::String>().Utf8Value();
    uint8_t b[16];
    if (inet_pton(AF_INET, s.c_str(), b) == 1) {
      const uint32_t a = Load4(b);
      return PeerName(env, table_->IsLocal4(a) ? -1 : table_->Lookup4(a));
    }
    if (inet_pton(AF_INET6, s.c_str(), b) == 1) {
      uint64_t hi, lo;
      Load6(b, &hi, &lo);
      return PeerName(env, table_->IsLocal6(hi, lo) ? -1 : table_->Lookup6(hi, lo));
    }
    throw Napi::TypeError::New(env, "expected an IP address");
  }
  // classifyTx(packet) → { verdict, peer, length }
  Napi::Value JS_classifyTx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto buf = info[0].As<Napi::Uint8Array>();
    TxResult r;
    const Verdict v = ClassifyTx(*table_, buf.Data(), buf.ByteLength(), &r);
    Napi::Object o = Napi::Object::New(env);
    o.Set("verdict", VerdictName(v));
    o.Set("peer", v == Verdict::Forward ? PeerName(env, r.peer) : env.Null());
    o.Set("length", Napi::Number::New(env, static_cast<double>(v == Verdict::Forward ? r.length : 0)));
    return o;
  }
  // classifyRx(datagram, srcIP (either family), policy) → { verdict, peer, length }
  Napi::Value JS_classifyRx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto buf = info[0].As<Napi::Uint8Array>();
    const UnderlayAddr src = ParseUnderlayAddr(env, info[1].As<Napi::String>().Utf8Value(), "srcIP");
    const RxPolicy pol = ParsePolicy(info[2].As<Napi::Object>());
    RxResult r;
    const Verdict v = ClassifyRx(*table_, pol, src, buf.Data(), buf.ByteLength(), &r);
    Napi::Object o = Napi::Object::New(env);
    o.Set("verdict", VerdictName(v));
    o.Set("peer", v == Verdict::Forward ? PeerName(env, r.peer) : env.Null());
    o.Set("length", Napi::Number::New(env, static_cast<double>(v == Verdict::Forward ? r.length : 0)));
    return o;
  }
  // lookupBatch(addrs: Uint8Array of 4-byte IPv4 addresses) → how many matched a peer.
  Napi::Value JS_lookupBatch(const Napi::CallbackInfo& info) {
    auto a = info[0].As<Napi::Uint8Array>();
    uint32_t found = 0;
    for (size_t i = 0; i + 4 <= a.ByteLength(); i += 4) found += table_->Lookup4(Load4(a.Data() + i)) >= 0;
    return Napi::Number::New(info.Env(), found);
  }
  // classifyRxBatch(datagrams: Buffer[], srcIP, policy) → how many were accepted.
  Napi::Value JS_classifyRxBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto arr = info[0].As<Napi::Array>();
    const UnderlayAddr src = ParseUnderlayAddr(env, info[1].As<Napi::String>().Utf8Value(), "srcIP");
    const RxPolicy pol = ParsePolicy(info[2].As<Napi::Object>());
    uint32_t ok = 0;
    const uint32_t n = arr.Length();
    for (uint32_t i = 0; i < n; i++) {
      auto b = arr.Get(i).As<Napi::Uint8Array>();
      RxResult r;
      ok += ClassifyRx(*table_, pol, src, b.Data(), b.ByteLength(), &r) == Verdict::Forward;
    }
    return Napi::Number::New(env, ok);
  }
  std::unique_ptr<Table> table_;
};

}  // namespace

Napi::Function InitTableWrap(Napi::Env env) { return TableWrap::Init(env); }

}  // namespace vxtun
