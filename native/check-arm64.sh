#!/usr/bin/env bash
# The arm64 guard: compiles every addon source (native/{core,engine,linux,node,testing}/*.cc) with Debian's
# aarch64 cross compiler (g++-aarch64-linux-gnu), with binding.gyp's defines and warning flags (-Werror included),
# against this Node's headers and node-addon-api's. Objects go to a temporary directory and are thrown away: this
# checks that nothing x86-only (an intrinsic without its #if, an x86 header) reaches an ARM build; it links nothing.
# Prints one line per file, then "arm64: N passed, M failed"; exits 1 when any file fails or the compiler is missing.
#
#   bash native/check-arm64.sh          (.ci/run runs it; scripts/setup.sh test installs the compiler)
#
# NODE_INCLUDE overrides the Node header directory (default: <node's prefix>/include/node, else node-gyp's cache).
set -uo pipefail
cd "$(dirname "$0")/.."

CXX="${CXX_ARM64:-aarch64-linux-gnu-g++}"
if ! command -v "$CXX" >/dev/null; then
  echo "arm64: $CXX not found (apt-get install g++-aarch64-linux-gnu, or bash scripts/setup.sh test)" >&2
  echo "arm64: 0 passed, 1 failed"
  exit 1
fi

nodeinc="${NODE_INCLUDE:-}"
if [ -z "$nodeinc" ]; then
  prefix=$(dirname "$(dirname "$(command -v node)")")
  ver=$(node -p 'process.versions.node')
  for d in "$prefix/include/node" "$HOME/.cache/node-gyp/$ver/include/node"; do
    [ -f "$d/node_api.h" ] && { nodeinc=$d; break; }
  done
fi
if [ -z "$nodeinc" ] || [ ! -f "$nodeinc/node_api.h" ]; then
  echo "arm64: no Node headers found (node_api.h); set NODE_INCLUDE or run npm ci (node-gyp fetches them)" >&2
  echo "arm64: 0 passed, 1 failed"
  exit 1
fi

# binding.gyp's defines and C++ flags (its <!(…) commands run here), minus optimisation: the x86 build's own.
mapfile -t gypflags < <(node - <<'JS'
const { execSync } = require('child_process');
const d = JSON.parse(require('fs').readFileSync('binding.gyp', 'utf8')).target_defaults;
const run = (s) => s.replace(/<!\((.*)\)$/, (_, c) => execSync(c, { encoding: 'utf8' }).trim());
for (const x of d.defines ?? []) console.log(`-D${x}`);
for (const f of d.cflags_cc ?? []) console.log(run(f));
JS
)
napi=$(node -p "require('path').resolve(require('node-addon-api').include_dir)")
# node-addon-api's "except" target adds NAPI_CPP_EXCEPTIONS; node-gyp adds -fPIC and -Wno-unused-parameter.
flags=("${gypflags[@]}" -DNAPI_CPP_EXCEPTIONS -fexceptions -fPIC -Wno-unused-parameter -Inative -isystem "$nodeinc"
  -isystem "$napi")

sources=(native/core/*.cc native/engine/*.cc native/linux/*.cc native/node/*.cc native/testing/*.cc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# In parallel; each file's verdict lands in $tmp/<n>.ok or $tmp/<n>.log.
for i in "${!sources[@]}"; do printf '%s\n%s\n' "$i" "${sources[$i]}"; done |
  xargs -d '\n' -n 2 -P "$(nproc 2>/dev/null || echo 2)" bash -c '
    tmp="$1"; shift; a=("$@"); n=${#a[@]}; i=${a[n-2]}; f=${a[n-1]}
    if "${a[@]:0:n-2}" -c -o "$tmp/$i.o" "$f" >"$tmp/$i.log" 2>&1; then touch "$tmp/$i.ok"; fi' _ "$tmp" \
  "$CXX" "${flags[@]}" -O2
pass=0 fail=0
for i in "${!sources[@]}"; do
  if [ -e "$tmp/$i.ok" ]; then
    pass=$((pass + 1)); echo "ok $((i + 1)) - ${sources[$i]}"
  else
    fail=$((fail + 1)); echo "not ok $((i + 1)) - ${sources[$i]}"; sed 's/^/  # /' "$tmp/$i.log" | head -n 20
  fi
done
echo "arm64: $pass passed, $fail failed ($($CXX -dumpmachine), $($CXX -dumpversion))"
[ "$fail" -eq 0 ]
