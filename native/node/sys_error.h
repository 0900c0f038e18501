// A failed syscall (engine/io.h SysError) as the JavaScript Error src/ expects: message, and
// code/syscall/errno, which the TypeScript loader turns into a DataplaneError.
#pragma once
#include <napi.h>

#include "engine/io.h"

namespace vxtun {

[[noreturn]] inline void ThrowSys(Napi::Env env, const SysError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, ErrnoName(e.err)));
  err.Set("syscall", Napi::String::New(env, e.syscall));
  err.Set("errno", Napi::Number::New(env, e.err));
  throw err;
}

}  // namespace vxtun
