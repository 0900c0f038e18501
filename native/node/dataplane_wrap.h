// The Dataplane class of the production addon: one engine/dataplane.h behind the JavaScript
// surface src/ types (the NativeDataplane interface). It only converts values and reports syscall
// errors; the TypeScript layer owns validation.
//
//   new Dataplane(opts)   open the TUN device and UDP sockets
//                         opts = { device, workers, port, bindIP, bindIPv6?, mtu, vni, vtepMAC,
//                         acceptUnknownVteps, checkInnerSource }; bindIPv6 (a dual-stack node: sockets of both
//                         families) needs an IPv4 bindIP (RangeError otherwise)
//   .start(onFatal, want) probe offloads, start the worker threads   → the offloads in use
//                         want = {tso, gro, udpGso, udpGro} booleans; onFatal(message) on loop death
//   .setTable(table)      publish a new forwarding table atomically (node/convert.h ParseTable)
//   .updatePeers(up, rm)  publish the current table with peers upserted/removed (the incremental verbs)
//   .stats()              counters                                   .close()  stop, join, close
//   .exportFds()          the fds, for a handover (DataplaneHandover's order); .pause(), .resume(): the loops
//                         stopped and joined (every batch in hand finished), and started again
//   new Dataplane({…, adopt: {fds, offloads}}): takes over those fds instead of opening (they are closed on every
//                         error, dataplane_wrap.cc CollectAdoptFds); start() then runs with `offloads`, probing nothing
//   .captureStart(opts) → id | -1, .captureStop(id) → bool, .captureRead(id, into, maxRecords)
//                         → {bytes, records} (pcapng EPBs written into `into`), .captureStats(id): `vxtun dump`
#pragma once
#include <napi.h>

namespace vxtun {

// Registers the environment's state (every open dataplane) and the teardown hook that stops them,
// and returns the Dataplane constructor.
Napi::Function InitDataplaneWrap(Napi::Env env);

}  // namespace vxtun
