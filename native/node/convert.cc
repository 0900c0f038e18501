#include "node/convert.h"

#include <cstdio>

namespace vxtun {

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

// An optional boolean: absent (undefined) is false.
bool GetOptBool(const Napi::Object& o, const char* key) { return !o.Get(key).IsUndefined() && GetBool(o, key); }

UnderlayAddr ParseUnderlayAddr(Napi::Env env, const std::string& s, const char* field) {
  UnderlayAddr a;
  if (!UnderlayAddr::Parse(s, &a))
    throw Napi::TypeError::New(env, std::string("expected an IPv4 or IPv6 address for ") + field + ": " + s);
  return a;
}

UnderlayAddr GetUnderlayAddr(const Napi::Object& o, const char* key) {
  return ParseUnderlayAddr(o.Env(), GetString(o, key), key);
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

PeerEntry ParsePeer(Napi::Env env, Napi::Value ev) {
  if (!ev.IsObject()) throw Napi::TypeError::New(env, "expected a peer object");
  Napi::Object po = ev.As<Napi::Object>();
  PeerEntry p;
  p.name = GetString(po, "name");
  p.publicIp = GetUnderlayAddr(po, "publicIP");
  if (!ParseMac(GetString(po, "vtepMAC"), p.mac)) throw Napi::TypeError::New(env, "bad MAC for peer " + p.name);
  // A dual-stack peer's second endpoint: both keys or neither (undefined = absent); Table::Build checks families.
  const bool ip6 = !po.Get("publicIPv6").IsUndefined(), mac6 = !po.Get("vtepMACv6").IsUndefined();
  if (ip6 != mac6)
    throw Napi::TypeError::New(env, "peer " + p.name + ": publicIPv6 and vtepMACv6 go together (both or neither)");
  if (ip6) {
    p.vtep6.ip = GetUnderlayAddr(po, "publicIPv6");
    if (!ParseMac(GetString(po, "vtepMACv6"), p.vtep6.mac))
      throw Napi::TypeError::New(env, "bad vtepMACv6 for peer " + p.name);
  }
  ParsePrefixes(env, po.Get("cidrs"), &p.v4, &p.v6);
  p.remoteChecksum = GetOptBool(po, "remoteChecksum");
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
  p.remoteChecksum = GetOptBool(o, "remoteChecksum");
  return p;
}

Napi::Array DropReasonNames(Napi::Env env) {
  Napi::Array names = Napi::Array::New(env);
  for (int k = 1; k < kVerdictCount; k++) names.Set(static_cast<uint32_t>(k - 1), VerdictName(static_cast<Verdict>(k)));
  return names;
}

}  // namespace vxtun
