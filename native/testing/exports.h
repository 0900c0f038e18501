// The test and bench functions of the test addon (testing/module.cc), grouped by the code they
// reach; each Add… sets its functions on `exports`.
#pragma once
#include <napi.h>

namespace vxtun {

// encap, encapBatch, segmentTcp, completeChecksum, onesSum, tsoPlan, tsoScatter (packet_exports.cc)
void AddPacketExports(Napi::Env env, Napi::Object exports);
// groPlan, groWrites (gro_exports.cc)
void AddGroExports(Napi::Env env, Napi::Object exports);
// captureEpb, captureFilterMatch (capture_exports.cc)
void AddCaptureExports(Napi::Env env, Napi::Object exports);

}  // namespace vxtun
