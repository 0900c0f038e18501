// The JavaScript surface of the addon. It is deliberately narrow: src/dataplane/addon.ts types it, and the
// TypeScript layer owns validation, so this file only converts values and reports syscall errors
// (as Error objects carrying code/syscall, which src/dataplane/addon.ts turns into DataplaneError).
//
//   new Dataplane(opts)   open the TUN device and UDP sockets       opts: see ParseOptions
//   .start(onFatal, want) probe offloads, start the worker threads   → the offloads in use
//                         want = {tso, gro, udpGso, udpGro} booleans; onFatal(message) on loop death
//   .setTable(table)      publish a new forwarding table atomically table: see ParseTable
//   .updatePeers(up, rm)  publish the current table with peers upserted/removed (the incremental verbs)
//   .stats()              counters                                   .close()  stop, join, close
//   .captureStart(opts) → id | -1, .captureStop(id) → bool, .captureRead(id, into, maxRecords)
//                         → {bytes, records} (pcapng EPBs written into `into`), .captureStats(id): `vxtun dump`
//   new Table(table)      a standalone table for tests/benchmarks: lookup, classifyTx, classifyRx, update
//   encap(pkt, vni, dstMac, srcMac)   the 22-byte prefix + packet, for tests/benchmarks
//   segmentTcp(pkt, mss)              a TCP super-packet split into segments (Buffer[]), or null
//   completeChecksum(pkt)             "not-applicable" | "valid" | "completed" | "bad" (pkt fixed in place)
//   onesSum(bytes, impl)              tests: the folded sum by one SumBytes implementation (native/checksum.h)
//   captureEpb(record, outer?)        tests: one capture record as a pcapng block (native/pcapng_epb.h)
//   captureFilterMatch(prog, dir, verdict, peer, pkt)  tests: a compiled dump filter (native/capture_filter.h)
#include <arpa/inet.h>
#include <napi.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "capture_filter.h"
#include "checksum.h"
#include "classify.h"
#include "dataplane.h"
#include "fdb.h"
#include "gro.h"
#include "pcapng_epb.h"
#include "segment.h"
#include "tso.h"
#include "tun_device.h"
#include "vxlan.h"

namespace vxtun {
namespace {

[[noreturn]] void ThrowSys(Napi::Env env, const SysError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, ErrnoName(e.err)));
  err.Set("syscall", Napi::String::New(env, e.syscall));
  err.Set("errno", Napi::Number::New(env, e.err));
  throw err;
}

bool ParseMac(const std::string& s, uint8_t out[6]) {
  unsigned v[6];
  char tail;
  if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
    return false;
  for (int i = 0; i < 6; i++) out[i] = static_cast<uint8_t>(v[i]);
  return true;
}

std::string GetString(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("expected string ") + key);
  return v.As<Napi::String>().Utf8Value();
}

uint32_t GetU32(const Napi::Object& o, const char* key, uint32_t max) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("expected number ") + key);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d)))
    throw Napi::RangeError::New(o.Env(), std::string("out of range: ") + key);
  return static_cast<uint32_t>(d);
}

bool GetBool(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) throw Napi::TypeError::New(o.Env(), std::string("expected boolean ") + key);
  return v.As<Napi::Boolean>().Value();
}

uint32_t ParseIpv4(Napi::Env env, const std::string& s) {
  in_addr a;
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) throw Napi::TypeError::New(env, "expected an IPv4 address: " + s);
  return a.s_addr;
}

void ParsePrefixes(Napi::Env env, Napi::Value v, std::vector<Prefix4>* v4, std::vector<Prefix6>* v6) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, "expected an array of CIDRs");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) throw Napi::TypeError::New(env, "expected a CIDR string");
    Prefix4 p4;
    Prefix6 p6;
    bool is6;
    const std::string s = e.As<Napi::String>().Utf8Value();
    if (!ParsePrefix(s, &p4, &p6, &is6)) throw Napi::TypeError::New(env, "bad CIDR: " + s);
    if (is6)
      v6->push_back(p6);
    else
      v4->push_back(p4);
  }
}

