// Leak check for the dataplane's lifecycle: opens, starts, feeds and closes a Dataplane N times in
// one process built with -fsanitize=address,undefined (LeakSanitizer runs at exit and fails the
// process on any leaked allocation), and fails itself when the process holds more file descriptors
// after the cycles than before them. Runs as root inside a throwaway network namespace
// (native/sanitize/run.sh makes one), where it creates its TUN device, address and route.
//
// Each cycle: open (TUN queues + UDP sockets on 127.0.0.1:8472, on [::1]:8472 (the IPv6 underlay sockets) or on
// both (a dual-stack node: sockets of both families, the peer dual-stack too), by turns of two cycles) → device
// up, 10.99.1.1/32, route 10.99.2.0/24 → Start with every offload wanted → two table swaps → traffic: UDP to 10.99.2.5
// (TUN → transmit loop → sendmmsg to the "peer" at the loopback address, which is ourselves → receive loop) and crafted
// datagrams straight to the port (one forwarded into the TUN, the rest dropped; from both loopback addresses on a
// dual-stack node) → Close. Each underlay (IPv4, IPv6, dual-stack) must forward packets received from the peer's
// address (rx > 0), or the check fails. Then the handover verbs (engine/dataplane.h): Pause twice, Resume, traffic
// through the resumed loops; an adoption of the exported fds (dup'ed, as SCM_RIGHTS would copy them) one fd short,
// which must fail with EINVAL and close every fd it was given; a good adoption started with the first dataplane's
// offloads after it Paused, which must forward traffic after the first one Closed (the device kept by its fds).
//
//   dataplane_cycles [CYCLES]   (default 25)
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine/dataplane.h"

using namespace vxtun;

namespace {

constexpr const char* kDevice = "vxsan0";
constexpr uint16_t kPort = 8472;
const uint8_t kOurMac[6] = {0x0a, 0, 0, 0, 1, 1};
const uint8_t kPeerMac[6] = {0x0a, 0, 0, 0, 2, 1};

int CountFds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (readdir(d)) n++;
  closedir(d);
  return n - 3;  // ".", ".." and the DIR's own fd
}

void Must(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "dataplane_cycles: %s failed\n", what.c_str());
    std::exit(1);
  }
}

void Sh(const std::string& cmd) { Must(std::system(cmd.c_str()) == 0, cmd); }

UnderlayAddr Loopback(bool v6) {
  UnderlayAddr a;
  Must(UnderlayAddr::Parse(v6 ? "::1" : "127.0.0.1", &a), "loopback address");
  return a;
}

enum class Underlay { V4, V6, Dual };

std::unique_ptr<Table> MakeTable(Underlay u) {
  PeerEntry self;
  self.name = "self";
  self.publicIp = Loopback(u == Underlay::V6);
  std::memcpy(self.mac, kPeerMac, 6);
  if (u == Underlay::Dual) {
    self.vtep6.ip = Loopback(true);
    std::memcpy(self.vtep6.mac, kPeerMac, 6);
  }
  Prefix4 p4;
  Prefix6 p6;
  bool is6;
  ParsePrefix("10.99.2.0/24", &p4, &p6, &is6);
  self.v4.push_back(p4);
  std::vector<Prefix4> local(1);
  ParsePrefix("10.99.1.0/24", &local[0], &p6, &is6);
  std::vector<PeerEntry> peers;
  peers.push_back(std::move(self));
  std::string err;
  auto t = Table::Build(std::move(peers), std::move(local), {}, &err);
  Must(t != nullptr, "Table::Build: " + err);
  return t;
}

uint16_t Csum(const uint8_t* p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += p[i] << 8 | p[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

// A VXLAN datagram carrying IPv4/UDP 10.99.2.7 → 10.99.1.1 (accepted), or with byte `corrupt`
// flipped (dropped for one reason or another).
std::vector<uint8_t> Datagram(int corrupt) {
  std::vector<uint8_t> d(22 + 28 + 4, 0);
  d[0] = 0x08;
  d[6] = 1;  // VNI 1
  std::memcpy(&d[8], kOurMac, 6);
  std::memcpy(&d[14], kPeerMac, 6);
  d[20] = 0x08;
  uint8_t* ip = &d[22];
  const uint8_t hdr[20] = {0x45, 0, 0, 32, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 99, 2, 7, 10, 99, 1, 1};
  std::memcpy(ip, hdr, 20);
  const uint16_t c = Csum(ip, 20);
  ip[10] = static_cast<uint8_t>(c >> 8);
  ip[11] = static_cast<uint8_t>(c);
  const uint8_t udp[8] = {0x9c, 0x40, 0, 9, 0, 12, 0, 0};  // no UDP checksum
  std::memcpy(ip + 20, udp, 8);
  std::memcpy(ip + 28, "leak", 4);
  if (corrupt >= 0) d[static_cast<size_t>(corrupt) % d.size()] ^= 0x5a;
  return d;
}

void SetUp(const char* dev) {
  const int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  Must(s >= 0, "socket");
  ifreq r{};
  std::strncpy(r.ifr_name, dev, IFNAMSIZ - 1);
  Must(ioctl(s, SIOCGIFFLAGS, &r) == 0, "SIOCGIFFLAGS");
  r.ifr_flags |= IFF_UP;
  Must(ioctl(s, SIOCSIFFLAGS, &r) == 0, "SIOCSIFFLAGS");
  close(s);
}

void SendTo(int s, const void* p, size_t n, const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  (void)sendto(s, p, n, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a));
}

void SendTo6(int s, const void* p, size_t n, const char* ip, uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  (void)sendto(s, p, n, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a));
}

