// The production addon, build/Release/vxtun.node: exactly what src/ uses outside tests (the
// NativeBinding type of the TypeScript loader). The test and bench surface is a second addon,
// testing/module.cc.
//
//   Dataplane     the native engine (node/dataplane_wrap.h)
//   fdPassing     the handover's unix-socket fd passing (node/fd_passing_wrap.h)
//   TunDevice     the `js` engine's TUN device (node/tun_device.h)
//   dropReasons   the drop reasons, in verdict order
#include <napi.h>

#include "node/convert.h"
#include "node/dataplane_wrap.h"
#include "node/fd_passing_wrap.h"
#include "node/tun_device.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Dataplane", vxtun::InitDataplaneWrap(env));
  exports.Set("fdPassing", vxtun::FdPassingObject(env));
  exports.Set("TunDevice", vxtun::TunDeviceWrap::Init(env));
  exports.Set("dropReasons", vxtun::DropReasonNames(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(vxtun, Init)
