#include "node/tun_device.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <vector>

#include "core/constants.h"
#include "node/sys_error.h"

namespace vxtun {

namespace {
struct Packet {
  uint8_t* data;
  size_t len;
};
using Batch = std::vector<Packet>;
}  // namespace

Napi::Function TunDeviceWrap::Init(Napi::Env env) {
  return DefineClass(
      env, "TunDevice",
      {InstanceMethod("start", &TunDeviceWrap::JS_start), InstanceMethod("write", &TunDeviceWrap::JS_write),
       InstanceMethod("dropped", &TunDeviceWrap::JS_dropped), InstanceMethod("close", &TunDeviceWrap::JS_close)});
}

TunDeviceWrap::TunDeviceWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TunDeviceWrap>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "expected a device name");
  try {
    auto qs = OpenTunQueues(info[0].As<Napi::String>().Utf8Value(), 1, false);
    q_ = std::move(qs[0]);
  } catch (const SysError& e) {
    ThrowSys(env, e);
  }
  stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

void TunDeviceWrap::Shutdown() {
  if (stopFd_ >= 0) {
    const uint64_t one = 1;
    ssize_t r = write(stopFd_, &one, sizeof(one));
    (void)r;
  }
  if (reader_.joinable()) reader_.join();
  if (started_) {
    packets_.Release();
    fatal_.Release();
    started_ = false;
  }
  q_.reset();
  if (stopFd_ >= 0) close(stopFd_);
  stopFd_ = -1;
}

void TunDeviceWrap::ReadLoop() {
  std::vector<uint8_t> buf(kBufSize);
  struct pollfd p[2] = {{q_->PollFd(), POLLIN, 0}, {stopFd_, POLLIN, 0}};
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents) break;
    auto* batch = new Batch();
    for (int i = 0; i < kBatch; i++) {
      const ssize_t r = read(q_->PollFd(), buf.data(), buf.size());
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        for (auto& k : *batch) delete[] k.data;
        delete batch;
        auto* msg = new std::string("reading the TUN device: " + ErrnoName(errno));
        if (fatal_.NonBlockingCall(msg, [](Napi::Env env, Napi::Function cb, std::string* m) {
              cb.Call({Napi::String::New(env, *m)});
              delete m;
            }) != napi_ok)
          delete msg;
        return;
      }
      auto* copy = new uint8_t[static_cast<size_t>(r)];
      std::memcpy(copy, buf.data(), static_cast<size_t>(r));
      batch->push_back({copy, static_cast<size_t>(r)});
    }
    if (batch->empty()) {
      delete batch;
      continue;
    }
    const napi_status st = packets_.NonBlockingCall(batch, [](Napi::Env env, Napi::Function cb, Batch* b) {
      Napi::Array arr = Napi::Array::New(env, b->size());
      for (size_t i = 0; i < b->size(); i++) {
        Packet k = (*b)[i];
        arr.Set(static_cast<uint32_t>(i),
                Napi::Buffer<uint8_t>::New(env, k.data, k.len, [](Napi::Env, uint8_t* d) { delete[] d; }));
      }
      delete b;
      cb.Call({arr});
    });
    if (st != napi_ok) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      for (auto& k : *batch) delete[] k.data;
      delete batch;
    }
  }
}

Napi::Value TunDeviceWrap::JS_start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (started_ || !q_) throw Napi::Error::New(env, "TUN device already started or closed");
  if (!info[0].IsFunction() || !info[1].IsFunction()) throw Napi::TypeError::New(env, "expected onPackets, onFatal");
  packets_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "vxtun-js-tun", 256, 1);
  fatal_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "vxtun-js-fatal", 0, 1);
  started_ = true;
  reader_ = std::thread([this] { ReadLoop(); });
  return env.Undefined();
}

Napi::Value TunDeviceWrap::JS_write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!q_) throw Napi::Error::New(env, "TUN device is closed");
  auto b = info[0].As<Napi::Uint8Array>();
  ssize_t r;
  do r = write(q_->PollFd(), b.Data(), b.ByteLength());
  while (r < 0 && errno == EINTR);
  return Napi::Boolean::New(env, r == static_cast<ssize_t>(b.ByteLength()));
}

Napi::Value TunDeviceWrap::JS_dropped(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(dropped_.load()));
}

Napi::Value TunDeviceWrap::JS_close(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

}  // namespace vxtun
