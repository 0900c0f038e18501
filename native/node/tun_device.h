// The TUN device for the `js` engine (dataplane.engine: js): the addon only opens the device and
// moves bytes — a reader thread hands batches of packets to JavaScript, and JavaScript writes
// packets back — while lookup, checks and encapsulation happen per packet in TypeScript
// (src/dataplane/engine-js.ts). It is the portable baseline that shows what the native path buys.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>
#include <thread>

#include "linux/tun_linux.h"

namespace vxtun {

class TunDeviceWrap : public Napi::ObjectWrap<TunDeviceWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  // new TunDevice(name): creates the device (plain packets, no virtio-net header).
  explicit TunDeviceWrap(const Napi::CallbackInfo& info);
  ~TunDeviceWrap() override { Shutdown(); }
  void Shutdown();

 private:
  // start(onPackets(Buffer[]), onFatal(message)): starts the reader thread.
  Napi::Value JS_start(const Napi::CallbackInfo& info);
  // write(packet): writes one packet; false if the kernel refused it.
  Napi::Value JS_write(const Napi::CallbackInfo& info);
  // dropped(): batches lost because JavaScript fell behind.
  Napi::Value JS_dropped(const Napi::CallbackInfo& info);
  Napi::Value JS_close(const Napi::CallbackInfo& info);
  void ReadLoop();

  std::unique_ptr<TunQueue> q_;
  int stopFd_ = -1;
  std::thread reader_;
  Napi::ThreadSafeFunction packets_;
  Napi::ThreadSafeFunction fatal_;
  bool started_ = false;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace vxtun
