#!/usr/bin/env bash
# Produce the data the schema check needs beyond the Kubernetes core schemas, from pinned
# Go modules used as Go code, cached outside the repo and linked into .tools/:
#
#   CRDs        tools/go/crds/<source>/ (go.mod + go.sum + generate.env): controller-gen
#               (tools/go/controller-gen) over the operator's API types, a small program
#               using the source's Go API, or the CRD files upstream ships in the pinned
#               module's zip (module-files). Converted to kubeconform JSON schemas by
#               conformance/schema/crds.py.
#               -> <cache>/crds/<source>-<version>/{crds/*.json,schemas/,source.json}
#               -> .tools/schemas/crds/<source>
#   API table   tools/go/api-lifecycle: which built-in APIs are deprecated/removed when,
#               built once per k8s.io/api version (go.mod, go.k8s-*.mod).
#               -> <cache>/api-lifecycle/k8s.io-api-<version>.json -> .tools/schemas/api-lifecycle/
#
# Each output carries a stamp (hash of its inputs: go.mod, go.sum, generate.env, the
# generator and the converter), so a changed pin regenerates instead of reusing.
# Environment: TARTWARE_TOOLS_CACHE (cache root), TOOLS_BIN (default <repo>/.tools/bin),
# SCHEMAS_DIR (default <repo>/.tools/schemas, the suite's --schemas),
# PYTHON (default <repo>/.venv/bin/python), FORCE_REBUILD=1.
# Empty cache on 2 cores: ~1.5 min controller-gen, ~40 s for all CRDs (~75 MB of module zips
# for the module-files sources and Flux alone), ~4 min for the
# API tables (k8s.io/api compiles slowly); fully cached: ~1 s.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${TARTWARE_TOOLS_CACHE:-$HOME/.cache/tartware-conformance}
BIN=${TOOLS_BIN:-$REPO/.tools/bin}
SCHEMAS=${SCHEMAS_DIR:-$REPO/.tools/schemas}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
FORCE_REBUILD=${FORCE_REBUILD:-0}
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

command -v go >/dev/null || { echo "build-crds: 'go' is not on PATH: install Go 1.26" >&2; exit 2; }

TMP_DIRS=()
cleanup() { local d; for d in "${TMP_DIRS[@]+"${TMP_DIRS[@]}"}"; do rm -rf -- "$d"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf 'tools: %s\n' "$*"; }
# shellcheck source=progress.sh
. "$REPO/tools/progress.sh"
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
fresh() { [[ "$FORCE_REBUILD" != 1 && -f "$1" && "$(cat "$1")" == "$2" ]]; }
# new_work <parent>: a fresh build folder in $work (removed on exit unless moved into place).
new_work() { work=$(mktemp -d "$1/.build.XXXXXX"); chmod 755 "$work"; TMP_DIRS+=("$work"); }
version_of() { (cd "$1" && go list -m -f '{{.Version}}' "${@:3}" "$2"); }

total=$(now)
mkdir -p "$CACHE/crds" "$CACHE/api-lifecycle" "$SCHEMAS/crds" "$SCHEMAS/api-lifecycle" "$BIN"

# --- controller-gen ---------------------------------------------------------------
cg_dir="$REPO/tools/go/controller-gen"
cg_version=$(version_of "$cg_dir" sigs.k8s.io/controller-tools)
cg="$CACHE/controller-gen-$cg_version/controller-gen"
cg_stamp=$(stamp_of "$cg_dir/go.mod" "$cg_dir/go.sum")
if ! fresh "$cg.stamp" "$cg_stamp" || [[ ! -x "$cg" ]]; then
  start=$(now)
  say "building controller-gen $cg_version ..."
  mkdir -p "$(dirname "$cg")"
  with_heartbeat "controller-gen $cg_version" env -C "$cg_dir" go build -trimpath -ldflags "-s -w" \
    -o "$cg.tmp.$$" sigs.k8s.io/controller-tools/cmd/controller-gen
  mv -f "$cg.tmp.$$" "$cg" && echo "$cg_stamp" >"$cg.stamp"
  say "built controller-gen in $(elapsed "$start")s"
fi
link_tool "$cg" "$BIN/controller-gen"

