#!/usr/bin/env bash
# The offline kind node image for the `kind` provider (make kind-node; the provider runs it too).
#
#   tools/build-kind-node.sh            build (or find in the cache); prints the image's tag last
#   tools/build-kind-node.sh --print    only print the cache folder and tag this checkout asks for
#   tools/build-kind-node.sh --images-only [--print] TAG...
#                                       only the archives of the images named (no node rootfs): what
#                                       an upstream node image (kindest/node) lacks and the kind
#                                       provider loads with `kind load image-archive`; prints the
#                                       folder last (the provider passes the tags its manifests use)
#
# A Debian rootfs (debootstrap, the apt mirror this machine uses), kubelet/kubeadm from the
# wrapper module tools/go/kind-node (kubectl: the pinned one of .tools/bin), containerd v2,
# crictl and CoreDNS from the Go module proxy at the versions of tools/kind-node/versions.env,
# and every image kubeadm and the suite need pre-imported (pinned) into the node's containerd under
# the exact names asked for. Images are single-layer docker-archives written by
# tools/kind-node/mkimage.py; nothing is pulled, ever.
#
# Cached by content in $TARTWARE_TOOLS_CACHE (default ~/.cache/tartware-conformance):
#   kind-node-<kube version>-<hash>/node.tar   the node image (docker-archive), tag in ./image
#   kind-node-bin-<hash>/                       Go builds (reused when only the assembly changes)
#   kind-node-rootfs-<hash>.tar                 the debootstrap rootfs (same)
#   kind-images-<kube version>-<hash>/*.tar     --images-only: one docker-archive per image
# After a successful build the older builds are pruned (tools/kind-node/prune.sh: the newest 2 of
# each kind stay, never the one in use).
# The hash covers this script, tools/kind-node/, the wrapper modules, the pinned versions, the
# mirror and the control-plane binaries it packs. Needs root (debootstrap, chroot, containerd).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR="$REPO_ROOT/tools"
NODE_DIR="$TOOLS_DIR/kind-node"
# shellcheck source=controlplane-versions.env
source "$TOOLS_DIR/controlplane-versions.env"
# shellcheck source=dataplane-versions.env
source "$TOOLS_DIR/dataplane-versions.env"
# shellcheck source=kind-node/versions.env
source "$NODE_DIR/versions.env"
# shellcheck source=progress.sh
source "$TOOLS_DIR/progress.sh"

CACHE_ROOT=${TARTWARE_TOOLS_CACHE:-$HOME/.cache/tartware-conformance}
TOOLS_BIN=${TOOLS_BIN:-$REPO_ROOT/.tools/bin}
PYTHON=${PYTHON:-python3}
MODE=node
PRINT=0
WANT=()
while (($#)); do
  case $1 in
    --print) PRINT=1 ;;
    --images-only) MODE=images ;;
    -*) printf 'kind-node: error: unknown option %s\n' "$1" >&2; exit 2 ;;
    *) WANT+=("$1") ;;
  esac
  shift
