#include "core/fdb.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <unordered_set>

namespace vxtun {

uint32_t Load4(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
         p[3];
}

void Load6(const uint8_t* p, uint64_t* hi, uint64_t* lo) {
  uint64_t h = 0, l = 0;
  for (int i = 0; i < 8; i++) h = h << 8 | p[i];
  for (int i = 8; i < 16; i++) l = l << 8 | p[i];
  *hi = h;
  *lo = l;
}

static uint32_t Mask4(uint8_t len) { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }
static void Mask6(uint8_t len, uint64_t* mh, uint64_t* ml) {
  *mh = len == 0 ? 0 : len >= 64 ? ~uint64_t{0} : ~uint64_t{0} << (64 - len);
  *ml = len <= 64 ? 0 : len >= 128 ? ~uint64_t{0} : ~uint64_t{0} << (128 - len);
}

Endpoint ChooseEndpoint(const PeerEntry& p, uint8_t innerFamily, bool have4, bool have6) {
  auto have = [&](const UnderlayAddr& a) { return (a.IsV4() && have4) || (a.IsV6() && have6); };
  const bool dual = !p.vtep6.ip.empty();
  if (innerFamily == 6 && have6 && dual) return Endpoint::V6;
  if (innerFamily == 4 && have4 && p.publicIp.IsV4()) return Endpoint::Primary;
  if (innerFamily == 6 && have6 && p.publicIp.IsV6()) return Endpoint::Primary;
  if (have(p.publicIp)) return Endpoint::Primary;
  if (dual && have(p.vtep6.ip)) return Endpoint::V6;
  return Endpoint::None;
}

bool ParsePrefix(const std::string& s, Prefix4* v4, Prefix6* v6, bool* isV6) {
  const auto slash = s.find('/');
  if (slash == std::string::npos || slash + 1 >= s.size() || s.size() - slash > 4) return false;
  const std::string addr = s.substr(0, slash);
  int len = 0;
  for (size_t i = slash + 1; i < s.size(); i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    len = len * 10 + (s[i] - '0');
  }
  uint8_t buf[16];
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    if (len > 32) return false;
    const uint32_t a = Load4(buf);
    if (a & ~Mask4(static_cast<uint8_t>(len))) return false;
    v4->addr = a;
    v4->len = static_cast<uint8_t>(len);
    *isV6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    if (len > 128) return false;
    uint64_t hi, lo, mh, ml;
    Load6(buf, &hi, &lo);
    Mask6(static_cast<uint8_t>(len), &mh, &ml);
    if ((hi & ~mh) || (lo & ~ml)) return false;
    v6->hi = hi;
    v6->lo = lo;
    v6->len = static_cast<uint8_t>(len);
    *isV6 = true;
    return true;
  }
  return false;
}

