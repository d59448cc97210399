#!/usr/bin/env bash
# The `local` provider's data plane: machine tools linked, kube-router and kube-proxy built.
#
#   tools/install-dataplane.sh [TOOLS_BIN]      (run by tools/install.sh; also on its own)
#
# Steps (each prints its elapsed time):
#   1. the machine's packages: iproute2, iptables and ipset installed with apt-get when one is
#      missing and this runs as root on a Debian-like machine (otherwise one line names the
#      packages: the data plane stays off until then, nothing else fails); the kernel's
#      br_netfilter loaded (modprobe) when bridged traffic would bypass iptables without it;
#      then ip, iptables(-save/-restore), ip6tables(-save/-restore), ipset linked into TOOLS_BIN.
#      DATAPLANE_PACKAGES=skip leaves the machine alone (only links what is there).
#   2. kube-router  KUBE_ROUTER_VERSION (tools/dataplane-versions.env), built from the wrapper
#      module tools/go/kube-router (fixed dependency releases pinned there, see its go.mod).
#   3. kube-proxy   KUBE_VERSION (tools/controlplane-versions.env), built from
#      tools/go/kube-proxy, whose Kubernetes modules must equal tools/go/kube's (checked).
# Binaries go to <cache>/<tool>-<version>/ with a stamp of what they were built from
# (go.mod, go.sum, ldflags): a changed wrapper rebuilds, an unchanged one links in ~0 s.
# Environment: TARTWARE_TOOLS_CACHE (cache root), TOOLS_BIN, FORCE_REBUILD=1.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR="$REPO_ROOT/tools"
# shellcheck source=controlplane-versions.env
source "$TOOLS_DIR/controlplane-versions.env"
# shellcheck source=dataplane-versions.env
source "$TOOLS_DIR/dataplane-versions.env"
: "${KUBE_VERSION:?}" "${KUBE_ROUTER_VERSION:?}"
CACHE_ROOT=${TARTWARE_TOOLS_CACHE:-$HOME/.cache/tartware-conformance}
TOOLS_BIN=${1:-${TOOLS_BIN:-$REPO_ROOT/.tools/bin}}
FORCE_REBUILD=${FORCE_REBUILD:-0}
export CGO_ENABLED=0
mkdir -p "$TOOLS_BIN"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf 'tools: data plane: %s\n' "$*"; }
# shellcheck source=progress.sh
source "$TOOLS_DIR/progress.sh"
total=$(now)

# -- 1. machine tools ------------------------------------------------------------------
step=$(now)
# tool:package (Debian)
ENTRIES=(ip:iproute2 iptables:iptables iptables-save:iptables iptables-restore:iptables
  ip6tables:iptables ip6tables-save:iptables ip6tables-restore:iptables ipset:ipset)
