#include "node/fd_passing_wrap.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "linux/fd_passing.h"
#include "node/sys_error.h"

namespace vxtun {

namespace {

// args[i] as an integer in [min, max]; TypeError / RangeError naming `what` otherwise.
int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, int64_t min, int64_t max) {
  Napi::Env env = info.Env();
  if (!info[i].IsNumber()) throw Napi::TypeError::New(env, std::string(fn) + ": " + what + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || std::trunc(d) != d)
    throw Napi::RangeError::New(env, std::string(fn) + ": " + what + " must be an integer from " + std::to_string(min) +
                                         " to " + std::to_string(max));
  return static_cast<int64_t>(d);
}

int FdArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  return static_cast<int>(IntArg(info, i, fn, "fd", 0, INT32_MAX));
}
int TimeoutArg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  return static_cast<int>(IntArg(info, i, fn, "timeoutMs", 0, INT32_MAX));
}

Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "connect: path must be a string");
  const int timeout = TimeoutArg(info, 1, "connect");
  try {
    return Napi::Number::New(env, FdPassConnect(info[0].As<Napi::String>().Utf8Value(), timeout));
  } catch (const SysError& e) {
    ThrowSys(env, e);
  }
}

Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = FdArg(info, 0, "send");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "send: data must be a Uint8Array");
  const int timeout = TimeoutArg(info, 2, "send");
  auto data = info[1].As<Napi::Uint8Array>();
  try {
    FdPassSend(fd, data.Data(), data.ByteLength(), timeout);
  } catch (const SysError& e) {
    ThrowSys(env, e);
  }
  return env.Undefined();
}

Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = FdArg(info, 0, "sendFds");
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "sendFds: fds must be an array of fds");
  Napi::Array a = info[1].As<Napi::Array>();
  std::vector<int> fds;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= INT32_MAX) || std::trunc(d) != d)
      throw Napi::TypeError::New(env, "sendFds: fds[" + std::to_string(i) + "] is not an fd (an integer ≥ 0)");
    fds.push_back(static_cast<int>(d));
  }
  const int timeout = TimeoutArg(info, 2, "sendFds");
  try {
    FdPassSendFds(fd, fds, timeout);
  } catch (const SysError& e) {
    ThrowSys(env, e);
  }
  return env.Undefined();
}

Napi::Value Recv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = FdArg(info, 0, "recv");
  const size_t maxBytes = static_cast<size_t>(IntArg(info, 1, "recv", "maxBytes", 1, int64_t{1} << 30));
  const int timeout = TimeoutArg(info, 2, "recv");
  FdPassReceived got;
  try {
    got = FdPassRecv(fd, maxBytes, timeout);
  } catch (const SysError& e) {
    ThrowSys(env, e);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("data", Napi::Buffer<uint8_t>::Copy(env, got.data.data(), got.data.size()));
  Napi::Array fds = Napi::Array::New(env, got.fds.size());
  for (uint32_t i = 0; i < got.fds.size(); i++) fds.Set(i, Napi::Number::New(env, got.fds[i]));
  r.Set("fds", fds);
  return r;
}

Napi::Value Peer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = FdArg(info, 0, "peer");
  FdPassPeer p;
  try {
    p = FdPassPeerCred(fd);
  } catch (const SysError& e) {
    ThrowSys(env, e);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("pid", Napi::Number::New(env, p.pid));
  r.Set("uid", Napi::Number::New(env, p.uid));
  r.Set("gid", Napi::Number::New(env, p.gid));
  return r;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = FdArg(info, 0, "close");
  try {
    FdPassClose(fd);
  } catch (const SysError& e) {
    ThrowSys(env, e);
  }
  return env.Undefined();
}

}  // namespace

Napi::Object FdPassingObject(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("connect", Napi::Function::New(env, Connect, "connect"));
  o.Set("send", Napi::Function::New(env, Send, "send"));
  o.Set("sendFds", Napi::Function::New(env, SendFds, "sendFds"));
  o.Set("recv", Napi::Function::New(env, Recv, "recv"));
  o.Set("peer", Napi::Function::New(env, Peer, "peer"));
  o.Set("close", Napi::Function::New(env, Close, "close"));
  return o;
}

}  // namespace vxtun
