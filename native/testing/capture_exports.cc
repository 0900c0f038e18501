// Test exports over the capture's pure parts: one record as a pcapng block (core/pcapng_epb.h) and
// a compiled `vxtun dump` filter (core/capture_filter.h).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/capture_filter.h"
#include "core/capture_record.h"
#include "core/pcapng_epb.h"
#include "node/convert.h"
#include "testing/exports.h"

namespace vxtun {
namespace {

// captureEpb(record, outer?) → Buffer: one capture record as native/core/pcapng_epb.h writes it, for the
// differential test against src/dump/pcapng.ts. record = {tsNs: bigint, origLen, dropsBefore, dir: 0|1,
// verdict, vtep: an IPv4 or IPv6 address or "none" (no peer), worker, hasPrefix, peer, data: Uint8Array};
// outer = {publicIP, port, vni}.
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
  const std::string vtep = GetString(r, "vtep");
  h.vtep = vtep == "none" ? UnderlayAddr{} : ParseUnderlayAddr(env, vtep, "vtep");
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
    const UnderlayAddr ip6 = o.Get("publicIPv6").IsUndefined() ? UnderlayAddr{} : GetUnderlayAddr(o, "publicIPv6");
    outer = {GetUnderlayAddr(o, "publicIP"), ip6, static_cast<uint16_t>(GetU32(o, "port", 65535)),
             GetU32(o, "vni", kMaxVni)};
  }
  std::vector<uint8_t> out(CaptureEpbBound(h));
  const size_t n = WriteCaptureEpb(h, peer.data(), data.Data(), haveOuter ? &outer : nullptr, out.data(), out.size());
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), n);
}

// captureFilterMatch(program, dir, verdict, peer, packet) → boolean (tests): decodes a compiled `vxtun dump`
// filter (src/dump/filter.ts compileDumpFilter, format in core/capture_filter.h) and matches one packet
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

}  // namespace

void AddCaptureExports(Napi::Env env, Napi::Object exports) {
  exports.Set("captureEpb", Napi::Function::New(env, JS_captureEpb));
  exports.Set("captureFilterMatch", Napi::Function::New(env, JS_captureFilterMatch));
}

}  // namespace vxtun
