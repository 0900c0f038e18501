// Conversions from JavaScript values to the native types, shared by the production addon
// (node/module.cc) and the test addon (testing/module.cc). src/ validates everything first, so
// these only check shapes: each throws a TypeError or RangeError naming the field or value.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/classify.h"
#include "core/fdb.h"
#include "core/underlay_addr.h"

namespace vxtun {

// "aa:bb:cc:dd:ee:ff" → 6 bytes; false when malformed.
bool ParseMac(const std::string& s, uint8_t out[6]);
// o[key] as a string / an integer in [0, max] / a boolean; throws naming `key` otherwise.
std::string GetString(const Napi::Object& o, const char* key);
uint32_t GetU32(const Napi::Object& o, const char* key, uint32_t max);
bool GetBool(const Napi::Object& o, const char* key);
// An IPv4 or IPv6 address (src/net/ip.ts validated it) → the underlay address; TypeError naming `field`.
UnderlayAddr ParseUnderlayAddr(Napi::Env env, const std::string& s, const char* field);
// o[key] as an underlay address; throws naming `key` otherwise.
UnderlayAddr GetUnderlayAddr(const Napi::Object& o, const char* key);
// A CIDR string array → the IPv4 and IPv6 prefixes.
void ParsePrefixes(Napi::Env env, Napi::Value v, std::vector<Prefix4>* v4, std::vector<Prefix6>* v6);
// peer = { name, publicIP, vtepMAC, publicIPv6?, vtepMACv6?, cidrs: string[] }: the second endpoint both or
// neither (TypeError); its family and the address uniqueness are Table::Build's (RangeError)
PeerEntry ParsePeer(Napi::Env env, Napi::Value ev);
std::vector<PeerEntry> ParsePeers(Napi::Env env, Napi::Value pv);
// table = { local: string[], peers: [peer…] } → a built table; RangeError with Table::Build's message.
std::unique_ptr<Table> ParseTable(Napi::Env env, Napi::Value v);
// string[] of peer names (the incremental verbs' `remove`).
std::vector<std::string> ParseNames(Napi::Env env, Napi::Value v);
// { vni, vtepMAC, acceptUnknownVteps, checkInnerSource } (the other keys of o are ignored).
RxPolicy ParsePolicy(const Napi::Object& o);
// The drop reasons in verdict order (Verdict k ≥ 1 is element k − 1): the addons' `dropReasons`.
Napi::Array DropReasonNames(Napi::Env env);

}  // namespace vxtun
