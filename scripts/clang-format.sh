#!/usr/bin/env bash
# Runs clang-format over the native sources: native/**/*.{h,cc}, the fuzz corpora excluded.
#
#   bash scripts/clang-format.sh check    exit 1 and name each file that `write` would change (npm run format:check)
#   bash scripts/clang-format.sh write    rewrite the files in place (npm run format)
#
# The style is .clang-format at the repository root. Exits 2 when clang-format is missing (scripts/setup.sh test
# installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
case "$mode" in
  check | write) ;;
  *) echo "clang-format.sh: usage: clang-format.sh check|write" >&2; exit 2 ;;
esac
if ! command -v clang-format >/dev/null 2>&1; then
  echo "clang-format.sh: clang-format is not installed (bash scripts/setup.sh test installs it)" >&2
  exit 2
fi

mapfile -d '' files < <(find native -path native/fuzz/corpus -prune -o -type f \( -name '*.h' -o -name '*.cc' \) -print0 | sort -z)
if [ ${#files[@]} -eq 0 ]; then
  echo "clang-format.sh: no native sources found" >&2
  exit 2
fi

if [ "$mode" = write ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
changed=0
for f in "${files[@]}"; do
  if ! out=$(clang-format --dry-run -Werror "$f" 2>&1); then
    if grep -q 'clang-format-violations' <<<"$out"; then
      echo "clang-format: $f is not formatted (npm run format rewrites it)"
    else
      echo "clang-format: $f: $out"   # not a style difference (bad .clang-format, unreadable file): show it
    fi
    changed=$((changed + 1))
  fi
done
if [ "$changed" -gt 0 ]; then
  echo "clang-format: ${changed} of ${#files[@]} files would change"
  exit 1
fi
echo "clang-format: all ${#files[@]} files formatted"