# --- CRDs, one source at a time ---------------------------------------------------
# generate <source dir> <out dir>: the source's CRDs as YAML files in <out dir>.
generate() {
  local dir=$1 out=$2 log rc=0
  (
    # shellcheck source=/dev/null
    . "$dir/generate.env"
    cd "$dir"
    if [[ "$GENERATOR" == program ]]; then
      go build -trimpath -o "$out/.program" . && "$out/.program" >"$out/crds.yaml" && rm -f "$out/.program"
      exit
    fi
    if [[ "$GENERATOR" == module-files ]]; then
      # Only the module's zip (checked against go.sum), nothing built; each glob must match.
      local moddir pattern files patterns
      go mod download "$SOURCE_MODULE"
      moddir=$(go list -m -f '{{.Dir}}' "$SOURCE_MODULE")
      read -ra patterns <<<"$CRD_FILES"
      for pattern in "${patterns[@]}"; do
        files=$(compgen -G "$moddir/$pattern") || {
          echo "build-crds: $dir/generate.env: CRD_FILES '$pattern' matches nothing in $SOURCE_MODULE" >&2
          exit 1
        }
        while read -r f; do cp -- "$f" "$out/$(basename "$f")"; done <<<"$files"
      done
      exit
    fi
    read -ra paths <<<"$CRD_PATHS"
    log=$("$cg" "$CRD_OPTIONS" "${paths[@]/#/paths=}" "output:crd:dir=$out" 2>&1) || rc=$?
    if [[ $rc != 0 ]]; then
      # Only the errors upstream's own generation ignores are tolerated (generate.env).
      local rest
      rest=$(printf '%s\n' "$log" | grep -v -e 'not all generators ran successfully' -e '^run `controller-gen' \
        ${ALLOWED_ERRORS:+-e "$ALLOWED_ERRORS"} || true)
      if [[ -n "$rest" || -z "${ALLOWED_ERRORS:-}" ]]; then
        printf 'build-crds: controller-gen failed in %s:\n%s\n' "$dir" "$log" >&2
        exit 1
      fi
    fi
  )
}

sources=0 kinds=0
for dir in "$REPO"/tools/go/crds/*/; do
  dir=${dir%/}
  name=$(basename "$dir")
  module=$(. "$dir/generate.env"; echo "$SOURCE_MODULE")
  generator=$(
    . "$dir/generate.env"
    case $GENERATOR in
      program) echo "go program tools/go/crds/$name" ;;
      module-files) echo "upstream's files $CRD_FILES" ;;
      *) echo "controller-gen $cg_version" ;;
    esac
  )
  version=$(version_of "$dir" "$module")
  dest="$CACHE/crds/$name-$version"
  go_files=$(compgen -G "$dir/*.go" || true) # none for module-files sources
  # shellcheck disable=SC2086 # go_files: one path per word (no spaces in the repo's paths)
  stamp=$(stamp_of "$dir"/go.mod "$dir"/go.sum "$dir"/generate.env $go_files "$REPO/conformance/schema/crds.py" <(echo "$generator"))
  if fresh "$dest/.stamp" "$stamp"; then
    say "CRDs $name $version cached"
  else
    start=$(now)
    new_work "$CACHE/crds"
    mkdir -p "$work/yaml"
    generate "$dir" "$work/yaml"
    "$PYTHON" -m conformance.schema.crds --out "$work/schemas" --crds-out "$work/crds" "$work"/yaml/*.yaml
    rm -rf "$work/yaml"
    printf '{"module": "%s", "version": "%s", "generator": "%s"}\n' "$module" "$version" "$generator" >"$work/source.json"
    echo "$stamp" >"$work/.stamp"
    rm -rf "$dest" && mv "$work" "$dest"
    say "CRDs $name $version generated in $(elapsed "$start")s"
  fi
  link_tool "$dest" "$SCHEMAS/crds/$name"
  sources=$((sources + 1))
  kinds=$((kinds + $(find "$dest/crds" -name '*.json' | wc -l)))
done
# Links of sources no longer listed would keep serving stale schemas.
for link in "$SCHEMAS"/crds/*; do
  [[ -d "$REPO/tools/go/crds/$(basename "$link")" ]] || rm -f "$link"
done

# --- API lifecycle tables ---------------------------------------------------------
lc_dir="$REPO/tools/go/api-lifecycle"
rm -f "$SCHEMAS"/api-lifecycle/*.json
for modfile in "$lc_dir"/go.mod "$lc_dir"/go.k8s-*.mod; do
  api_version=$(version_of "$lc_dir" k8s.io/api "-modfile=$modfile")
  stamp=$(stamp_of "$lc_dir/main.go" "$modfile" "${modfile%.mod}.sum")
  # Keyed by content too: two checkouts whose generator differs (a branch) each keep their table
  # instead of rebuilding the other's away on every switch.
  table="$CACHE/api-lifecycle/k8s.io-api-$api_version-${stamp:0:12}.json"
  if fresh "$table.stamp" "$stamp"; then
    say "API lifecycle k8s.io/api $api_version cached"
  else
    start=$(now)
    say "building the API lifecycle table from k8s.io/api $api_version ..."
    new_work "$CACHE/api-lifecycle"
    with_heartbeat "the API lifecycle table (k8s.io/api $api_version)" \
      env -C "$lc_dir" go build -modfile="$modfile" -trimpath -o "$work/api-lifecycle" .
    "$work/api-lifecycle" >"$work/table.json"
    mv -f "$work/table.json" "$table" && echo "$stamp" >"$table.stamp"
    say "API lifecycle k8s.io/api $api_version built in $(elapsed "$start")s"
  fi
  link_tool "$table" "$SCHEMAS/api-lifecycle/k8s.io-api-$api_version.json"
done

say "CRDs: $kinds from $sources sources in $SCHEMAS/crds; API tables in $SCHEMAS/api-lifecycle ($(elapsed "$total")s)"
