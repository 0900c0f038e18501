#!/usr/bin/env bash
# Checks the README's Quick start the honest way: on a fresh machine with nothing but Node 20 added.
#
#   bash scripts/check-quickstart.sh [--base DIR] [--keep] [--first-only]      (npm run check:quickstart)
#
# 1. A minimal Debian rootfs (`debootstrap --variant=minbase bookworm`), made once into --base (default
#    /var/tmp/vxtun-quickstart-base) and copied afresh for every run, so each run starts from a pristine system.
# 2. Adds what a fresh machine of this project's kind has besides Debian: Node 20 (node, npm, Node's headers and
#    npm's settings) and the machine's environment (DNS, apt settings, the CA bundle npm's registry proxy needs).
#    Nothing else: no sudo, no ping, no iproute2, no compiler.
# 3. A clean clone of this repository's HEAD at /root/vxtun inside it.
# 4. Runs exactly the two commands of the README's Quick start block, in order, inside the rootfs (chroot, in a
#    private mount namespace with /proc, /sys, /dev and a tmpfs /run), and prints what they printed (the full log
#    is kept in the run's directory under /var/tmp). Exits 0 only when both commands exit 0 and the first printed `all checks passed`.
#
# Root only. Needs debootstrap (Debian) and git. The rootfs copy is removed afterwards unless --keep.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

base=/var/tmp/vxtun-quickstart-base
keep=0
first_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base="${2:?--base needs a directory}"; shift 2 ;;
    --keep) keep=1; shift ;;
    --first-only) first_only=1; shift ;;   # only the demo command (a quicker check while working on it)
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "check-quickstart: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "check-quickstart: needs root (chroot, mounts)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "check-quickstart: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

# The two commands: the first two non-empty lines of the first ```sh block under "## Quick start", comments removed.
mapfile -t cmds < <(awk '/^## Quick start/{q=1} q&&/^```sh/{b=1;next} b&&/^```/{exit} b&&NF{print}' README.md |
  sed -E 's/[[:space:]]+#.*$//')
[ ${#cmds[@]} -eq 2 ] || { echo "check-quickstart: the Quick start block must hold exactly two commands (found ${#cmds[@]})" >&2; exit 1; }

t0=$(date +%s)
if [ ! -e "$base/etc/debian_version" ]; then
  echo "check-quickstart: debootstrap --variant=minbase bookworm $base"
  rm -rf "$base.partial"
  debootstrap --variant=minbase bookworm "$base.partial" http://deb.debian.org/debian >/dev/null
  mv "$base.partial" "$base"
  echo "check-quickstart: base made in $(( $(date +%s) - t0 )) s"
fi

work=$(mktemp -d /var/tmp/vxtun-quickstart.XXXXXX)
root="$work/rootfs"
log="$work/quickstart.log"
cleanup() {   # the log stays; the rootfs copy (large) goes unless --keep or the check failed
  if [ "$keep" -eq 1 ]; then echo "check-quickstart: rootfs kept at $root"; else rm -rf "$root"; fi
}
trap cleanup EXIT
cp -a "$base" "$root"

# Node 20 as this machine has it.
node_bin=$(command -v node)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")   # …/lib/node_modules/npm
install -D -m 0755 "$node_bin" "$root/usr/bin/node"
mkdir -p "$root/usr/lib/node_modules"
cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
[ -d /usr/include/node ] && mkdir -p "$root/usr/include" && cp -a /usr/include/node "$root/usr/include/node"
# The machine's environment: DNS, apt settings, the CA bundle and npm settings (registry proxy).
cp /etc/resolv.conf "$root/etc/resolv.conf"
for f in /etc/apt/apt.conf.d/99*; do [ -f "$f" ] && cp "$f" "$root/etc/apt/apt.conf.d/"; done
for f in /etc/ssl/certs/ca-certificates.crt /etc/npmrc /usr/etc/npmrc /root/.npmrc; do
  [ -f "$f" ] && install -D -m 0644 "$f" "$root$f"
done
git clone -q "$repo" "$root/root/vxtun"

absent=()
for tool in sudo ping ip nft iperf3 g++ make python3; do
  chroot "$root" sh -c "command -v $tool" >/dev/null 2>&1 || absent+=("$tool")
done
echo "check-quickstart: not in the fresh rootfs: ${absent[*]-none}"

script=$(printf 'set -e\ncd /root/vxtun\n')
last=1
[ "$first_only" -eq 1 ] && last=0
for i in $(seq 0 "$last"); do
  script+=$(printf '\necho "quickstart: \\$ %s"\nstart=$(date +%%s)\n%s\necho "quickstart: command %d exited 0 after $(( $(date +%%s) - start )) s"\n' \
    "${cmds[$i]//\"/\\\"}" "${cmds[$i]}" "$((i + 1))")
done
printf '%s\n' "$script" > "$root/root/quickstart.sh"

echo "check-quickstart: running the README's two commands in $root:"
printf '  %s\n' "${cmds[@]}"
rc=0
unshare -m --propagation private bash -c '
  set -e
  r="$1"
  mount --bind "$r" "$r"
  mount -t proc proc "$r/proc"
  mount -t sysfs sysfs "$r/sys"
  mount --rbind /dev "$r/dev"
  mount -t tmpfs tmpfs "$r/run"
  exec chroot "$r" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    TERM=dumb NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt /bin/bash /root/quickstart.sh
' _ "$root" >"$log" 2>&1 || rc=$?

grep -E '^quickstart: |all checks passed|^# \{ total|^ok [0-9]+ - .*# SKIP|^not ok' "$log" | tail -n 60 || true
echo "check-quickstart: full log: $log (exit $rc, $(( $(date +%s) - t0 )) s in all)"
if [ "$rc" -eq 0 ] && grep -q 'all checks passed' "$log"; then
  echo "check-quickstart: PASS"
  exit 0
fi
keep=1
echo "check-quickstart: FAIL"
exit 1
