#!/usr/bin/env bash
# Prune the tool cache's older kind builds (tools/build-kind-node.sh runs it after a successful build).
#
#   tools/kind-node/prune.sh CACHE_ROOT [IN_USE_DIR...]
#
# Per group, the newest KIND_NODE_KEEP (default 2) builds stay, by mtime: the build touches what it
# uses, so "newest" means "most recently used". Never pruned: a folder named on the command line
# (the build in use), a node build whose image a running container uses (another checkout's
# cluster), and half-written builds (*.tmp, .kind-node-work.*: the patterns below skip them).
#   kind-node-v*-<hash>     node images (~1.6 GB each)
#   kind-node-bin-<hash>    their Go builds (~330 MB each)
#   kind-images-v*-<hash>   images-only archives (upstream node image path)
# One line per pruned build, with its size.
set -euo pipefail

cache=${1:?usage: prune.sh CACHE_ROOT [IN_USE_DIR...]}
shift
keep=${KIND_NODE_KEEP:-2}
[[ "$keep" =~ ^[1-9][0-9]*$ ]] || { echo "kind-node: error: KIND_NODE_KEEP=$keep: a whole number >= 1" >&2; exit 2; }
declare -A in_use=()
for dir in "$@"; do in_use[$(readlink -f "$dir")]=1; done
# Images of running containers (a cluster started from another checkout's build); none without an engine.
running=$(timeout 20 docker ps --format '{{.Image}}' 2>/dev/null || true)

used() {  # used <dir>: named on the command line, or its node image runs in a container
  [[ -n "${in_use[$(readlink -f "$1")]:-}" ]] && return 0
  [[ -f "$1/image" && -n "$running" ]] && grep -qxF "$(cat "$1/image")" <<<"$running"
}

prune_group() {  # prune_group <glob>
  local kept=0 dir
  while IFS= read -r dir; do
    if used "$dir" || ((kept < keep)); then
      kept=$((kept + 1))
      continue
    fi
    local mb
    mb=$(du -sm "$dir" | cut -f1)
    rm -rf "$dir"
    printf 'kind-node: pruned %s (%s MB)\n' "$dir" "$mb"
  done < <(find "$cache" -mindepth 1 -maxdepth 1 -type d -name "$1" -not -name '*.tmp' -printf '%T@ %p\n' \
    | sort -rn | cut -d' ' -f2-)
}

[[ -d "$cache" ]] || exit 0
prune_group 'kind-node-v*'
prune_group 'kind-node-bin-*'
prune_group 'kind-images-v*'