// peer = { name, publicIP, vtepMAC, cidrs: string[] }
PeerEntry ParsePeer(Napi::Env env, Napi::Value ev) {
  if (!ev.IsObject()) throw Napi::TypeError::New(env, "expected a peer object");
  Napi::Object po = ev.As<Napi::Object>();
  PeerEntry p;
  p.name = GetString(po, "name");
  p.publicIp = ParseIpv4(env, GetString(po, "publicIP"));
  if (!ParseMac(GetString(po, "vtepMAC"), p.mac)) throw Napi::TypeError::New(env, "bad MAC for peer " + p.name);
  ParsePrefixes(env, po.Get("cidrs"), &p.v4, &p.v6);
  return p;
}

std::vector<PeerEntry> ParsePeers(Napi::Env env, Napi::Value pv) {
  if (!pv.IsArray()) throw Napi::TypeError::New(env, "expected peers array");
  Napi::Array pa = pv.As<Napi::Array>();
  std::vector<PeerEntry> peers;
  peers.reserve(pa.Length());
  for (uint32_t i = 0; i < pa.Length(); i++) peers.push_back(ParsePeer(env, pa.Get(i)));
  return peers;
}

// table = { local: string[], peers: [peer…] }
std::unique_ptr<Table> ParseTable(Napi::Env env, Napi::Value v) {
  if (!v.IsObject()) throw Napi::TypeError::New(env, "expected a table object");
  Napi::Object o = v.As<Napi::Object>();
  std::vector<Prefix4> local4;
  std::vector<Prefix6> local6;
  ParsePrefixes(env, o.Get("local"), &local4, &local6);
  std::vector<PeerEntry> peers = ParsePeers(env, o.Get("peers"));
  std::string err;
  auto t = Table::Build(std::move(peers), std::move(local4), std::move(local6), &err);
  if (!t) throw Napi::RangeError::New(env, err);
  return t;
}

// (upsert: peer[], remove: string[]) → the parsed arguments of the incremental verbs.
std::vector<std::string> ParseNames(Napi::Env env, Napi::Value v) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, "expected an array of peer names");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> names;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) throw Napi::TypeError::New(env, "expected a peer name");
    names.push_back(e.As<Napi::String>().Utf8Value());
  }
  return names;
}

RxPolicy ParsePolicy(const Napi::Object& o) {
  RxPolicy p;
  p.vni = GetU32(o, "vni", kMaxVni);
  if (!ParseMac(GetString(o, "vtepMAC"), p.mac)) throw Napi::TypeError::New(o.Env(), "bad vtepMAC");
  p.acceptUnknownVteps = GetBool(o, "acceptUnknownVteps");
  p.checkInnerSource = GetBool(o, "checkInnerSource");
  return p;
}

struct AddonData;

Napi::Object OffloadsObject(Napi::Env env, const OffloadSet& o) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("tso", Napi::Boolean::New(env, o.tso));
  r.Set("gro", Napi::Boolean::New(env, o.gro));
  r.Set("udpGso", Napi::Boolean::New(env, o.udpGso));
  r.Set("udpGro", Napi::Boolean::New(env, o.udpGro));
  return r;
}

