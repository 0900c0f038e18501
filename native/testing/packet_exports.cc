// Test and bench exports over the packet functions: encapsulation (core/vxlan.h), TCP
// segmentation and checksum completion (core/segment.h, core/checksum.h) and the transmit side's
// TSO split (core/tso.h).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/capture_record.h"
#include "core/checksum.h"
#include "core/classify.h"
#include "core/segment.h"
#include "core/tso.h"
#include "core/virtio.h"
#include "core/vxlan.h"
#include "node/convert.h"
#include "testing/exports.h"

namespace vxtun {
namespace {

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

Napi::Value JS_completeChecksum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto pkt = info[0].As<Napi::Uint8Array>();
  InnerIp ip;
  if (ParseInnerIp(pkt.Data(), pkt.ByteLength(), &ip) != Verdict::Forward)
    return Napi::String::New(env, "not-applicable");
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

// tsoScatter(packet, mss, h) → {capture, segments | null, unscattered | null}: the transmit loop's scattered
// read (core/tso.h) of one TSO packet read with the layout {h, mss}: `capture` is what a capture copies of it
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
  std::vector<uint8_t> in(kVnetHdrLen + pkt.ByteLength(), 0);
  if (pkt.ByteLength() > 0) std::memcpy(in.data() + kVnetHdrLen, pkt.Data(), pkt.ByteLength());
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
    if (std::memcmp(d, prefix, kEncapPrefix) != 0)
      throw Napi::Error::New(env, "tsoScatter: a datagram lost its prefix");
    segs.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, d + kEncapPrefix, l.h + len));
  }
  out.Set("segments", segs);
  return out;
}

}  // namespace

void AddPacketExports(Napi::Env env, Napi::Object exports) {
  exports.Set("encap", Napi::Function::New(env, JS_encap));
  exports.Set("encapBatch", Napi::Function::New(env, JS_encapBatch));
  exports.Set("segmentTcp", Napi::Function::New(env, JS_segmentTcp));
  exports.Set("completeChecksum", Napi::Function::New(env, JS_completeChecksum));
  exports.Set("onesSum", Napi::Function::New(env, JS_onesSum));
  exports.Set("tsoPlan", Napi::Function::New(env, JS_tsoPlan));
  exports.Set("tsoScatter", Napi::Function::New(env, JS_tsoScatter));
}

}  // namespace vxtun