done
if [[ $MODE == node && ${#WANT[@]} -gt 0 ]]; then
  printf 'kind-node: error: image names (%s) go with --images-only\n' "${WANT[*]}" >&2; exit 2
fi
STEPS=7
[[ $MODE == images ]] && STEPS=4
began=$SECONDS

say() { printf 'kind-node: %s\n' "$*"; }
step() { say "[$1/$STEPS] $2"; }
die() { printf 'kind-node: error: %s\n' "$*" >&2; exit 1; }

mirror() {
  local uri
  uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n "$uri" ]] || uri=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${KIND_NODE_MIRROR:-$(mirror)}

# Every image the build makes: archive name -> its tags (the builders and --images-only read this).
declare -A IMAGE_TAGS=(
  [kube-apiserver]="registry.k8s.io/kube-apiserver:$KUBE_VERSION"
  [kube-controller-manager]="registry.k8s.io/kube-controller-manager:$KUBE_VERSION"
  [kube-scheduler]="registry.k8s.io/kube-scheduler:$KUBE_VERSION"
  [kube-proxy]="registry.k8s.io/kube-proxy:$KUBE_VERSION"
  [etcd]="registry.k8s.io/etcd:$ETCD_IMAGE_TAG"
  [pause]=$(for t in ${PAUSE_TAGS:?}; do printf 'registry.k8s.io/pause:%s ' "$t"; done)
  [coredns]="registry.k8s.io/coredns/coredns:$COREDNS_VERSION"
  [metrics-server]="registry.k8s.io/metrics-server/metrics-server:$METRICS_SERVER_VERSION"
  [probe]="tartware.local/conformance/probe:$KUBE_VERSION"
  [target]="tartware.local/conformance/target:$KUBE_VERSION"
  [resource-consumer]="tartware.local/conformance/resource-consumer:$KUBE_VERSION"
  [kube-router]="tartware.local/conformance/kube-router:$KUBE_ROUTER_VERSION"
)
# The host binary each image packs (built by `make tools`); images not listed pack Go builds of this script.
declare -A IMAGE_HOST_BINARY=(
  [kube-apiserver]=kube-apiserver [kube-controller-manager]=kube-controller-manager
  [kube-scheduler]=kube-scheduler [kube-proxy]=kube-proxy [etcd]=etcd
  [metrics-server]=metrics-server [kube-router]=kube-router
)
if [[ $MODE == node ]]; then
  mapfile -t NAMES < <(printf '%s\n' "${!IMAGE_TAGS[@]}" | LC_ALL=C sort)
  HOST_BINARIES=(kubectl)  # kubectl goes into the node itself
else
  ((${#WANT[@]})) || die "--images-only needs the image names to build"
  NAMES=()
  for want in "${WANT[@]}"; do
    found=
    for name in "${!IMAGE_TAGS[@]}"; do
      if [[ " ${IMAGE_TAGS[$name]} " == *" $want "* ]]; then found=$name; fi
    done
    # shellcheck disable=SC2048,SC2086 # IMAGE_TAGS values are space-separated lists of tags
    [[ -n "$found" ]] || die "no image of this build is tagged $want (known: $(printf '%s\n' ${IMAGE_TAGS[*]} | LC_ALL=C sort | paste -sd' '))"
    [[ " ${NAMES[*]} " == *" $found "* ]] || NAMES+=("$found")
  done
  mapfile -t NAMES < <(printf '%s\n' "${NAMES[@]}" | LC_ALL=C sort)  # the key is the set, not the order
  HOST_BINARIES=()
fi
for name in "${NAMES[@]}"; do
  [[ -n "${IMAGE_HOST_BINARY[$name]:-}" ]] && HOST_BINARIES+=("${IMAGE_HOST_BINARY[$name]}")
done
wants() { [[ " ${NAMES[*]} " == *" $1 "* ]]; }
host_binary() { readlink -f "$TOOLS_BIN/$1"; }
for b in "${HOST_BINARIES[@]}"; do
  [[ -x "$(host_binary "$b")" ]] || die "$TOOLS_BIN/$b is missing: run make tools first"
done

inputs_hash() {
  {
    cat "$0" "$TOOLS_DIR/controlplane-versions.env" "$TOOLS_DIR/dataplane-versions.env"
    # Paths relative to tools/, tracked sources only in effect: every clone of the same commit, in
    # any folder and whether or not tests ran there (__pycache__), gets the same key.
    (cd "$TOOLS_DIR" && find kind-node go/kind-node go/kind-probe go/kind-target -type f \
      -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum)
    echo "$MIRROR" "$MODE" "${NAMES[@]}"
    for b in "${HOST_BINARIES[@]}"; do sha256sum "$(host_binary "$b")" | cut -d' ' -f1; done
  } | sha256sum | cut -c1-12
}
bin_hash() {
  {
    cat "$NODE_DIR/versions.env" "$TOOLS_DIR/controlplane-versions.env"
    (cd "$TOOLS_DIR" && find go/kind-node go/kind-probe go/kind-target -type f \
      -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum)
    go version
  } | sha256sum | cut -c1-12
}
rootfs_hash() { printf '%s\n' "$DEBIAN_SUITE" "$MIRROR" "$1" "v1" | sha256sum | cut -c1-12; }

HASH=$(inputs_hash)
if [[ $MODE == images ]]; then
  OUT="$CACHE_ROOT/kind-images-$KUBE_VERSION-$HASH"
  TAG=$OUT  # what this mode prints last: the folder of the archives
  READY="$OUT/images.txt"
else
  OUT="$CACHE_ROOT/kind-node-$KUBE_VERSION-$HASH"
  TAG="tartware.local/kind-node:$KUBE_VERSION-$HASH"
  READY="$OUT/node.tar"
fi
if ((PRINT)); then
  [[ $MODE == images ]] && printf '%s\n' "$OUT" || printf '%s\n%s\n' "$OUT" "$TAG"
  exit 0
fi
if [[ -f "$READY" && ( $MODE == images || -f "$OUT/image" ) ]]; then
  touch "$OUT"  # most recently used: what pruning keeps
  say "cached: $TAG ($(du -sm "$OUT" | cut -f1) MB)"
  printf '%s\n' "$TAG"
  exit 0
fi
[[ $(id -u) == 0 ]] || die "building the node image needs root (debootstrap, chroot, containerd)"
command -v go >/dev/null || die "go not found: the node's Kubernetes binaries are built with Go"

WORK=$(mktemp -d "$CACHE_ROOT/.kind-node-work.XXXXXX")
CTRD_PID=
cleanup() {
  heartbeat_stop
  if [[ -n "$CTRD_PID" ]]; then kill "$CTRD_PID" 2>/dev/null || true; wait "$CTRD_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# After a successful build: older builds leave the cache (KIND_NODE_PRUNE=0 keeps them all).
prune() { [[ ${KIND_NODE_PRUNE:-1} == 0 ]] || "$NODE_DIR/prune.sh" "$CACHE_ROOT" "$OUT" "$BIN"; }

# -- 1. host packages ----------------------------------------------------------------------
step 1 "host packages (debootstrap)"
if ! command -v debootstrap >/dev/null; then
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends debootstrap >/dev/null
fi

# -- 2. Go builds ----------------------------------------------------------------------------
BIN="$CACHE_ROOT/kind-node-bin-$(bin_hash)"
step 2 "Go builds into $BIN"
mkdir -p "$BIN"
touch "$BIN"  # most recently used: what pruning keeps
export CGO_ENABLED=0
gobuild() {  # gobuild <out name> <dir or -> <package[@version]> [extra go flags...]
  local name=$1 dir=$2 pkg=$3 t0=$SECONDS
  shift 3
  if [[ -x "$BIN/$name" ]]; then say "  $name cached"; return; fi
  heartbeat_start "$name (kind node)"
  if [[ "$dir" == - ]]; then
    # module@version outside any module: go run/build needs a module, so use a throwaway one.
    local mod="$WORK/mod-$name"
    mkdir -p "$mod"
    (cd "$mod" && GOFLAGS=-mod=mod GOBIN="$mod/bin" go install -trimpath -ldflags "-s -w" "$@" "$pkg")
    mv -f "$mod/bin/$(basename "${pkg%@*}")" "$BIN/$name"
  else
    (cd "$dir" && go build -mod=readonly -trimpath -ldflags "-s -w ${LDFLAGS:-}" "$@" -o "$BIN/.$name.tmp" "$pkg")
    mv -f "$BIN/.$name.tmp" "$BIN/$name"
  fi
  heartbeat_stop
  say "  $name built in $((SECONDS - t0)) s"
}
kube_major=${KUBE_VERSION#v}; kube_major=${kube_major%%.*}
kube_minor=${KUBE_VERSION#v*.}; kube_minor=${kube_minor%%.*}
LDFLAGS=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X '$pkg.gitVersion=$KUBE_VERSION' -X '$pkg.gitMajor=$kube_major' -X '$pkg.gitMinor=$kube_minor'"
  LDFLAGS+=" -X '$pkg.gitTreeState=clean' -X '$pkg.buildDate=1970-01-01T00:00:00Z'"
done
node=0
[[ $MODE == node ]] && node=1
if ((node)); then
  gobuild kubelet "$TOOLS_DIR/go/kind-node" k8s.io/kubernetes/cmd/kubelet
  gobuild kubeadm "$TOOLS_DIR/go/kind-node" k8s.io/kubernetes/cmd/kubeadm
fi
if wants resource-consumer; then
  gobuild resource-consumer "$TOOLS_DIR/go/kind-node" k8s.io/kubernetes/test/images/resource-consumer
  gobuild consume-cpu "$TOOLS_DIR/go/kind-node" k8s.io/kubernetes/test/images/resource-consumer/consume-cpu
fi
LDFLAGS=""
if wants probe || wants pause; then gobuild twprobe "$TOOLS_DIR/go/kind-probe" .; fi
if wants target; then gobuild twtarget "$TOOLS_DIR/go/kind-target" .; fi
if ((node)); then gobuild crictl - "$CRICTL_MODULE/cmd/crictl@$CRICTL_VERSION"; fi
if wants coredns; then gobuild coredns - "$COREDNS_MODULE@$COREDNS_VERSION"; fi
if ((node)); then
  for c in containerd containerd-shim-runc-v2 ctr; do
    gobuild "$c" - "$CONTAINERD_MODULE/cmd/$c@$CONTAINERD_VERSION" -tags "no_btrfs no_devmapper no_zfs no_aufs no_cri_dockerd"
  done
  "$BIN/kubelet" --version | grep -qF "$KUBE_VERSION" || die "kubelet does not report $KUBE_VERSION"
fi

# -- 3. root filesystems -----------------------------------------------------------------------
step 3 "Debian $DEBIAN_SUITE root filesystems from $MIRROR (debootstrap)"
rootfs() {  # rootfs <packages> <dest dir>: cached as a tar by package list
  local tarball
  tarball="$CACHE_ROOT/kind-node-rootfs-$(rootfs_hash "$1").tar"
  mkdir -p "$2"
  if [[ -f "$tarball" ]]; then
    tar -C "$2" --numeric-owner -xpf "$tarball"
    say "  rootfs cached ($(basename "$tarball"))"
    return
  fi
  local t0=$SECONDS
  heartbeat_start "debootstrap $DEBIAN_SUITE"
  debootstrap --variant=minbase --include="$1" "$DEBIAN_SUITE" "$2" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { heartbeat_stop; tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  heartbeat_stop
  rm -rf "$2"/var/cache/apt/archives/*.deb "$2"/var/lib/apt/lists/*
  tar -C "$2" --numeric-owner -cpf "$tarball.tmp" . && mv -f "$tarball.tmp" "$tarball"
  say "  debootstrap in $((SECONDS - t0)) s ($(du -sm "$2" | cut -f1) MB)"
}
NODE="$WORK/node"
NET="$WORK/net"
if ((node)); then rootfs "$NODE_PACKAGES" "$NODE"; fi
if wants kube-proxy || wants kube-router; then rootfs "$NET_PACKAGES" "$NET"; fi

# Layers: sorted, every mtime 0, numeric owners (the same inputs give the same layer).
TAR_FLAGS=(--numeric-owner --sort=name --mtime=@0 --format=gnu)

# -- 4. images -----------------------------------------------------------------------------------
step 4 "images (single-layer docker-archives): ${NAMES[*]}"
IMAGES="$WORK/images"
mkdir -p "$IMAGES"
mkimage() { "$PYTHON" "$NODE_DIR/mkimage.py" "$@" | sed 's/^/kind-node:   /'; }
stage() {  # stage <name>: an empty staging dir
  rm -rf "$WORK/stage-$1"
  mkdir -p "$WORK/stage-$1"
  printf '%s\n' "$WORK/stage-$1"
}
pack() {  # pack <name> [mkimage args...]: $IMAGES/<name>.tar under every tag of IMAGE_TAGS[name]
  local name=$1 t
  shift
  local tags=()
  for t in ${IMAGE_TAGS[$name]}; do tags+=(--tag "$t"); done
  mkimage --out "$IMAGES/$name.tar" "${tags[@]}" "$@"
}
binary_image() {  # binary_image <name> <binary path> [mkimage args...]
  local name=$1 src=$2 dir
  shift 2
  dir=$(stage "$name")
  mkdir -p "$dir/usr/local/bin" "$dir/tmp"
  chmod 1777 "$dir/tmp"
  install -m 755 "$src" "$dir/usr/local/bin/$(basename "$src")"
  pack "$name" --dir "$dir" "$@"
}
# kube-proxy and kube-router: the small rootfs, iptables through tw-xtables (the node's backend).
net_image() {  # net_image <name> <binary>
  local dir="$WORK/stage-$1" t
  rm -rf "$dir" && cp -a "$NET" "$dir"
  install -m 755 "$2" "$dir/usr/local/bin/$(basename "$2")"
  install -m 755 "$NODE_DIR/files/usr/local/sbin/tw-xtables" "$dir/usr/local/sbin/tw-xtables"
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sfn /usr/local/sbin/tw-xtables "$dir/usr/local/sbin/$t"
  done
  tar -C "$dir" "${TAR_FLAGS[@]}" -cf "$WORK/$1-layer.tar" .
  pack "$1" --layer "$WORK/$1-layer.tar"
  rm -rf "$dir" "$WORK/$1-layer.tar"
}
build_image() {  # build_image <name of IMAGE_TAGS>
  local name=$1 dir
  case $name in
    kube-apiserver | kube-controller-manager | kube-scheduler | etcd) binary_image "$name" "$(host_binary "$name")" ;;
    metrics-server)
      binary_image metrics-server "$(host_binary metrics-server)" --entrypoint '["/usr/local/bin/metrics-server"]' ;;
    coredns)
      dir=$(stage coredns); install -m 755 "$BIN/coredns" "$dir/coredns"
      pack coredns --dir "$dir" --entrypoint '["/coredns"]' ;;
    pause)
      dir=$(stage pause); install -m 755 "$BIN/twprobe" "$dir/pause"
      pack pause --dir "$dir" --entrypoint '["/pause"]' --user 65535 ;;
    probe)
      dir=$(stage probe); install -m 755 "$BIN/twprobe" "$dir/twprobe"
      pack probe --dir "$dir" --entrypoint '["/twprobe"]' --user 10001 ;;
    target)  # the SLO tier's reference target on kind (tools/go/kind-target: target.py's API, --work-us)
      binary_image target "$BIN/twtarget" --entrypoint '["/usr/local/bin/twtarget"]' --user 65532 ;;
    resource-consumer)
      dir=$(stage consumer); mkdir -p "$dir/consume-cpu"
      install -m 755 "$BIN/resource-consumer" "$dir/resource-consumer"
      install -m 755 "$BIN/consume-cpu" "$dir/consume-cpu/consume-cpu"
      pack resource-consumer --dir "$dir" --entrypoint '["/resource-consumer"]' --user 65532 --workdir / ;;
    kube-proxy | kube-router) net_image "$name" "$(host_binary "$name")" ;;
    *) die "no builder for image $name" ;;
  esac
}
for name in "${NAMES[@]}"; do build_image "$name"; done

if [[ $MODE == images ]]; then
  mkdir -p "$OUT.tmp"
  mv "$IMAGES"/*.tar "$OUT.tmp/"
  for name in "${NAMES[@]}"; do printf '%s.tar %s\n' "$name" "${IMAGE_TAGS[$name]% }"; done >"$OUT.tmp/images.txt"
  rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
  say "built ${#NAMES[@]} image archives in $((SECONDS - began)) s ($(du -sm "$OUT" | cut -f1) MB): $OUT"
  prune
  printf '%s\n' "$OUT"
  exit 0
fi

# -- 5. node rootfs ----------------------------------------------------------------------------
step 5 "node assembly"
install -m 755 "$BIN/kubelet" "$BIN/kubeadm" "$BIN/crictl" "$NODE/usr/bin/"
install -m 755 "$(host_binary kubectl)" "$NODE/usr/bin/kubectl"
install -m 755 "$BIN/containerd" "$BIN/containerd-shim-runc-v2" "$BIN/ctr" "$NODE/usr/local/bin/"
cp -a "$NODE_DIR/files/." "$NODE/"
{
  echo "POD_SUBNET=$POD_SUBNET"
  echo "NODE_POD_RANGE=$NODE_POD_RANGE"
  echo "SERVICE_SUBNET=$SERVICE_SUBNET"
} >"$NODE/kind/tartware-node.env"
printf '%s' "$KUBE_VERSION" >"$NODE/kind/version"
mkdir -p "$NODE/etc/kubernetes/manifests" "$NODE/var/lib/kubelet" "$NODE/etc/systemd/system/multi-user.target.wants"
# systemd in a container: nothing but containerd and the kubelet starts.
find "$NODE/lib/systemd/system/sysinit.target.wants/" -name 'systemd-tmpfiles-setup.service' -delete
rm -f "$NODE"/lib/systemd/system/multi-user.target.wants/* "$NODE"/etc/systemd/system/*.wants/* \
  "$NODE"/lib/systemd/system/local-fs.target.wants/* "$NODE"/lib/systemd/system/sockets.target.wants/*udev* \
  "$NODE"/lib/systemd/system/sockets.target.wants/*initctl* "$NODE"/lib/systemd/system/basic.target.wants/*
mkdir -p "$NODE/etc/systemd/system/multi-user.target.wants"
ln -sfn /etc/systemd/system/containerd.service "$NODE/etc/systemd/system/multi-user.target.wants/containerd.service"
ln -sfn /etc/systemd/system/kubelet.service "$NODE/etc/systemd/system/multi-user.target.wants/kubelet.service"
ln -sfn /dev/null "$NODE/etc/systemd/system/systemd-binfmt.service"
echo "ReadKMsg=no" >>"$NODE/etc/systemd/journald.conf"
ln -sfn /usr/lib/systemd/systemd "$NODE/sbin/init"
# Debian's CNI plugins live in /usr/lib/cni (containerd's config points there).
[[ -x "$NODE/usr/lib/cni/bridge" ]] || die "containernetworking-plugins: no /usr/lib/cni/bridge in the rootfs"

# -- 6. pre-import every image into the node's containerd --------------------------------------
step 6 "images into the node's containerd (pinned, not unpacked)"
state="$WORK/ctrd"
mkdir -p "$state" "$NODE/var/lib/containerd"
cat >"$state/config.toml" <<EOF
version = 2
root = "$NODE/var/lib/containerd"
state = "$state/run"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri"]
[grpc]
  address = "$state/containerd.sock"
[ttrpc]
  address = "$state/containerd.sock.ttrpc"
EOF
"$BIN/containerd" --config "$state/config.toml" >"$state/log" 2>&1 &  # (cgroup v1 deprecation warnings there)
CTRD_PID=$!
for _ in $(seq 100); do [[ -S "$state/containerd.sock" ]] && break; sleep 0.1; done
[[ -S "$state/containerd.sock" ]] || { tail -20 "$state/log" >&2; die "containerd for the import did not start"; }
for tarball in "$IMAGES"/*.tar; do
  "$BIN/ctr" -a "$state/containerd.sock" -n k8s.io images import --label io.cri-containerd.pinned=pinned \
    --no-unpack --digests --all-platforms "$tarball" >/dev/null 2>>"$state/import.log"
done
imported=$("$BIN/ctr" -a "$state/containerd.sock" -n k8s.io images ls -q | grep -vc '@sha256:' || true)
kill "$CTRD_PID"; wait "$CTRD_PID" 2>/dev/null || true; CTRD_PID=
"$BIN/ctr" --version >/dev/null
say "  $imported image names imported from $(find "$IMAGES" -name '*.tar' | wc -l) archives"

# -- 7. the node image -------------------------------------------------------------------------
step 7 "node image $TAG"
tar -C "$NODE" "${TAR_FLAGS[@]}" -cf "$WORK/node-layer.tar" .
mkdir -p "$OUT.tmp"
mkimage --out "$OUT.tmp/node.tar" --tag "$TAG" --layer "$WORK/node-layer.tar" \
  --entrypoint '["/usr/local/bin/tw-node-init", "/sbin/init"]' --env container=docker --stop-signal 'SIGRTMIN+3'
printf '%s\n' "$TAG" >"$OUT.tmp/image"
find "$IMAGES" -name '*.tar' -printf '%f\n' | sort >"$OUT.tmp/images.txt"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
say "built $TAG in $((SECONDS - began)) s ($(du -m "$OUT/node.tar" | cut -f1) MB): $OUT/node.tar"
prune
printf '%s\n' "$TAG"