std::unique_ptr<Table> Table::Build(std::vector<PeerEntry> peers, std::vector<Prefix4> local4,
                                    std::vector<Prefix6> local6, std::string* err) {
  auto t = std::unique_ptr<Table>(new Table());
  std::map<uint8_t, size_t, std::greater<uint8_t>> l4, l6;  // len → level index, longest first
  for (size_t i = 0; i < peers.size(); i++) {
    const PeerEntry& p = peers[i];
    if (!p.vtep6.ip.empty() && (!p.vtep6.ip.IsV6() || !p.publicIp.IsV4())) {
      *err = "peer " + p.name + ": a second endpoint must be IPv6 and the public IP IPv4";
      return nullptr;
    }
    if (!t->byIp_.emplace(p.publicIp, static_cast<int>(i)).second ||
        (!p.vtep6.ip.empty() && !t->byIp_.emplace(p.vtep6.ip, static_cast<int>(i)).second)) {
      *err = "peer " + p.name + ": public IP is used by another peer";
      return nullptr;
    }
    for (const Prefix4& pf : p.v4) l4.emplace(pf.len, 0);
    for (const Prefix6& pf : p.v6) l6.emplace(pf.len, 0);
  }
  for (auto& [len, idx] : l4) {
    idx = t->levels4_.size();
    t->levels4_.push_back(Level4{len, Mask4(len), {}});
  }
  for (auto& [len, idx] : l6) {
    idx = t->levels6_.size();
    Level6 lv{len, 0, 0, {}};
    Mask6(len, &lv.maskHi, &lv.maskLo);
    t->levels6_.push_back(std::move(lv));
  }
  for (size_t i = 0; i < peers.size(); i++) {
    for (const Prefix4& pf : peers[i].v4) {
      if (!t->levels4_[l4[pf.len]].map.emplace(pf.addr, static_cast<int>(i)).second) {
        *err = "peer " + peers[i].name + ": IPv4 prefix is claimed by another peer";
        return nullptr;
      }
    }
    for (const Prefix6& pf : peers[i].v6) {
      if (!t->levels6_[l6[pf.len]].map.emplace(Key6{pf.hi, pf.lo}, static_cast<int>(i)).second) {
        *err = "peer " + peers[i].name + ": IPv6 prefix is claimed by another peer";
        return nullptr;
      }
    }
  }
  t->peers_ = std::move(peers);
  t->local4_ = std::move(local4);
  t->local6_ = std::move(local6);
  return t;
}

std::unique_ptr<Table> Table::Update(const Table& base, std::vector<PeerEntry> upsert,
                                     const std::vector<std::string>& remove, std::string* err) {
  std::unordered_map<std::string, size_t> byName;  // upsert index by peer name
  for (size_t i = 0; i < upsert.size(); i++) {
    if (!byName.emplace(upsert[i].name, i).second) {
      *err = "peer " + upsert[i].name + ": listed twice";
      return nullptr;
    }
  }
  const std::unordered_set<std::string> gone(remove.begin(), remove.end());
  std::vector<PeerEntry> peers;
  peers.reserve(base.peers_.size() + upsert.size());
  std::vector<bool> placed(upsert.size(), false);
  for (const PeerEntry& p : base.peers_) {
    if (auto it = byName.find(p.name); it != byName.end()) {
      peers.push_back(std::move(upsert[it->second]));  // in place: the order of the others stays
      placed[it->second] = true;
    } else if (!gone.count(p.name)) {
      peers.push_back(p);
    }
  }
  for (size_t i = 0; i < upsert.size(); i++)
    if (!placed[i]) peers.push_back(std::move(upsert[i]));
  return Build(std::move(peers), base.local4_, base.local6_, err);
}

int Table::Lookup4(uint32_t dst) const {
  for (const Level4& lv : levels4_) {
    auto it = lv.map.find(dst & lv.mask);
    if (it != lv.map.end()) return it->second;
  }
  return -1;
}

int Table::Lookup6(uint64_t hi, uint64_t lo) const {
  for (const Level6& lv : levels6_) {
    auto it = lv.map.find(Key6{hi & lv.maskHi, lo & lv.maskLo});
    if (it != lv.map.end()) return it->second;
  }
  return -1;
}

int Table::PeerByIp(const UnderlayAddr& ip) const {
  auto it = byIp_.find(ip);
  return it == byIp_.end() ? -1 : it->second;
}

bool Table::Contains4(const std::vector<Prefix4>& ps, uint32_t a) {
  for (const Prefix4& p : ps)
    if ((a & Mask4(p.len)) == p.addr) return true;
  return false;
}

bool Table::Contains6(const std::vector<Prefix6>& ps, uint64_t hi, uint64_t lo) {
  for (const Prefix6& p : ps) {
    uint64_t mh, ml;
    Mask6(p.len, &mh, &ml);
    if ((hi & mh) == p.hi && (lo & ml) == p.lo) return true;
  }
  return false;
}

bool Table::IsLocal4(uint32_t a) const { return Contains4(local4_, a); }
bool Table::IsLocal6(uint64_t hi, uint64_t lo) const { return Contains6(local6_, hi, lo); }

}  // namespace vxtun
