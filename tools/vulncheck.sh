#!/usr/bin/env bash
# govulncheck on the data plane's builds (kube-router, kube-proxy), symbol-level (source mode).
#
#   tools/vulncheck.sh [kube-router|kube-proxy]   # make vulncheck; reports in build/vulncheck/<wrapper>.txt
#   GOVULNDB=https://vuln.go.dev tools/vulncheck.sh    # the official database, where reachable
#
# Without GOVULNDB the database is indexed locally from the pinned golang.org/x/vulndb module
# (its OSV files, by its own cmd/indexdb): this machine cannot reach vuln.go.dev. The index is
# cached as <cache>/govulndb-<vulndb version>. Not part of `make tools` or any test: it needs
# the module proxy, and its findings are read by people (docs/dataplane.md explains them).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WRAP="$REPO_ROOT/tools/go/govulncheck"
CACHE_ROOT=${TARTWARE_TOOLS_CACHE:-$HOME/.cache/tartware-conformance}
OUT="$REPO_ROOT/build/vulncheck"
export CGO_ENABLED=0
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf 'vulncheck: %s\n' "$*"; }
total=$(now)
mkdir -p "$OUT"

version() { (cd "$WRAP" && go list -mod=readonly -m -f '{{.Version}}' "$1"); }
vuln_version=$(version golang.org/x/vuln)
db_version=$(version golang.org/x/vulndb)
bin="$CACHE_ROOT/govulncheck-$vuln_version"
mkdir -p "$bin"
step=$(now)
for cmd in golang.org/x/vuln/cmd/govulncheck golang.org/x/vulndb/cmd/indexdb; do
  name=${cmd##*/}
  [[ -x "$bin/$name" ]] || (cd "$WRAP" && go build -mod=readonly -trimpath -o "$bin/$name.tmp.$$" "$cmd" && mv -f "$bin/$name.tmp.$$" "$bin/$name")
done
say "govulncheck $vuln_version ready in $(since "$step")s"

db=${GOVULNDB:-}
if [[ -z "$db" ]]; then
  step=$(now)
  index="$CACHE_ROOT/govulndb-$db_version"
  if [[ ! -f "$index/index/db.json" ]]; then
    src=$(cd "$WRAP" && go mod download -json golang.org/x/vulndb | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    rm -rf "$index.tmp.$$" && "$bin/indexdb" -vulns "$src/data/osv" -out "$index.tmp.$$" && mv "$index.tmp.$$" "$index"
  fi
  db="file://$index"
  say "database golang.org/x/vulndb $db_version indexed in $(since "$step")s"
fi

status=0
for entry in kube-router:github.com/cloudnativelabs/kube-router/v2/cmd/kube-router kube-proxy:k8s.io/kubernetes/cmd/kube-proxy; do
  wrapper=${entry%%:*} pkg=${entry#*:}
  if [[ $# -gt 0 && " $* " != *" $wrapper "* ]]; then continue; fi
  step=$(now)
  report="$OUT/$wrapper.txt"
  (cd "$REPO_ROOT/tools/go/$wrapper" && "$bin/govulncheck" -db "$db" "$pkg") >"$report" 2>&1 || status=$?
  summary=$(grep -E '^Your code is affected|^No vulnerabilities found' "$report" || tail -n 1 "$report")
  say "$wrapper: $summary ($(since "$step")s; $report)"
  awk '/^Vulnerability #/ {id=$3} /^ +Found in:/ {found=$3} /^ +Fixed in:/ {printf "  %-14s %-58s fixed in %s\n", id, found, $3}' "$report"
done
say "done in $(since "$total")s"
# govulncheck exits 3 when it finds something: the findings are for reading, not a gate here.
[[ $status == 0 || $status == 3 ]]
