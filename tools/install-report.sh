#!/usr/bin/env bash
# Installs the pinned Allure report CLI (npm `allure`, Allure 3, exact version and
# integrity hashes in package.json / package-lock.json) and links it into
# .tools/bin/allure; links the SARIF 2.1.0 schema of the same install into
# .tools/sarif-schema-2.1.0.json. Called by `make report` (and `make test`, whose self-test
# renders a report); not by `make tools`, so the main path stays lean.
#
# The install lives in a cache outside the repo keyed by version and lock hash
# (~/.cache/tartware-conformance/allure-<version>-<lock>), so a second checkout
# on the same machine only links it; an empty cache still works (npm ci, ~10 s).
#
# With CI=true, running as root with apt-get present, it also installs Debian's
# chromium if missing, so the browser self-test (tests/test_report_chromium.py)
# runs on the .ci/run path instead of skipping.
#
#   tools/install-report.sh             # idempotent
#   TARTWARE_TOOLS_CACHE=/x ...         # another cache location
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${TARTWARE_TOOLS_CACHE:-$HOME/.cache/tartware-conformance}
bin=${TOOLS_BIN:-$repo/.tools/bin}
mkdir -p "$cache" "$bin"

say() { printf 'report-tools: %s\n' "$*"; }
die() { printf 'report-tools: %s\n' "$*" >&2; exit 2; }

version=$(sed -n 's/.*"allure": *"\([^"]*\)".*/\1/p' "$repo/package.json" | head -n 1)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "package.json must pin allure to an exact version (found '${version:-nothing}')"
lock=$(sha256sum "$repo/package-lock.json" | cut -c1-12)
dir="$cache/allure-$version-$lock"

if [ ! -x "$dir/node_modules/.bin/allure" ]; then
  command -v npm >/dev/null || die "'npm' is not on PATH: install Node.js 20 (with npm) to install the Allure CLI $version"
  say "installing allure $version (npm ci, hashes from package-lock.json) into $dir"
  start=$(date +%s)
  # Install into a temp dir and move into place: an interrupted install never
  # leaves a half-filled cache entry that later runs would trust.
  tmp=$(mktemp -d "$cache/.build-allure.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  cp "$repo/package.json" "$repo/package-lock.json" "$tmp/"
  (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  rm -rf "$dir" && mv "$tmp" "$dir"
  trap - EXIT
  say "installed allure $version in $(( $(date +%s) - start ))s"
fi
ln -sfn "$dir/node_modules/.bin/allure" "$bin/allure"
# The SARIF 2.1.0 JSON schema (as the pinned @microsoft/jest-sarif ships it) for the SARIF self-test.
schema="$dir/node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json"
[ -f "$schema" ] || die "$schema missing: remove $dir and rerun"
ln -sfn "$schema" "$repo/.tools/sarif-schema-2.1.0.json"

have=$("$bin/allure" --version 2>/dev/null | tr -d '[:space:]')
[ "$have" = "$version" ] || die "$bin/allure reports '${have:-nothing}', expected $version: remove $dir and rerun"

# A browser for the report self-test, on CI only: developers choose their own.
if ! command -v chromium >/dev/null; then
  if [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "CI: installing Debian chromium for the report self-test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    say "chromium not installed: tests/test_report_chromium.py will skip (apt-get install -y chromium)"
  fi
fi
say "allure $version ready in $bin"
