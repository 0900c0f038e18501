#!/usr/bin/env bash
# Builds the node image localhost/vxtun:<package.json version> (`npm run image`; README "Container image").
#
# Three paths, the first that works:
#   docker                    a Docker engine answers (`docker info`): deploy/Dockerfile, as for Docker users.
#   podman+pulled base        podman can pull the Dockerfile's base (node:20-bookworm-slim): deploy/Dockerfile.
#   podman+debootstrap base   no registry: a base made from a minimal Debian rootfs (debootstrap minbase with
#                             iproute2, nftables, iptables, ca-certificates) plus this machine's Node 20, imported
#                             as localhost/vxtun-base:bookworm-node<version> and reused by later builds from the same
#                             storage; the app is built on the host and laid over it by deploy/Containerfile
#                             (COPY only: no container runtime is needed to build).
# Both Dockerfile and Containerfile produce the same layout: /opt/vxtun/{package.json,node_modules,dist,
# build/Release/vxtun.node}, Node at /usr/local/bin/node, entrypoint `node /opt/vxtun/dist/cli.js`.
#
# Options: --skip-build  use the existing dist/ and build/Release/vxtun.node instead of running `npm run build`
#          --podman      never Docker, even when an engine answers (the image then lands in podman's storage).
# Environment: CONTAINERS_CONF and CONTAINERS_STORAGE_CONF are passed through untouched (the image lands where the
# caller's podman looks); VXTUN_DEBIAN_MIRROR (default http://deb.debian.org/debian); VXTUN_IMAGE_PULL_TIMEOUT
# (seconds for the base image pull, default 60). Leaves no temporary directory and no working container behind.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

skip_build=0
use_docker=auto
for arg in "$@"; do
  case "$arg" in
    --skip-build) skip_build=1 ;;
    --podman) use_docker=no ;;
    -h | --help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "image: $*"; }
die() { echo "image: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

version=$(node -p 'require("./package.json").version') || die "cannot read the version from package.json"
image="localhost/vxtun:$version"
dockerfile="deploy/Dockerfile"
containerfile="deploy/Containerfile"
started=$(now)
timings=()

# step NAME COMMAND...: runs COMMAND, logs and records how long it took.
step() {
  local name=$1 t0
  shift
  t0=$(now)
  log "$name ..."
  "$@"
  local dt
  dt=$(elapsed "$t0")
  timings+=("$name ${dt}s")
  log "$name: ${dt}s"
}

tmp=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$tmp" ] && [ -d "$tmp" ]; then
    # debootstrap ran in a mount namespace of its own, so nothing can still be mounted below $tmp; should anything
    # be, --one-file-system keeps rm from descending into it.
    rm -rf --one-file-system "$tmp" || echo "image: warning: could not remove $tmp" >&2
  fi
  if [ "$rc" -ne 0 ]; then echo "image: FAILED after $(elapsed "$started")s (exit $rc)" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- which path -------------------------------------------------------------------------------------------------

docker_answers() {
  command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1
}

# The Dockerfile's base image (its first FROM), fully qualified the way Docker reads a short name.
dockerfile_base() {
  local ref
  ref=$(awk 'toupper($1) == "FROM" { print $2; exit }' "$dockerfile")
  [ -n "$ref" ] || die "no FROM line in $dockerfile"
  if [ "$ref" = "${ref#*/}" ]; then
    echo "docker.io/library/$ref"                  # node:20-bookworm-slim
  else
    case "${ref%%/*}" in
      *.* | *:* | localhost) echo "$ref" ;;         # a registry host: quay.io/…, localhost:5000/…
      *) echo "docker.io/$ref" ;;                   # library-less Docker Hub name: flannel/flannel
    esac
  fi
}

# --- the app, built on the host (podman+debootstrap path) ------------------------------------------------------

# quietly LOG COMMAND...: runs COMMAND with its output in $tmp/LOG, shown (the end of it) only if it fails.
quietly() {
  local out="$tmp/$1"
  shift
  "$@" >"$out" 2>&1 || { local rc=$?; tail -n 40 "$out" >&2; die "$* failed (exit $rc; output above)"; }
}

build_app() {
  quietly build.log npm run build
}

# Production node_modules in a staging copy (the worktree's node_modules stays as it is), then the layout the
# Containerfile copies: package.json, node_modules, dist, build/Release/vxtun.node.
stage_app() {
  local app="$tmp/app"
  mkdir -p "$app/build/Release"
  cp package.json package-lock.json "$app/"
  quietly npm-ci.log npm ci --prefix "$app" --omit=dev --ignore-scripts --no-audit --no-fund
  rm -f "$app/package-lock.json"
  cp -r dist "$app/dist"
  cp build/Release/vxtun.node "$app/build/Release/vxtun.node"
}

# --- the base: minimal Debian + this machine's Node 20 ---------------------------------------------------------