class DataplaneWrap : public Napi::ObjectWrap<DataplaneWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Dataplane",
                       {InstanceMethod("start", &DataplaneWrap::JS_start),
                        InstanceMethod("setTable", &DataplaneWrap::JS_setTable),
                        InstanceMethod("updatePeers", &DataplaneWrap::JS_updatePeers),
                        InstanceMethod("stats", &DataplaneWrap::JS_stats),
                        InstanceMethod("close", &DataplaneWrap::JS_close),
                        InstanceMethod("captureStart", &DataplaneWrap::JS_captureStart),
                        InstanceMethod("captureStop", &DataplaneWrap::JS_captureStop),
                        InstanceMethod("captureRead", &DataplaneWrap::JS_captureRead),
                        InstanceMethod("captureStats", &DataplaneWrap::JS_captureStats),
                        InstanceAccessor("workers", &DataplaneWrap::JS_workers, nullptr)});
  }
  // opts = { device, workers, port, bindIP, mtu, vni, vtepMAC, acceptUnknownVteps, checkInnerSource }
  explicit DataplaneWrap(const Napi::CallbackInfo& info);
  ~DataplaneWrap() override { Shutdown(); }
  void Shutdown();

 private:
  Napi::Value JS_start(const Napi::CallbackInfo& info);
  Napi::Value JS_setTable(const Napi::CallbackInfo& info);
  // updatePeers(upsert: peer[], remove: string[]): the incremental verbs; a RangeError (table unchanged) when the
  // result would be invalid, like setTable.
  Napi::Value JS_updatePeers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    std::vector<PeerEntry> upsert = ParsePeers(env, info[0]);
    const std::vector<std::string> remove = ParseNames(env, info[1]);
    std::string err;
    if (!dp_->UpdatePeers(std::move(upsert), remove, &err)) throw Napi::RangeError::New(env, err);
    return env.Undefined();
  }
  Napi::Value JS_stats(const Napi::CallbackInfo& info);
  Napi::Value JS_close(const Napi::CallbackInfo& info);
  // captureStart({program, snaplen, outer, publicIP, port, vni}) → id, or -1 when too many run.
  Napi::Value JS_captureStart(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "captureStart: expected an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    CaptureOptions c;
    Napi::Value prog = o.Get("program");
    if (prog.IsTypedArray()) {
      auto a = prog.As<Napi::Uint8Array>();
      std::string err;
      if (!CaptureFilter::Decode(a.Data(), a.ByteLength(), &c.filter, &err))
        throw Napi::TypeError::New(env, "captureStart: bad filter program: " + err);
    }
    c.snaplen = GetU32(o, "snaplen", static_cast<uint32_t>(kCaptureMaxSnap));
    c.outer = o.Get("outer").ToBoolean();
    c.publicIpNet = ParseIpv4(env, GetString(o, "publicIP"));
    c.port = static_cast<uint16_t>(GetU32(o, "port", 65535));
    c.vni = GetU32(o, "vni", kMaxVni);
    return Napi::Number::New(env, dp_->capture().Start(std::move(c)));
  }
  Napi::Value JS_captureStop(const Napi::CallbackInfo& info) {
    if (!dp_ || !info[0].IsNumber()) return Napi::Boolean::New(info.Env(), false);
    return Napi::Boolean::New(info.Env(), dp_->capture().Stop(info[0].As<Napi::Number>().Int32Value()));
  }
  // captureRead(id, into: Uint8Array, maxRecords) → {bytes, records}: whole pcapng EPBs written into `into` (oldest
  // first), drained straight from the rings: the caller owns and reuses the buffer, so a drain allocates nothing.
  Napi::Value JS_captureRead(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "captureRead: expected a Uint8Array to fill");
    auto into = info[1].As<Napi::Uint8Array>();
    CaptureDrain d;
    if (dp_ && !dp_->closed() && info[0].IsNumber()) {
      const size_t maxRecords = info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : SIZE_MAX;
      d = dp_->capture().Drain(info[0].As<Napi::Number>().Int32Value(), into.Data(), into.ByteLength(), maxRecords);
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("bytes", Napi::Number::New(env, static_cast<double>(d.bytes)));
    r.Set("records", Napi::Number::New(env, static_cast<double>(d.records)));
    return r;
  }
  // captureStats(id) → {matched, dropped} or null when the id is not running
  Napi::Value JS_captureStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CaptureSessionStats st;
    if (!dp_ || !info[0].IsNumber() || !dp_->capture().SessionStats(info[0].As<Napi::Number>().Int32Value(), &st))
      return env.Null();
    Napi::Object r = Napi::Object::New(env);
    r.Set("matched", Napi::Number::New(env, static_cast<double>(st.matched)));
    r.Set("dropped", Napi::Number::New(env, static_cast<double>(st.dropped)));
    return r;
  }
  Napi::Value JS_workers(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), dp_ ? dp_->workers() : 0);
  }
  void RequireOpen(Napi::Env env) {
    if (!dp_ || dp_->closed()) throw Napi::Error::New(env, "dataplane is closed");
  }

  std::unique_ptr<Dataplane> dp_;
  Napi::ThreadSafeFunction fatal_;
  bool haveFatal_ = false;
  AddonData* data_ = nullptr;
};

// Per-environment state: every open dataplane, so env teardown can stop their threads.
struct AddonData {
  std::set<DataplaneWrap*> open;
};