machine_tool() {
  local dir
  for dir in /usr/sbin /sbin /usr/bin /bin; do
    if [[ -x "$dir/$1" ]]; then echo "$dir/$1"; return 0; fi
  done
  return 1
}
packages=()
for entry in "${ENTRIES[@]}"; do
  machine_tool "${entry%%:*}" >/dev/null || packages+=("${entry#*:}")
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u | sed '/^$/d')
if ((${#packages[@]})); then
  if [[ "${DATAPLANE_PACKAGES:-install}" == skip ]]; then
    say "DATAPLANE_PACKAGES=skip: not installing ${packages[*]}"
  elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    say "installing ${packages[*]} (apt-get, as root) ..."
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null; }
    # The package lists of a fresh machine may be empty or stale: update once, then retry.
    apt_install 2>/dev/null || { apt-get update -q >/dev/null && apt_install; } \
      || say "apt-get could not install ${packages[*]}: the local provider runs without a data plane"
  else
    say "missing ${packages[*]}: as root, apt-get install ${packages[*]} (or your system's packages), then make tools"
  fi
fi
missing=()
for entry in "${ENTRIES[@]}"; do
  tool=${entry%%:*} package=${entry#*:}
  if found=$(machine_tool "$tool"); then
    link_tool "$found" "$TOOLS_BIN/$tool"
  else
    rm -f "$TOOLS_BIN/$tool"
    missing+=("$tool")
    say "$tool not found: apt-get install $package (the local provider runs without a data plane until then)"
  fi
done
# Bridged pod traffic reaches iptables only through br_netfilter (kube-router enforces there).
if [[ ! -d /proc/sys/net/bridge ]]; then
  if [[ $(id -u) == 0 ]] && command -v modprobe >/dev/null && modprobe br_netfilter 2>/dev/null; then
    say "loaded the kernel module br_netfilter"
  else
    say "the kernel module br_netfilter is not loaded: as root, modprobe br_netfilter (the data plane stays off)"
  fi
fi
say "machine tools linked (${#missing[@]} missing) in $(since "$step")s"

# -- build helper ------------------------------------------------------------------------
TMP=""
trap '[[ -n "$TMP" ]] && rm -f -- "$TMP"' EXIT
trap 'exit 130' INT TERM

# build <tool> <version> <wrapper dir> <package> <binary> <ldflags> <expected in --version>
build() {
  local tool=$1 version=$2 moddir=$3 pkg=$4 binary=$5 ldflags=$6 expect=$7
  local outdir="$CACHE_ROOT/$tool-$version" started stamp reported
  local out="$outdir/$binary" stamp_file="$outdir/.$binary.stamp"
  started=$(now)
  stamp=$(cat "$moddir/go.mod" "$moddir/go.sum" <(printf '%s\n%s\n' "$pkg" "-s -w $ldflags") | sha256sum | cut -d' ' -f1)
  if [[ "$FORCE_REBUILD" != 1 && -x "$out" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]]; then
    say "$binary $version cached ($out)"
  else
    command -v go >/dev/null || { echo "tools: 'go' is not on PATH: install Go 1.26 to build $binary" >&2; exit 2; }
    mkdir -p "$outdir"
    TMP="$outdir/.$binary.tmp.$$"
    say "$binary $version building from $moddir (first time: minutes) ..."
    with_heartbeat "$binary $version" env -C "$moddir" go build -mod=readonly -trimpath \
      -ldflags "-s -w $ldflags" -o "$TMP" "$pkg"
    reported=$("$TMP" --version 2>&1 | head -n 1) || true
    if [[ "$reported" != *"$expect"* ]]; then
      echo "tools: $binary --version says '$reported', expected $expect" >&2
      exit 1
    fi
    mv -f "$TMP" "$out" && TMP=""
    printf '%s\n' "$stamp" >"$stamp_file"
    say "$binary $version built in $(since "$started")s: $reported"
  fi
  link_tool "$out" "$TOOLS_BIN/$binary"
}

# -- 2. kube-router --------------------------------------------------------------------
kr_dir="$TOOLS_DIR/go/kube-router"
got=$(cd "$kr_dir" && go list -mod=readonly -m -f '{{.Version}}' github.com/cloudnativelabs/kube-router/v2)
[[ "$got" == "$KUBE_ROUTER_VERSION" ]] || {
  echo "tools: $kr_dir resolves kube-router $got, dataplane-versions.env pins $KUBE_ROUTER_VERSION" >&2
  exit 1
}
kr_date=$(cd "$kr_dir" && go list -mod=readonly -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' \
  github.com/cloudnativelabs/kube-router/v2)
kr_ldflags="-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION"
kr_ldflags+=" -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=${kr_date:-unknown}"
build kube-router "$KUBE_ROUTER_VERSION" "$kr_dir" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
  kube-router "$kr_ldflags" "$KUBE_ROUTER_VERSION"

# -- 3. kube-proxy ----------------------------------------------------------------------
kp_dir="$TOOLS_DIR/go/kube-proxy"
# "The same Kubernetes build": every k8s.io module both wrappers resolve has the same version.
k8s_modules() { (cd "$1" && go list -mod=readonly -m -f '{{.Path}} {{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' all) | grep '^k8s.io/' | sort; }
drift=$(join <(k8s_modules "$TOOLS_DIR/go/kube") <(k8s_modules "$kp_dir") | awk '$2 != $3')
if [[ -n "$drift" ]]; then
  printf 'tools: tools/go/kube-proxy and tools/go/kube disagree on Kubernetes modules:\n%s\n' "$drift" >&2
  exit 1
fi
kp_date=$(cd "$kp_dir" && go list -mod=readonly -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)
major=${KUBE_VERSION#v}; major=${major%%.*}
minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
kp_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kp_ldflags+=" -X '$pkg.gitVersion=$KUBE_VERSION' -X '$pkg.gitMajor=$major' -X '$pkg.gitMinor=$minor'"
  kp_ldflags+=" -X '$pkg.gitTreeState=clean' -X '$pkg.gitCommit=' -X '$pkg.buildDate=${kp_date:-1970-01-01T00:00:00Z}'"
done
build kube "$KUBE_VERSION" "$kp_dir" k8s.io/kubernetes/cmd/kube-proxy kube-proxy "$kp_ldflags" "$KUBE_VERSION"

say "ready in $(since "$total")s"
