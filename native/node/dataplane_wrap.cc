#include "node/dataplane_wrap.h"

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/dataplane.h"
#include "node/convert.h"
#include "node/sys_error.h"

namespace vxtun {
namespace {

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
    return DefineClass(
        env, "Dataplane",
        {InstanceMethod("start", &DataplaneWrap::JS_start), InstanceMethod("setTable", &DataplaneWrap::JS_setTable),
         InstanceMethod("updatePeers", &DataplaneWrap::JS_updatePeers),
         InstanceMethod("stats", &DataplaneWrap::JS_stats), InstanceMethod("close", &DataplaneWrap::JS_close),
         InstanceMethod("captureStart", &DataplaneWrap::JS_captureStart),
         InstanceMethod("captureStop", &DataplaneWrap::JS_captureStop),
         InstanceMethod("captureRead", &DataplaneWrap::JS_captureRead),
         InstanceMethod("captureStats", &DataplaneWrap::JS_captureStats),
         InstanceMethod("exportFds", &DataplaneWrap::JS_exportFds), InstanceMethod("pause", &DataplaneWrap::JS_pause),
         InstanceMethod("resume", &DataplaneWrap::JS_resume),
         InstanceMethod("queuesOwned", &DataplaneWrap::JS_queuesOwned),
         InstanceAccessor("workers", &DataplaneWrap::JS_workers, nullptr)});
  }
  // opts: see node/dataplane_wrap.h
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
  // captureStart({program, snaplen, outer, publicIP, publicIPv6?, port, vni}) → id, or -1 when too many run.
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
    c.publicIp = GetUnderlayAddr(o, "publicIP");
    if (!o.Get("publicIPv6").IsUndefined()) {
      c.publicIp6 = GetUnderlayAddr(o, "publicIPv6");
      if (!c.publicIp6.IsV6()) throw Napi::TypeError::New(env, "captureStart: publicIPv6 must be IPv6");
    }
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
  // exportFds() → number[]: the fds in DataplaneHandover's order (still this dataplane's).
  Napi::Value JS_exportFds(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    RequireOpen(env);
    const std::vector<int> fds = dp_->ExportFds();
    Napi::Array a = Napi::Array::New(env, fds.size());
    for (uint32_t i = 0; i < fds.size(); i++) a.Set(i, Napi::Number::New(env, fds[i]));
    return a;
  }
  // pause(): loops stopped and joined (a no-op before start, when paused, or once closed).
  Napi::Value JS_pause(const Napi::CallbackInfo& info) {
    if (dp_) dp_->Pause();
    return info.Env().Undefined();
  }
  // resume(): the paused loops started again (a no-op unless paused); a closed dataplane throws.
  Napi::Value JS_resume(const Napi::CallbackInfo& info) {
    RequireOpen(info.Env());
    dp_->Resume();
    return info.Env().Undefined();
  }
  // queuesOwned(): the adopted queues are this process's alone (the predecessor released them); a no-op once closed.
  Napi::Value JS_queuesOwned(const Napi::CallbackInfo& info) {
    if (dp_ && !dp_->closed()) dp_->QueuesOwned();
    return info.Env().Undefined();
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

// options.adopt = {fds: number[], offloads: {tso, gro, udpGso, udpGro}}: its fds are collected before anything else
// is looked at, so that every error (a TypeError/RangeError here, a DataplaneError from the engine) leaves them
// closed: from the call on they are the dataplane's, whatever happens (DataplaneOptions.adopt's contract). An
// element that is not an fd (an integer 0..2^31−1) is a TypeError naming it (the valid ones are still closed).
// Their count is the engine's check (engine/dataplane.h AdoptFdCount: SysError EINVAL, a DataplaneError).
std::vector<int> CollectAdoptFds(Napi::Value adopt, std::string* err) {
  std::vector<int> fds;
  if (!adopt.IsObject()) {
    *err = "adopt must be an object {fds, offloads}";
    return fds;
  }
  Napi::Value v = adopt.As<Napi::Object>().Get("fds");
  if (!v.IsArray()) {
    *err = "adopt.fds must be an array of fds";
    return fds;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    const double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
    if (d >= 0 && d <= INT32_MAX && static_cast<double>(static_cast<int>(d)) == d)
      fds.push_back(static_cast<int>(d));
    else if (err->empty())
      *err = "adopt.fds[" + std::to_string(i) + "] is not an fd (an integer from 0 to 2147483647)";
  }
  return fds;
}

OffloadSet ParseAdoptOffloads(Napi::Env env, Napi::Value adopt) {
  Napi::Value v = adopt.As<Napi::Object>().Get("offloads");
  if (!v.IsObject()) throw Napi::TypeError::New(env, "adopt.offloads must be an object {tso, gro, udpGso, udpGro}");
  Napi::Object o = v.As<Napi::Object>();
  auto flag = [&](const char* key) {
    Napi::Value b = o.Get(key);
    if (!b.IsBoolean()) throw Napi::TypeError::New(env, std::string("adopt.offloads.") + key + " must be a boolean");
    return b.As<Napi::Boolean>().Value();
  };
  OffloadSet r;
  r.tso = flag("tso");
  r.gro = flag("gro");
  r.udpGso = flag("udpGso");
  r.udpGro = flag("udpGro");
  return r;
}

DataplaneWrap::DataplaneWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DataplaneWrap>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "expected an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  DataplaneOptions opts;
  const Napi::Value adopt = o.Get("adopt");
  std::string adoptErr;
  if (!adopt.IsUndefined()) {
    opts.adopt = true;
    opts.adoptFds = CollectAdoptFds(adopt, &adoptErr);
  }
  try {
    if (!adoptErr.empty()) throw Napi::TypeError::New(env, adoptErr);
    if (opts.adopt) opts.adoptOffloads = ParseAdoptOffloads(env, adopt);
    opts.device = GetString(o, "device");
    opts.workers = static_cast<int>(GetU32(o, "workers", 64));
    opts.port = static_cast<uint16_t>(GetU32(o, "port", 65535));
    opts.bindIp = GetUnderlayAddr(o, "bindIP");
    if (!o.Get("bindIPv6").IsUndefined()) {  // a dual-stack node: bindIP IPv4, bindIPv6 IPv6
      opts.bindIp6 = GetUnderlayAddr(o, "bindIPv6");
      if (!opts.bindIp6.IsV6()) throw Napi::RangeError::New(env, "bindIPv6 must be an IPv6 address");
      if (!opts.bindIp.IsV4()) throw Napi::RangeError::New(env, "bindIP must be IPv4 when bindIPv6 is set");
    }
    opts.mtu = GetU32(o, "mtu", 65535);
    opts.policy = ParsePolicy(o);
  } catch (...) {
    CloseAdoptFds(opts.adoptFds);  // not yet the dataplane's: closed here
    throw;
  }
  try {
    dp_ = std::make_unique<Dataplane>(opts);  // owns (and on failure has closed) the adopted fds
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
    if (tsfn.NonBlockingCall(copy, [](Napi::Env cbEnv, Napi::Function cb, std::string* s) {
          cb.Call({Napi::String::New(cbEnv, *s)});
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
  o.Set("txRemoteChecksum", Napi::Number::New(env, static_cast<double>(st.txRco)));
  o.Set("rxRemoteChecksum", Napi::Number::New(env, static_cast<double>(st.rxRco)));
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

}  // namespace

Napi::Function InitDataplaneWrap(Napi::Env env) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  env.AddCleanupHook([data] {
    // Env teardown (process exit, worker thread end): stop every dataplane's threads first.
    std::set<DataplaneWrap*> open = data->open;
    for (DataplaneWrap* w : open) w->Shutdown();
  });
  return DataplaneWrap::Init(env);
}

}  // namespace vxtun