DataplaneWrap::DataplaneWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DataplaneWrap>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "expected an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  DataplaneOptions opts;
  opts.device = GetString(o, "device");
  opts.workers = static_cast<int>(GetU32(o, "workers", 64));
  opts.port = static_cast<uint16_t>(GetU32(o, "port", 65535));
  opts.bindIp = ParseIpv4(env, GetString(o, "bindIP"));
  opts.mtu = GetU32(o, "mtu", 65535);
  opts.policy = ParsePolicy(o);
  try {
    dp_ = std::make_unique<Dataplane>(opts);
  } catch (const SysError& e) {
    ThrowSys(env, e);
  }
  data_ = env.GetInstanceData<AddonData>();
  data_->open.insert(this);
}

void DataplaneWrap::Shutdown() {
  if (dp_) dp_->Close();
  if (haveFatal_) {
    fatal_.Release();
    haveFatal_ = false;
  }
  if (data_) data_->open.erase(this);
  data_ = nullptr;
}

Napi::Value DataplaneWrap::JS_start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "expected an onFatal callback");
  if (haveFatal_) throw Napi::Error::New(env, "dataplane already started");
  if (!info[1].IsObject()) throw Napi::TypeError::New(env, "expected the wanted offloads");
  Napi::Object wo = info[1].As<Napi::Object>();
  OffloadSet want;
  want.tso = GetBool(wo, "tso");
  want.gro = GetBool(wo, "gro");
  want.udpGso = GetBool(wo, "udpGso");
  want.udpGro = GetBool(wo, "udpGro");
  fatal_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "vxtun-fatal", 0, 1);
  haveFatal_ = true;
  Napi::ThreadSafeFunction tsfn = fatal_;
  const OffloadSet got = dp_->Start(want, [tsfn](const std::string& msg) mutable {
    auto* copy = new std::string(msg);
    if (tsfn.NonBlockingCall(copy, [](Napi::Env env, Napi::Function cb, std::string* s) {
          cb.Call({Napi::String::New(env, *s)});
          delete s;
        }) != napi_ok)
      delete copy;
  });
  return OffloadsObject(env, got);
}

Napi::Value DataplaneWrap::JS_setTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  dp_->SetTable(ParseTable(env, info[0]));
  return env.Undefined();
}

Napi::Value DataplaneWrap::JS_stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!dp_) throw Napi::Error::New(env, "dataplane is closed");
  const DataplaneStats st = dp_->Stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("txPackets", Napi::Number::New(env, static_cast<double>(st.txPackets)));
  o.Set("txBytes", Napi::Number::New(env, static_cast<double>(st.txBytes)));
  o.Set("txErrors", Napi::Number::New(env, static_cast<double>(st.txErrors)));
  o.Set("rxPackets", Napi::Number::New(env, static_cast<double>(st.rxPackets)));
  o.Set("rxBytes", Napi::Number::New(env, static_cast<double>(st.rxBytes)));
  o.Set("rxErrors", Napi::Number::New(env, static_cast<double>(st.rxErrors)));
  o.Set("rxCsumCompleted", Napi::Number::New(env, static_cast<double>(st.rxCsumCompleted)));
  o.Set("rxSuperSplit", Napi::Number::New(env, static_cast<double>(st.rxSuperSplit)));
  o.Set("rxCoalesced", Napi::Number::New(env, static_cast<double>(st.rxCoalesced)));
  o.Set("txTsoSplit", Napi::Number::New(env, static_cast<double>(st.txTsoSplit)));
  o.Set("rxSocketDrops", Napi::Number::New(env, static_cast<double>(st.rxSocketDrops)));
  o.Set("offloads", OffloadsObject(env, st.offloads));
  o.Set("captureDropped", Napi::Number::New(env, static_cast<double>(st.captureDropped)));
  o.Set("captureMatched", Napi::Number::New(env, static_cast<double>(st.captureMatched)));
  o.Set("captureSessions", Napi::Number::New(env, static_cast<double>(st.captureSessions)));
  Napi::Object txd = Napi::Object::New(env), rxd = Napi::Object::New(env);
  for (int k = 1; k < kVerdictCount; k++) {
    const char* name = VerdictName(static_cast<Verdict>(k));
    txd.Set(name, Napi::Number::New(env, static_cast<double>(st.txDrops[k])));
    rxd.Set(name, Napi::Number::New(env, static_cast<double>(st.rxDrops[k])));
  }
  o.Set("txDrops", txd);
  o.Set("rxDrops", rxd);
  return o;
}

