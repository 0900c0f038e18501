// The test addon, build/Release/vxtun_testing.node: the pure native functions exposed for the
// differential tests (test/native), the micro benchmarks (src/bench/micro-cases.ts) and the fuzz corpus
// generator (native/fuzz/make-corpus.ts). The daemon never loads it; src/dataplane/testing.ts types it.
//
//   new Table(table)      a standalone table: lookup, classifyTx, classifyRx, update, … (testing/table_wrap.h)
//   encap(pkt, vni, dstMac, srcMac)   the 22-byte prefix + packet; encapBatch: the prefix in place, many buffers
//   segmentTcp(pkt, mss)              a TCP super-packet split into segments (Buffer[]), or null
//   completeChecksum(pkt)             "not-applicable" | "valid" | "completed" | "bad" (pkt fixed in place)
//   onesSum(bytes, impl)              the folded sum by one SumBytes implementation (core/checksum.h)
//   tsoPlan, tsoScatter               the transmit side's TSO split (core/tso.h)
//   groPlan, groWrites                the receive side's coalescing plan (core/gro.h)
//   captureEpb(record, outer?)        one capture record as a pcapng block (core/pcapng_epb.h)
//   captureFilterMatch(prog, dir, verdict, peer, pkt)  a compiled dump filter (core/capture_filter.h)
//   dropReasons                       the drop reasons, in verdict order (as the production addon's)
#include <napi.h>

#include "node/convert.h"
#include "testing/exports.h"
#include "testing/table_wrap.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Table", vxtun::InitTableWrap(env));
  vxtun::AddPacketExports(env, exports);
  vxtun::AddGroExports(env, exports);
  vxtun::AddCaptureExports(env, exports);
  exports.Set("dropReasons", vxtun::DropReasonNames(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(vxtun_testing, Init)