node_bin=""
node_version=""
check_node() {
  node_bin=$(readlink -f "$(command -v node)") || die "node is not on PATH"
  node_version=$("$node_bin" --version)
  case "$node_version" in
    v2[0-9].*) ;;
    *) die "this machine's node is $node_version; the image needs Node >= 20" ;;
  esac
}

make_rootfs() {
  local rootfs="$tmp/rootfs"
  local mirror="${VXTUN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing (Debian: apt-get install debootstrap)"
  # In a private mount namespace: whatever debootstrap mounts (proc, sys, dev) goes away with it, even on failure.
  quietly debootstrap.log unshare --mount --propagation private \
    debootstrap --variant=minbase --include=iproute2,nftables,iptables,ca-certificates bookworm "$rootfs" "$mirror"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log \
    "$rootfs"/debootstrap
}

# Node goes where the official node images put it, /usr/local/bin/node (not npm: the image runs, it does not
# install). The shared libraries it links that the rootfs lacks are copied from this machine (on bookworm: none).
add_node() {
  local rootfs="$tmp/rootfs" lib
  install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
  while read -r lib; do
    [ -n "$lib" ] || continue
    if [ ! -e "$rootfs$lib" ]; then
      log "  copying $lib (node links it; the rootfs lacks it)"
      install -D -m 0644 "$(readlink -f "$lib")" "$rootfs$lib"
    fi
  done < <(ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
  local got
  got=$(chroot "$rootfs" /usr/local/bin/node --version) || die "node does not run inside the rootfs"
  [ "$got" = "$node_version" ] || die "node in the rootfs says $got, expected $node_version"
}

import_base() {
  local base=$1
  tar -C "$tmp/rootfs" --numeric-owner -c . |
    podman import --quiet \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' \
      - "$base" >/dev/null
}

# --- build --------------------------------------------------------------------------------------------------------

build_with_containerfile() {
  local base=$1
  # --layers=false: one working container, one commit (with vfs storage every intermediate layer is a full copy).
  podman build --quiet --layers=false --force-rm=true --pull=never --build-arg "BASE=$base" \
    --label "org.opencontainers.image.version=$version" \
    -f "$repo/$containerfile" -t "$image" "$tmp/app" >/dev/null
}

build_with_dockerfile() {
  podman build --force-rm=true --pull=never -f "$dockerfile" -t "$image" .
}

# After a rebuild, the image the tag pointed at before is removed if nothing else names or uses it.
drop_previous() {
  local old=$1 new
  new=$(podman image inspect --format '{{.Id}}' "$image")
  if [ -n "$old" ] && [ "$old" != "$new" ]; then
    if [ -z "$(podman image inspect --format '{{join .RepoTags ","}}' "$old" 2>/dev/null)" ]; then
      podman rmi "$old" >/dev/null 2>&1 || true
    fi
  fi
}

summary() {
  local path=$1
  log "built $image (path: $path) in $(elapsed "$started")s"
  local t
  for t in "${timings[@]}"; do log "  $t"; done
}

if [ "$use_docker" = auto ] && docker_answers; then
  log "path: docker (a Docker engine answers)"
  step "docker build" docker build -f "$dockerfile" -t "$image" .
  summary docker
  exit 0
fi

command -v podman >/dev/null 2>&1 || die "neither a Docker engine nor podman is available (Debian: apt-get install podman runc)"
log "no Docker engine answers; using podman (CONTAINERS_CONF=${CONTAINERS_CONF:-<default>}, CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF:-<default>})"
previous=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vxtun-image.XXXXXX")

check_node
base="localhost/vxtun-base:bookworm-node${node_version#v}"
upstream=$(dockerfile_base)

if podman image exists "$base"; then
  path="podman+debootstrap base (cached $base)"
elif podman image exists "$upstream"; then
  path="podman+pulled base ($upstream, already in storage)"
elif timeout "${VXTUN_IMAGE_PULL_TIMEOUT:-60}" podman pull --quiet "$upstream" >"$tmp/pull.log" 2>&1; then
  path="podman+pulled base ($upstream)"
else
  log "cannot pull $upstream: $(tail -n 1 "$tmp/pull.log")"
  path="podman+debootstrap base"
fi
log "path: $path"

case "$path" in
  podman+pulled*)
    step "podman build ($dockerfile)" build_with_dockerfile
    ;;
  *)
    if ! podman image exists "$base"; then
      step "debootstrap bookworm minbase" make_rootfs
      step "add node $node_version" add_node
      step "import $base" import_base "$base"
      rm -rf --one-file-system "$tmp/rootfs"
    fi
    if [ "$skip_build" -eq 0 ]; then step "npm run build" build_app; fi
    [ -f dist/cli.js ] || die "dist/cli.js is missing (run npm run build)"
    [ -f build/Release/vxtun.node ] || die "build/Release/vxtun.node is missing (run npm run build)"
    step "stage the app (npm ci --omit=dev)" stage_app
    step "podman build ($containerfile)" build_with_containerfile "$base"
    ;;
esac
drop_previous "$previous"
summary "$path"