Napi::Value DataplaneWrap::JS_close(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

class TableWrap : public Napi::ObjectWrap<TableWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Table",
                       {InstanceMethod("lookup", &TableWrap::JS_lookup),
                        InstanceMethod("update", &TableWrap::JS_update),
                        InstanceMethod("peers", &TableWrap::JS_peers),
                        InstanceMethod("peerByIp", &TableWrap::JS_peerByIp),
                        InstanceMethod("classifyTx", &TableWrap::JS_classifyTx),
                        InstanceMethod("classifyRx", &TableWrap::JS_classifyRx),
                        InstanceMethod("lookupBatch", &TableWrap::JS_lookupBatch),
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
  // peers() → [{name, publicIP, vtepMAC}] in table order (tests: what Build/Update kept).
  Napi::Value JS_peers(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env, table_->size());
    for (size_t i = 0; i < table_->size(); i++) {
      const PeerEntry& p = table_->peer(static_cast<int>(i));
      char ip[INET_ADDRSTRLEN], mac[18];
      inet_ntop(AF_INET, &p.publicIp, ip, sizeof ip);
      snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", p.mac[0], p.mac[1], p.mac[2], p.mac[3], p.mac[4], p.mac[5]);
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", p.name);
      o.Set("publicIP", std::string(ip));
      o.Set("vtepMAC", std::string(mac));
      a.Set(static_cast<uint32_t>(i), o);
    }
    return a;
  }
  // peerByIp(publicIP) → the name of the peer with that public IP, or null (the receive-side map).
  Napi::Value JS_peerByIp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return PeerName(env, table_->PeerByIp(ParseIpv4(env, info[0].As<Napi::String>().Utf8Value())));
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
  // classifyRx(datagram, srcIP, policy) → { verdict, peer, length }
  Napi::Value JS_classifyRx(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto buf = info[0].As<Napi::Uint8Array>();
    const uint32_t src = ParseIpv4(env, info[1].As<Napi::String>().Utf8Value());
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
    const uint32_t src = ParseIpv4(env, info[1].As<Napi::String>().Utf8Value());
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

// encapBatch(bufs: Buffer[], vni, dstMac, srcMac) → count. Each buffer holds 22 bytes of headroom
// followed by an IP packet; the prefix is written in place, as the transmit loop does.
Napi::Value JS_encapBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto arr = info[0].As<Napi::Array>();
  const uint32_t vni = info[1].As<Napi::Number>().Uint32Value();
  uint8_t dst[6], src[6];
  if (!ParseMac(info[2].As<Napi::String>().Utf8Value(), dst) || !ParseMac(info[3].As<Napi::String>().Utf8Value(), src))
    throw Napi::TypeError::New(env, "bad MAC");
  const uint32_t n = arr.Length();
  for (uint32_t i = 0; i < n; i++) {
    auto b = arr.Get(i).As<Napi::Uint8Array>();
    if (b.ByteLength() <= kEncapPrefix) continue;
    const uint16_t type = (b.Data()[kEncapPrefix] >> 4) == 6 ? kEthPIpv6 : kEthPIp;
    WriteEncapPrefix(b.Data(), vni, dst, src, type);
  }
  return Napi::Number::New(env, n);
}

// tsoPlan(packet, mss) → segments: the transmit split of one TSO super-packet (headers built,
// checksums computed, payload referenced in place), as the transmit loop does before sending.
Napi::Value JS_tsoPlan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pkt = info[0].As<Napi::Uint8Array>();
  const size_t mss = info[1].As<Napi::Number>().Uint32Value();
  InnerIp ip;
  if (ParseInnerIp(pkt.Data(), pkt.ByteLength(), &ip) != Verdict::Forward) return Napi::Number::New(env, 0);
  const size_t th = TcpHeaderLen(pkt.Data(), ip);
  if (th == 0) return Napi::Number::New(env, 0);
  static thread_local std::vector<uint8_t> hdrs(256 * 160);
  static thread_local std::vector<struct iovec> iov(512);
  uint8_t prefix[kEncapPrefix] = {kVxlanFlagI};
  const TsoPlan p = PlanTsoSegments(pkt.Data(), ip, th, mss, prefix, hdrs.data(), hdrs.size(), iov.data(), 256);
  return Napi::Number::New(env, p.segments);
}

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
  const GroScratch s{vnet.data(), iov.data(), static_cast<int>(iov.size()), writes.data(), static_cast<int>(writes.size())};
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
  const GroScratch s{vnet.data(), iov.data(), static_cast<int>(iov.size()), writes.data(), static_cast<int>(writes.size())};
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

