#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, -fsanitize=fuzzer,address,undefined) from the pure native
# sources and runs each for a fixed time over its seed corpus (native/fuzz/corpus/<harness>/).
# Prints the executions per harness; exits non-zero when any harness crashes, fails an invariant,
# or does not build. Crash inputs land in build-fuzz/crashes/.
#
#   native/fuzz/run.sh [--seconds N] [HARNESS…]    (default 25 s each, every harness)
#   npm run fuzz -- --seconds 600                    (a long run)
#
# Needs clang and the compiler-rt fuzzer/sanitizer runtimes (Debian: clang libclang-rt-dev).
# New inputs found during a run go to build-fuzz/work/<harness>/, never into the seed corpus.
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=25
harnesses=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a value}"; shift 2 ;;
    --seconds=*) seconds="${1#--seconds=}"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || { echo "fuzz: --seconds must be a positive integer" >&2; exit 2; }
if [ ${#harnesses[@]} -eq 0 ]; then
  harnesses=(classify_rx parse_ip segment_tcp checksum gro_plan capture_filter pcapng_epb rx_loop tx_loop)
fi

CXX="${CXX_FUZZ:-clang++}"
if ! command -v "$CXX" >/dev/null; then
  echo "fuzz: $CXX not found (apt-get install clang libclang-rt-dev)" >&2
  exit 1
fi

out=build-fuzz
mkdir -p "$out/crashes"
# By folder: the pure functions (native/core) and the engine the loop harnesses drive (native/engine, which
# links against native/linux's sockets and TUN queues). native/node and native/testing are the napi side.
sources=(native/core/*.cc native/engine/*.cc native/linux/*.cc)
flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Inative
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)

# Larger inputs only where the code under test scales with them (segment counts, 16-bit lengths).
max_len() {
  case "$1" in
    segment_tcp|checksum) echo 66000 ;;
    *) echo 4096 ;;
  esac
}

status=0
summary=()
# The sources are compiled once (instrumented for coverage and the sanitizers, without libFuzzer's main), in
# parallel; each harness is then compiled and linked against them.
objdir="$out/obj"
mkdir -p "$objdir"
echo "fuzz: compiling ${#sources[@]} sources"
objs=()
# One object per source, named after its path under native/ (core/fdb.cc → core_fdb.o: names may repeat across folders).
obj_name() { local r="${1#native/}"; r="${r%.cc}"; echo "${r//\//_}.o"; }
for f in "${sources[@]}"; do objs+=("$objdir/$(obj_name "$f")"); done
# shellcheck disable=SC2016
if ! for i in "${!sources[@]}"; do printf '%s\n%s\n' "${sources[$i]}" "${objs[$i]}"; done |
    xargs -d '\n' -n 2 -P "$(nproc 2>/dev/null || echo 2)" bash -c \
    'a=("$@"); n=${#a[@]}; exec "${a[@]:0:n-2}" -c -o "${a[n-1]}" "${a[n-2]}"' _ \
    "$CXX" "${flags[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}"; then
  echo "fuzz: compiling the sources failed" >&2
  exit 1
fi
for h in "${harnesses[@]}"; do
  src="native/fuzz/${h}_fuzz.cc"
  if [ ! -f "$src" ]; then echo "fuzz: no harness $src" >&2; status=1; summary+=("$h: no such harness"); continue; fi
  bin="$out/$h"
  echo "fuzz: building $h"
  if ! "$CXX" "${flags[@]}" -o "$bin" "$src" "${objs[@]}"; then
    status=1; summary+=("$h: BUILD FAILED"); continue
  fi
  work="$out/work/$h"
  seeds="native/fuzz/corpus/$h"
  mkdir -p "$work"
  log="$out/$h.log"
  echo "fuzz: running $h for ${seconds}s (seeds: $(ls "$seeds" 2>/dev/null | wc -l))"
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
    "$bin" -max_total_time="$seconds" -max_len="$(max_len "$h")" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/crashes/$h-" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
  if [ "$rc" -ne 0 ]; then
    status=1
    tail -n 40 "$log" >&2
    summary+=("$h: CRASH (exit $rc) after ${execs:-?} executions; input: $(ls -t "$out"/crashes/"$h"-* 2>/dev/null | head -n 1)")
  else
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
    summary+=("$h: ${execs:-0} executions in ${seconds}s, no crash (${cov:-cov: ?}, corpus $(ls "$work" | wc -l) files)")
  fi
done

echo "fuzz summary:"
for line in "${summary[@]}"; do echo "  $line"; done
exit "$status"
