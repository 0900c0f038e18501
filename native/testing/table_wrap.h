// The test addon's Table: a standalone forwarding table (core/fdb.h) with the transmit and receive
// classification (core/classify.h) over it, for tests and benchmarks. Built by the same parse and
// Table::Build as the production Dataplane's setTable (node/convert.h ParseTable).
#pragma once
#include <napi.h>

namespace vxtun {

// The Table constructor: new Table(table) with lookup, update, peers, peerByIp, classifyTx,
// classifyRx, lookupBatch and classifyRxBatch.
Napi::Function InitTableWrap(Napi::Env env);

}  // namespace vxtun