// encap(packet, vni, dstMac, srcMac) → Buffer (prefix + packet; ethertype from the IP version).
Napi::Value JS_encap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pkt = info[0].As<Napi::Uint8Array>();
  const uint32_t vni = info[1].As<Napi::Number>().Uint32Value();
  uint8_t dst[6], src[6];
  if (!ParseMac(info[2].As<Napi::String>().Utf8Value(), dst) || !ParseMac(info[3].As<Napi::String>().Utf8Value(), src))
    throw Napi::TypeError::New(env, "bad MAC");
  const size_t n = pkt.ByteLength();
  const uint16_t type = n > 0 && (pkt.Data()[0] >> 4) == 6 ? kEthPIpv6 : kEthPIp;
  auto out = Napi::Buffer<uint8_t>::New(env, kEncapPrefix + n);
  WriteEncapPrefix(out.Data(), vni, dst, src, type);
  if (n) std::memcpy(out.Data() + kEncapPrefix, pkt.Data(), n);
  return out;
}

Napi::Value JS_segmentTcp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pkt = info[0].As<Napi::Uint8Array>();
  const size_t mss = info[1].As<Napi::Number>().Uint32Value();
  InnerIp ip;
  if (ParseInnerIp(pkt.Data(), pkt.ByteLength(), &ip) != Verdict::Forward) return env.Null();
  std::vector<uint8_t> scratch(2 * kBufSize);
  struct iovec segs[256];
  const int n = SegmentTcp(pkt.Data(), ip, mss, scratch.data(), scratch.size(), segs, 256);
  if (n <= 0) return env.Null();
  Napi::Array out = Napi::Array::New(env, static_cast<size_t>(n));
  for (int i = 0; i < n; i++)
    out.Set(static_cast<uint32_t>(i),
            Napi::Buffer<uint8_t>::Copy(env, static_cast<uint8_t*>(segs[i].iov_base), segs[i].iov_len));
  return out;
}

// tsoScatter(packet, mss, h) → {capture, segments | null, unscattered | null}: the transmit loop's scattered
// read (tso.h) of one TSO packet read with the layout {h, mss}: `capture` is what a capture copies of it
// (prefix + packet, first 2 KiB), then either the packet matches the layout (its IP + TCP headers are h
// bytes) and `segments` are the inner segments PlanTsoInPlace leaves in place, or `unscattered` is the
// packet as TsoUnscatter moves it back. null when the layout does not fit a slot.
Napi::Value JS_tsoScatter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pkt = info[0].As<Napi::Uint8Array>();
  TsoLayout l;
  l.mss = info[1].As<Napi::Number>().Uint32Value();
  l.h = info[2].As<Napi::Number>().Uint32Value();
  constexpr size_t kSlot = kTsoSlotBytes;  // the transmit loop's slot
  std::vector<uint8_t> slot(kSlot, 0xee);
  std::vector<struct iovec> iov(256);
  const int k = TsoScatterIovecs(slot.data(), kSlot, l, iov.data(), static_cast<int>(iov.size()));
  if (k == 0 || pkt.ByteLength() > 65535) return env.Null();
  // What readv does: the virtio-net header (zeros here) and the packet, across the iovecs in order.
  std::vector<uint8_t> in(kVnetHdrLen, 0);
  in.insert(in.end(), pkt.Data(), pkt.Data() + pkt.ByteLength());
  size_t at = 0;
  for (int i = 0; i < k && at < in.size(); i++) {
    const size_t take = std::min(iov[i].iov_len, in.size() - at);
    std::memcpy(iov[i].iov_base, in.data() + at, take);
    at += take;
  }
  Napi::Object out = Napi::Object::New(env);
  std::vector<uint8_t> capture(kCapturePrefix + kCaptureMaxSnap);
  const size_t have = TsoScatterCopy(slot.data(), pkt.ByteLength(), l, capture.data(), capture.size());
  out.Set("capture", Napi::Buffer<uint8_t>::Copy(env, capture.data(), have));
  InnerIp ip;
  const bool parsed = ParseInnerIp(slot.data() + kEncapPrefix, pkt.ByteLength(), &ip) == Verdict::Forward;
  const size_t th = parsed ? TcpHeaderLen(slot.data() + kEncapPrefix, ip) : 0;
  if (th == 0 || ip.headerLen + th != l.h || ip.length != pkt.ByteLength()) {
    TsoUnscatter(slot.data(), in.size(), l);
    out.Set("segments", env.Null());
    out.Set("unscattered", Napi::Buffer<uint8_t>::Copy(env, slot.data() + kEncapPrefix, pkt.ByteLength()));
    return out;
  }
  uint8_t prefix[kEncapPrefix] = {kVxlanFlagI};
  std::memcpy(slot.data(), prefix, kEncapPrefix);
  uint8_t tmpl[256];
  const TsoPlan p = PlanTsoInPlace(slot.data(), ip, th, l, slot.data(), tmpl, 128);
  out.Set("unscattered", env.Null());
  if (p.segments == 0) {
    out.Set("segments", env.Null());
    return out;
  }
  Napi::Array segs = Napi::Array::New(env, static_cast<size_t>(p.segments));
  const size_t payload = ip.length - l.h;
  for (int i = 0; i < p.segments; i++) {
    const size_t off = static_cast<size_t>(i) * l.mss;
    const size_t len = payload - off < l.mss ? payload - off : l.mss;
    const uint8_t* d = slot.data() + static_cast<size_t>(i) * p.segBytes;
    if (std::memcmp(d, prefix, kEncapPrefix) != 0) throw Napi::Error::New(env, "tsoScatter: a datagram lost its prefix");
    segs.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, d + kEncapPrefix, l.h + len));
  }
  out.Set("segments", segs);
  return out;
}

