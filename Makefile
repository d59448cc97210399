# Tartware platform conformance suite.
#   make conformance   static + behaviour + SLO tiers on the platform (main job)
#   make test          the suite's own tests, lint and types
# Every target bootstraps what it needs (virtualenv, pinned packages, tools)
# and skips what is already there.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUILD := build
RESULTS := $(BUILD)/allure-results
PYTEST := $(PY) -m pytest
# The tiers do not use hypothesis; its plugin alone costs ~0.6 s of start-up.
# -p conformance.plugin: the suite's options are known before pytest looks for conftest.py
# files, so `--manifests ../their-repo` is never taken for a test path (their conftest.py
# would be imported). Running a tier without make: use --manifests=PATH or the env var.
TIER_PYTEST := $(PYTEST) -p no:hypothesispytest -p conformance.plugin
# Extra pytest arguments, e.g. make static ARGS="--manifests ../my-repo -n 2"
ARGS ?=

export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/$(VENV)/bin:$(PATH)
# The suite runs from the checkout (no install step): conftest.py loads the plugin.
export PYTHONPATH := $(CURDIR)

.PHONY: help venv tools doctor vulncheck static static-versions behaviour slo conformance test lint catalogue bench lock clean report report-tools

help:
	@echo "make conformance  all tiers on the platform (static, behaviour, SLO)"
	@echo "make test         the suite's own tests + lint"
	@echo "make static | behaviour | slo   one tier; ARGS='...' passes pytest options"
	@echo "make static-versions   the static tier for each of K8S_VERSIONS (default 1.35 1.36 1.37)"
	@echo "make report       one Allure HTML report of every tier's results (build/allure-report/index.html)"
	@echo "make tools | doctor | vulncheck | lint | catalogue | bench | clean"

$(STAMP): requirements/requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes -r requirements/requirements.lock
	touch $@

venv: $(STAMP)

tools: venv
	tools/install.sh

doctor: tools
	$(PY) -m conformance doctor

# govulncheck on the data plane's builds (kube-router, kube-proxy); see docs/dataplane.md.
vulncheck: tools
	tools/vulncheck.sh

# The static tier's tools only, quietly (nothing printed when all is cached). Exit status of the tier
# (`python -m conformance static`): 0 clean, 1 findings, 2 or more could not judge (README, "The
# static tier as a CI gate"). GNU make itself exits 2 for any failing recipe, so the tier's own
# status is written to build/static.rc (and shown in make's "Error N" line).
static: venv
	@TOOLS_TIER=static tools/install.sh
	@mkdir -p $(BUILD); rc=0; $(PY) -m conformance static --junitxml=$(BUILD)/junit/static.xml --alluredir=$(RESULTS) --sarif=$(BUILD)/static.sarif $(ARGS) || rc=$$?; echo $$rc >$(BUILD)/static.rc; exit $$rc

# The static tier once per target Kubernetes version (removed APIs fail, deprecated ones warn).
K8S_VERSIONS ?= 1.35 1.36 1.37
static-versions: tools
	@for v in $(K8S_VERSIONS); do echo "== static tier, Kubernetes $$v"; \
	  $(TIER_PYTEST) conformance/suites/static --k8s-version $$v --junitxml=$(BUILD)/junit/static-$$v.xml --alluredir=$(RESULTS) $(ARGS) || rc=1; \
	done; exit $${rc:-0}

behaviour: tools
	$(TIER_PYTEST) conformance/suites/behaviour --junitxml=$(BUILD)/junit/behaviour.xml --alluredir=$(RESULTS) $(ARGS)

slo: tools
	$(TIER_PYTEST) conformance/suites/slo --junitxml=$(BUILD)/junit/slo.xml --alluredir=$(RESULTS) $(ARGS) -n 0

conformance: tools
	rm -rf $(RESULTS)
	$(MAKE) --no-print-directory -k static behaviour slo

# actionlint (pinned, built once into the tool cache) checks the shipped GitHub workflow; its optional
# shellcheck/pyflakes passes are off, so the verdict never depends on what else the machine has.
lint: venv
	tools/install.sh actionlint
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	.tools/bin/actionlint -color=false -shellcheck= -pyflakes= .github/workflows/*.yml

# report-tools: the self-tests render a report and open it in Chromium.
test: tools report-tools lint
	$(PYTEST) tests --junitxml=$(BUILD)/junit/self-tests.xml $(ARGS)

# docs/rules.md and README.md's generated blocks (option table, rule count), from the code.
catalogue: venv
	$(PY) -m conformance catalogue > docs/rules.md
	$(PY) -c 'from conformance import readme; readme.write()'

bench: tools
	$(PY) benchmarks/static_tier.py
	$(PY) benchmarks/slo_target_capacity.py

# Regenerate the hash-pinned lock after editing requirements/requirements.in.
lock:
	$(PY) -m pip install -q pip-tools && cd requirements && ../$(PY) -m piptools compile --generate-hashes --allow-unsafe --strip-extras -q -o requirements.lock requirements.in

clean:
	rm -rf $(BUILD) .tools $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# --- report ------------------------------------------------------------------
# One HTML report (single index.html, opens from file://) of whatever tiers left
# results in build/allure-results. The Allure CLI (npm `allure`, pinned with
# hashes in package-lock.json) is installed by tools/install-report.sh into a
# cache outside the repo; `make test` needs it too, for the browser self-test.
REPORT := $(BUILD)/allure-report
# Results of several CI jobs (one folder each) merged first: make report REPORT_PARTS="a b"
REPORT_PARTS ?=

report-tools:
	tools/install-report.sh

report: venv report-tools
	$(if $(strip $(REPORT_PARTS)),$(PY) -m conformance.report merge --results $(RESULTS) $(REPORT_PARTS))
	$(PY) -m conformance.report prepare --results $(RESULTS) --report $(REPORT)
	$(PY) -m conformance.report generate --results $(RESULTS) --report $(REPORT)

# --- kind provider: container engine and offline node image ------------------------------
# make docker        a container engine behind the network guard (no-op when `docker info` answers);
#                    installs Debian's docker.io as root. make docker-stop undoes exactly that.
# make kind-node     the offline kind node image (cached by content; the kind provider builds it too).
.PHONY: docker docker-stop kind-node
docker:
	tools/docker.sh start

docker-stop:
	tools/docker.sh stop

kind-node: tools
	tools/build-kind-node.sh
