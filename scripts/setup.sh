#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages vxtun's build, demo and tests use, and only those that are missing:
#
#   bash scripts/setup.sh demo    building the addon (python3, make, g++), the lab demo (iproute2, procps,
#                                 the CNI plugins, nftables for ipMasq)
#   bash scripts/setup.sh test    all of the above, plus what the test suite uses (iputils-ping, iperf3, tshark,
#                                 tcpdump, clang + compiler-rt for the fuzzers, promtool, podman/buildah/runc/
#                                 debootstrap for the image test, iptables for the ipMasq fallback, etcd-server/
#                                 etcd-client for etcd mode, chromium for the bench report screenshot, clang-format
#                                 for `npm run format:check`, and g++-aarch64-linux-gnu for the arm64 guard,
#                                 native/check-arm64.sh)
#
# Runs as root (a fresh machine's root shell has no sudo). Prints what it installs; installs nothing and touches
# nothing when every tool is already there. Exits 1 with the list of missing packages when it cannot install them
# (not root, no apt-get). .ci/run uses `test`.
set -euo pipefail

profile="${1:-test}"
case "$profile" in
  demo | test) ;;
  -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "setup: unknown profile '$profile' (demo or test)" >&2; exit 2 ;;
esac

# "a command or file that tells the package is installed" → package
need=(
  "python3:python3" "make:make" "g++:g++"
  "ip:iproute2" "bridge:iproute2" "sysctl:procps" "nft:nftables"
  "/usr/lib/cni/bridge:containernetworking-plugins" "/usr/lib/cni/host-local:containernetworking-plugins"
)
if [ "$profile" = test ]; then
  need+=(
    "ping:iputils-ping" "iperf3:iperf3" "tshark:tshark" "tcpdump:tcpdump" "iptables:iptables"
    "clang++:clang" "clang-format:clang-format" "promtool:prometheus"
    "podman:podman" "buildah:buildah" "runc:runc" "debootstrap:debootstrap"
    "aarch64-linux-gnu-g++:g++-aarch64-linux-gnu" "etcd:etcd-server" "etcdctl:etcd-client"
    "/usr/bin/chromium:chromium"
  )
fi

has() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] ;;
  esac
}

# libFuzzer and the sanitizer runtimes come with clang's compiler-rt package, which clang does not pull in.
clang_rt_missing() {
  has clang++ || return 1
  local lib
  lib=$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null || true)
  [ "$(uname -m)" = x86_64 ] && [ ! -e "$lib" ]
}

pkgs=()
add() { case " ${pkgs[*]-} " in *" $1 "*) ;; *) pkgs+=("$1") ;; esac; }
for entry in "${need[@]}"; do
  has "${entry%%:*}" || add "${entry#*:}"
done
if [ "$profile" = test ]; then
  case " ${pkgs[*]-} " in *" clang "*) add libclang-rt-dev ;; esac
  if clang_rt_missing; then add libclang-rt-dev; fi
fi

if [ ${#pkgs[@]} -eq 0 ]; then
  echo "setup: everything the ${profile} needs is installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup: missing packages: ${pkgs[*]} (install them as root with apt-get)" >&2
  exit 1
fi
echo "setup: installing ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "setup: done"