// captureEpb(record, outer?) → Buffer: one capture record as native/pcapng_epb.h writes it, for the
// differential test against src/dump/pcapng.ts. record = {tsNs: bigint, origLen, dropsBefore, dir: 0|1,
// verdict, vtep: "a.b.c.d", worker, hasPrefix, peer, data: Uint8Array}; outer = {publicIP, port, vni}.
Napi::Value JS_captureEpb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "captureEpb: expected a record");
  Napi::Object r = info[0].As<Napi::Object>();
  CaptureRecordHeader h{};
  bool lossless = false;
  h.tsNs = r.Get("tsNs").As<Napi::BigInt>().Uint64Value(&lossless);
  h.origLen = GetU32(r, "origLen", UINT32_MAX);
  h.dropsBefore = GetU32(r, "dropsBefore", UINT32_MAX);
  h.dir = static_cast<uint8_t>(GetU32(r, "dir", 1));
  h.verdict = static_cast<uint8_t>(GetU32(r, "verdict", kVerdictCount - 1));
  const uint32_t vtep = ParseIpv4(env, GetString(r, "vtep"));
  memcpy(h.vtep, &vtep, 4);
  h.worker = static_cast<uint16_t>(GetU32(r, "worker", 65535));
  h.flags = GetBool(r, "hasPrefix") ? kCaptureHasPrefix : 0;
  const std::string peer = GetString(r, "peer").substr(0, 255);
  h.nameLen = static_cast<uint8_t>(peer.size());
  auto data = r.Get("data").As<Napi::Uint8Array>();
  h.capLen = static_cast<uint16_t>(std::min<size_t>(data.ByteLength(), kCapturePrefix + kCaptureMaxSnap));
  EpbOuter outer{};
  const bool haveOuter = info[1].IsObject();
  if (haveOuter) {
    Napi::Object o = info[1].As<Napi::Object>();
    outer = {ParseIpv4(env, GetString(o, "publicIP")), static_cast<uint16_t>(GetU32(o, "port", 65535)), GetU32(o, "vni", kMaxVni)};
  }
  std::vector<uint8_t> out(CaptureEpbBound(h));
  const size_t n = WriteCaptureEpb(h, peer.data(), data.Data(), haveOuter ? &outer : nullptr, out.data(), out.size());
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), n);
}