struct Totals {
  uint64_t tx = 0, rx = 0, drops = 0, adoptedTx = 0;
  uint64_t rxByFamily[3] = {};  // IPv4, IPv6, dual-stack underlay
};

void SendInner(int packets) {
  const int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  Must(s >= 0, "socket");
  char payload[1200];
  std::memset(payload, 'x', sizeof(payload));
  for (int k = 0; k < packets; k++) SendTo(s, payload, 100 + 50 * k, "10.99.2.5", 9);
  close(s);
}

// Waits (≤ 2 s) until dp has transmitted at least n packets.
bool WaitTx(const Dataplane& dp, uint64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (dp.Stats().txPackets < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return dp.Stats().txPackets >= n;
}

std::vector<int> Dups(const std::vector<int>& fds) {
  std::vector<int> out;
  for (int fd : fds) {
    out.push_back(fcntl(fd, F_DUPFD_CLOEXEC, 0));
    Must(out.back() >= 0, "dup");
  }
  return out;
}

// The handover verbs on a running dataplane `a` (opened with o, over underlay un); a is closed at the end.
void Handover(Dataplane& a, const DataplaneOptions& o, Underlay un, Totals* tot) {
  a.Pause();
  a.Pause();
  a.Resume();
  const uint64_t before = a.Stats().txPackets;
  SendInner(5);
  Must(WaitTx(a, before + 5), "forwarding after Resume");
  DataplaneOptions bad = o;
  bad.adopt = true;
  bad.adoptFds = Dups(a.ExportFds());
  close(bad.adoptFds.back());
  bad.adoptFds.pop_back();
  const int fds = CountFds();
  bool threw = false;
  try {
    Dataplane wrong(bad);
  } catch (const SysError& e) {
    threw = e.err == EINVAL;
  }
  Must(threw, "adopting one fd short fails with EINVAL");
  Must(CountFds() == fds - static_cast<int>(bad.adoptFds.size()), "a failed adoption closes every fd given");
  DataplaneOptions good = o;
  good.adopt = true;
  good.adoptFds = Dups(a.ExportFds());
  good.adoptOffloads = a.Stats().offloads;
  Dataplane b(good);
  b.SetTable(MakeTable(un));
  a.Pause();
  OffloadSet none;
  const OffloadSet got = b.Start(none, [](const std::string& msg) {
    std::fprintf(stderr, "dataplane_cycles: fatal (adopted): %s\n", msg.c_str());
  });
  Must(got.tso == good.adoptOffloads.tso && got.gro == good.adoptOffloads.gro &&
           got.udpGso == good.adoptOffloads.udpGso && got.udpGro == good.adoptOffloads.udpGro,
       "the adopted dataplane runs with the adopted offloads");
  a.Close();
  Must(if_nametoindex(kDevice) != 0, "the device outlives the first dataplane");
  SendInner(5);
  Must(WaitTx(b, 5), "the adopted dataplane forwards");
  tot->adoptedTx += b.Stats().txPackets;
  b.Close();
}

void Cycle(int i, Totals* tot) {
  const Underlay un = static_cast<Underlay>((i / 2) % 3);  // both worker counts with every underlay
  const bool v6 = un == Underlay::V6, dual = un == Underlay::Dual;
  DataplaneOptions o;
  o.device = kDevice;
  o.workers = 1 + i % 2;
  o.port = kPort;
  o.bindIp = Loopback(v6);
  if (dual) o.bindIp6 = Loopback(true);
  o.mtu = 1450;
  o.policy.vni = 1;
  std::memcpy(o.policy.mac, kOurMac, 6);
  Dataplane dp(o);
  SetUp(kDevice);
  Sh(std::string("ip addr add 10.99.1.1/32 dev ") + kDevice + " && ip route add 10.99.2.0/24 dev " + kDevice);
  OffloadSet want;
  want.tso = want.gro = want.udpGso = want.udpGro = true;
  dp.Start(want, [](const std::string& msg) { std::fprintf(stderr, "dataplane_cycles: fatal: %s\n", msg.c_str()); });
  dp.SetTable(MakeTable(un));
  dp.SetTable(MakeTable(un));
  // Two captures: everything, and drops only (program: DROPS); the second outlives Close.
  CaptureOptions all, drops;
  std::string err;
  const uint8_t dropsProgram[] = {0x05};
  Must(CaptureFilter::Decode(dropsProgram, sizeof(dropsProgram), &drops.filter, &err), "capture filter");
  const int capAll = dp.capture().Start(all);
  const int capDrops = dp.capture().Start(std::move(drops));
  Must(capAll > 0 && capDrops > 0, "capture start");

  const int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  Must(s >= 0, "socket");
  char payload[1200];
  std::memset(payload, 'x', sizeof(payload));
  for (int k = 0; k < 20; k++) SendTo(s, payload, 100 + 50 * k, "10.99.2.5", 9);
  close(s);
  // The crafted datagrams come from the loopback address of the underlay's family: the peer's (on a dual-stack
  // node, alternately from either).
  const int u = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int u6 = dual ? socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0) : -1;
  Must(u >= 0 && (!dual || u6 >= 0), "socket");
  for (int k = -1; k < 30; k++) {
    const auto d = Datagram(k);
    if (v6 || (dual && k % 2 == 0))
      SendTo6(v6 ? u : u6, d.data(), d.size(), "::1", kPort);
    else
      SendTo(u, d.data(), d.size(), "127.0.0.1", kPort);
  }
  if (dual) {
    const auto d = Datagram(-1);
    SendTo6(u6, d.data(), d.size(), "::1", kPort);  // the accepted one over IPv6 too
  }
  if (v6)
    SendTo6(u, payload, 3, "::1", kPort);  // short
  else
    SendTo(u, payload, 3, "127.0.0.1", kPort);
  close(u);
  if (u6 >= 0) close(u6);

  // Wait (≤ 2 s) until the transmit loop has seen the traffic, then a moment for the receive side.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (dp.Stats().txPackets < 20 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<uint8_t> blocks(1 << 20);
  const CaptureDrain d = dp.capture().Drain(capAll, blocks.data(), blocks.size(), SIZE_MAX);
  Must(d.records > 0 && d.bytes > 0, "capture drained");
  Must(dp.capture().Stop(capAll) && !dp.capture().Stop(capAll), "capture stop");
  const DataplaneStats st = dp.Stats();
  tot->tx += st.txPackets;
  tot->rx += st.rxPackets;
  tot->rxByFamily[static_cast<int>(un)] += st.rxPackets;
  for (int k = 0; k < kVerdictCount; k++) tot->drops += st.rxDrops[k] + st.txDrops[k];
  Handover(dp, o, un, tot);
  dp.Close();  // idempotent
}

}  // namespace

