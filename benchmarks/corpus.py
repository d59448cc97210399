"""A corpus nobody tuned for: N apps, each a Deployment, Service, HPA, PDB and ConfigMap.

    python benchmarks/corpus.py /tmp/corpus --objects 10000     # 2,000 apps, 20 namespaces, 200 files

The shape of an ordinary multi-team repo: plain YAML, apps spread over 20 namespaces and
200 files, written the way people write them (block style, some labels, probes, limits).
Nothing here is shaped to suit a rule; the baseline policy has findings on it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: team-{ns}
  labels:
    app.kubernetes.io/name: app-{i}
    app.kubernetes.io/part-of: team-{ns}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{i}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-{i}
        app.kubernetes.io/part-of: team-{ns}
    spec:
      containers:
        - name: app
          image: registry.example.com/team-{ns}/app-{i}:1.{i}.0
          ports:
            - name: http
              containerPort: 8080
          envFrom:
            - configMapRef:
                name: app-{i}-config
          resources:
            requests:
              cpu: 100m
              memory: 128Mi
            limits:
              memory: 256Mi
          readinessProbe:
            httpGet:
              path: /ready
              port: http
          livenessProbe:
            httpGet:
              path: /live
              port: http
          securityContext:
            allowPrivilegeEscalation: false
            runAsNonRoot: true
---
apiVersion: v1
kind: Service
metadata:
  name: app-{i}
  namespace: team-{ns}
  labels:
    app.kubernetes.io/name: app-{i}
spec:
  selector:
    app.kubernetes.io/name: app-{i}
  ports:
    - name: http
      port: 80
      targetPort: http
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: app-{i}
  namespace: team-{ns}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: app-{i}
  minReplicas: 2
  maxReplicas: 6
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: 75
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: app-{i}
  namespace: team-{ns}
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{i}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{i}-config
  namespace: team-{ns}
data:
  LOG_LEVEL: info
  TIMEOUT_MS: "2500"
  UPSTREAM: http://app-{up}.team-{up_ns}.svc:80
"""
OBJECTS_PER_APP = 5
NAMESPACES = 20


def make_corpus(folder: Path, objects: int, files: int = 200) -> int:
    """Write `objects` objects (rounded down to whole apps) into `files` files; the object count."""
    apps = max(1, objects // OBJECTS_PER_APP)
    files = max(1, min(files, apps))
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        docs = [
            APP.format(i=i, ns=i % NAMESPACES, up=(i + 1) % apps, up_ns=(i + 1) % apps % NAMESPACES)
            for i in range(f, apps, files)
        ]
        (folder / f"team-apps-{f:04d}.yaml").write_text("---\n".join(docs))
    return apps * OBJECTS_PER_APP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    print(f"{make_corpus(args.folder, args.objects, args.files)} objects in {args.folder}")


if __name__ == "__main__":
    main()