Napi::Value JS_completeChecksum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pkt = info[0].As<Napi::Uint8Array>();
  InnerIp ip;
  if (ParseInnerIp(pkt.Data(), pkt.ByteLength(), &ip) != Verdict::Forward) return Napi::String::New(env, "not-applicable");
  switch (CompletePartialChecksum(pkt.Data(), ip)) {
    case CsumFix::Valid: return Napi::String::New(env, "valid");
    case CsumFix::Completed: return Napi::String::New(env, "completed");
    case CsumFix::Bad: return Napi::String::New(env, "bad");
    default: return Napi::String::New(env, "not-applicable");
  }
}

// onesSum(bytes, impl: 'auto' | 'scalar' | 'avx2') → the folded 16-bit one's-complement sum (tests);
// null when the CPU lacks that implementation.
Napi::Value JS_onesSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto b = info[0].As<Napi::Uint8Array>();
  const std::string impl = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "auto";
  if (impl == "auto") return Napi::Number::New(env, Fold(SumBytes(b.Data(), b.ByteLength())));
  const SumImpl which = impl == "avx2" ? SumImpl::Avx2 : SumImpl::Scalar;
  if (impl != "avx2" && impl != "scalar") throw Napi::TypeError::New(env, "onesSum: impl must be auto, scalar or avx2");
  if (!SumImplAvailable(which)) return env.Null();
  return Napi::Number::New(env, Fold(SumBytesWith(which, b.Data(), b.ByteLength())));
}

// captureFilterMatch(program, dir, verdict, peer, packet) → boolean (tests): decodes a compiled `vxtun dump`
// filter (src/dump/filter.ts compileDumpFilter, format in capture_filter.h) and matches one packet
// with it. A malformed program throws a TypeError carrying CaptureFilter::Decode's message.
Napi::Value JS_captureFilterMatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto prog = info[0].As<Napi::Uint8Array>();
  CaptureFilter filter;
  std::string err;
  if (!CaptureFilter::Decode(prog.Data(), prog.ByteLength(), &filter, &err))
    throw Napi::TypeError::New(env, "bad capture filter program: " + err);
  const std::string peer = info[3].As<Napi::String>().Utf8Value();
  auto pkt = info[4].As<Napi::Uint8Array>();
  const CaptureView v{static_cast<uint8_t>(info[1].As<Napi::Number>().Uint32Value()),
                      static_cast<uint8_t>(info[2].As<Napi::Number>().Uint32Value()), peer, pkt.Data(),
                      pkt.ByteLength()};
  return Napi::Boolean::New(env, filter.Match(v));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  env.AddCleanupHook([data] {
    // Env teardown (process exit, worker thread end): stop every dataplane's threads first.
    std::set<DataplaneWrap*> open = data->open;
    for (DataplaneWrap* w : open) w->Shutdown();
  });
  exports.Set("Dataplane", DataplaneWrap::Init(env));
  exports.Set("Table", TableWrap::Init(env));
  exports.Set("TunDevice", TunDeviceWrap::Init(env));
  exports.Set("encap", Napi::Function::New(env, JS_encap));
  exports.Set("segmentTcp", Napi::Function::New(env, JS_segmentTcp));
  exports.Set("encapBatch", Napi::Function::New(env, JS_encapBatch));
  exports.Set("tsoPlan", Napi::Function::New(env, JS_tsoPlan));
  exports.Set("tsoScatter", Napi::Function::New(env, JS_tsoScatter));
  exports.Set("groPlan", Napi::Function::New(env, JS_groPlan));
  exports.Set("groWrites", Napi::Function::New(env, JS_groWrites));
  exports.Set("completeChecksum", Napi::Function::New(env, JS_completeChecksum));
  exports.Set("onesSum", Napi::Function::New(env, JS_onesSum));
  exports.Set("captureEpb", Napi::Function::New(env, JS_captureEpb));
  exports.Set("captureFilterMatch", Napi::Function::New(env, JS_captureFilterMatch));
  Napi::Array names = Napi::Array::New(env);
  for (int k = 1; k < kVerdictCount; k++) names.Set(static_cast<uint32_t>(k - 1), VerdictName(static_cast<Verdict>(k)));
  exports.Set("dropReasons", names);
  return exports;
}

}  // namespace
}  // namespace vxtun

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return vxtun::Init(env, exports); }

NODE_API_MODULE(vxtun, InitAddon)