int main(int argc, char** argv) {
  const int cycles = argc > 1 ? std::atoi(argv[1]) : 25;
  Must(cycles > 0, "CYCLES > 0");
  Sh("ip link set lo up");
  Totals warm;
  Cycle(0, &warm);  // the first cycle may set up process-wide state (thread stacks, caches)
  const int fdsBefore = CountFds();
  Totals tot;
  for (int i = 1; i <= cycles; i++) Cycle(i, &tot);
  const int fdsAfter = CountFds();
  std::printf(
      "dataplane_cycles: %d cycles, %llu tx packets, %llu rx packets (%llu over IPv6, %llu dual-stack), %llu drops, "
      "%llu tx after adoption; "
      "fds %d before, %d after\n",
      cycles, static_cast<unsigned long long>(tot.tx), static_cast<unsigned long long>(tot.rx),
      static_cast<unsigned long long>(tot.rxByFamily[1]), static_cast<unsigned long long>(tot.rxByFamily[2]),
      static_cast<unsigned long long>(tot.drops), static_cast<unsigned long long>(tot.adoptedTx), fdsBefore, fdsAfter);
  std::fflush(stdout);  // before LeakSanitizer's exit-time report
  if (fdsAfter != fdsBefore) {
    std::fprintf(stderr, "dataplane_cycles: file descriptors leaked: %d before, %d after\n", fdsBefore, fdsAfter);
    return 1;
  }
  if (tot.adoptedTx == 0) {
    std::fprintf(stderr, "dataplane_cycles: no adopted dataplane forwarded anything\n");
    return 1;
  }
  if (tot.tx == 0 || tot.drops == 0) {
    std::fprintf(stderr, "dataplane_cycles: no traffic went through the loops; the check proves nothing\n");
    return 1;
  }
  for (int f = 0; f < 3 && cycles >= 5; f++) {
    if (tot.rxByFamily[f] == 0) {
      std::fprintf(stderr, "dataplane_cycles: nothing was received over the %s underlay\n",
                   f == 0   ? "IPv4"
                   : f == 1 ? "IPv6"
                            : "dual-stack");
      return 1;
    }
  }
  return 0;  // LeakSanitizer reports and fails the exit status after this if anything leaked
}
