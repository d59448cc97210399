"""Static-tier benchmark: kubeconform alone vs the whole static tier, side by side in one run.

    make bench            (or: python benchmarks/static_tier.py --objects 10000)

Generates a realistic corpus (~30 % Deployments plus Services, HPAs, PDBs,
ConfigMaps, NetworkPolicies, ServiceMonitors), then times in the same run:
  A. kubeconform -strict on the YAML files (the floor: schema check only)
  B. the static tier: load + inventory, kubeconform on the objects, every rule
and prints both and the ratio B/A (goal <= 1.5). Then times `make static` on
the platform, warm (goal <= 3 s). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from conformance import tools  # noqa: E402
from conformance.policy import load_policy  # noqa: E402
from conformance.schema.kubeconform import SchemaLocations  # noqa: E402
from conformance.settings import Settings  # noqa: E402
from conformance.static import check_targets  # noqa: E402

SERVICE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}
  namespace: team-{ns}
  labels: {{app.kubernetes.io/name: svc-{i}, app.kubernetes.io/part-of: bench, app.kubernetes.io/managed-by: Helm}}
spec:
  selector:
    matchLabels: {{app.kubernetes.io/name: svc-{i}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: svc-{i}, app.kubernetes.io/part-of: bench, app.kubernetes.io/managed-by: Helm}}
    spec:
      automountServiceAccountToken: false
      securityContext: {{runAsNonRoot: true, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
        - name: app
          image: registry.local/bench/svc-{i}:1.{i}.0
          ports: [{{name: http, containerPort: 8080}}, {{name: metrics, containerPort: 9090}}]
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: 500m, memory: 256Mi}}
          readinessProbe: {{httpGet: {{path: /readyz, port: http}}}}
          livenessProbe: {{httpGet: {{path: /healthz, port: http}}}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {{drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata: {{name: svc-{i}, namespace: team-{ns}, labels: {{app.kubernetes.io/name: svc-{i}}}}}
spec:
  selector: {{app.kubernetes.io/name: svc-{i}}}
  ports: [{{name: http, port: 80, targetPort: http}}, {{name: metrics, port: 9090, targetPort: metrics}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: svc-{i}, namespace: team-{ns}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: svc-{i}}}
  minReplicas: 2
  maxReplicas: 10
  metrics: [{{type: Resource, resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 70}}}}}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: svc-{i}, namespace: team-{ns}}}
spec:
  minAvailable: 1
  selector: {{matchLabels: {{app.kubernetes.io/name: svc-{i}}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: svc-{i}-config, namespace: team-{ns}}}
data: {{LOG_LEVEL: info, FEATURE_FLAGS: "a,b,c", TIMEOUT_MS: "2500"}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: svc-{i}, namespace: team-{ns}}}
spec:
  podSelector: {{matchLabels: {{app.kubernetes.io/name: svc-{i}}}}}
  policyTypes: [Ingress, Egress]
  ingress: [{{ports: [{{port: 8080}}]}}]
  egress: [{{ports: [{{port: 53, protocol: UDP}}]}}]
"""
DOCS_PER_SERVICE = 6
# ServiceMonitors every few services keep the Deployment share near 30 %.
MONITOR = """\
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {{name: svc-{i}, namespace: team-{ns}}}
spec:
  selector: {{matchLabels: {{app.kubernetes.io/name: svc-{i}}}}}
  endpoints: [{{port: metrics, interval: 15s}}]
"""


def make_corpus(folder: Path, objects: int, files: int = 100) -> int:
    services = objects // (DOCS_PER_SERVICE + 1)
    per_file = max(1, services // files)
    count = 0
    for f in range(0, services, per_file):
        docs = []
        for i in range(f, min(f + per_file, services)):
            docs.append(SERVICE.format(i=i, ns=i % 20) + MONITOR.format(i=i, ns=i % 20))
            count += DOCS_PER_SERVICE + 1
        (folder / f"bench-{f:05d}.yaml").write_text("---\n".join(docs))
    return count


def best_of(runs: int, fn: Callable[[], object]) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-make", action="store_true", help="do not time `make static`")
    args = parser.parse_args()
    settings = Settings.from_env()
    locations = SchemaLocations.from_settings(settings)
    policy = load_policy(settings.policy)
    kubeconform = str(tools.find("kubeconform"))
    with tempfile.TemporaryDirectory(prefix="bench-static-") as tmp:
        corpus = Path(tmp)
        count = make_corpus(corpus, args.objects)
        workers = str(max(1, os.cpu_count() or 1))

        def kubeconform_alone() -> None:
            subprocess.run(
                [
                    kubeconform,
                    "-strict",
                    "-ignore-missing-schemas",
                    "-summary",
                    "-n",
                    workers,
                    *locations.args(),
                    str(corpus),
                ],
                check=True,
                capture_output=True,
            )

        bench_settings = dataclasses.replace(settings, manifests=corpus)

        def static_tier() -> None:
            (target,), _ = check_targets(bench_settings, ("prod",), "default", policy, locations)
            loaded = [o for o in target.inventory.objects if not o.provided]
            assert len(loaded) == count, (len(loaded), target.inventory.problems[:3])
            assert len(target.schema) == count

        print(
            f"corpus: {count} objects in {len(list(corpus.iterdir()))} files; {args.runs} runs each, best of"
        )
        a, a_all = best_of(args.runs, kubeconform_alone)
        b, b_all = best_of(args.runs, static_tier)
        print(f"A kubeconform alone      {a:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in a_all)})")
        print(f"B whole static tier      {b:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in b_all)})")
        print(f"ratio B/A                {b / a:6.2f}   (goal <= 1.5)")
    if args.skip_make:
        return 0
    make_times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(
            ["make", "-s", "static", "ARGS=-q -p no:randomly"], cwd=REPO, capture_output=True, check=False
        )
        make_times.append(time.perf_counter() - start)
    print(
        f"make static (platform)   {min(make_times):6.2f} s  warm, median {statistics.median(make_times):.2f} s "
        "(goal <= 3 s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
