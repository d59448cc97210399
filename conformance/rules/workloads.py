"""Rules on workload pod specs: images, resources, probes, labels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..inventory.model import K8sObject
from .k8s import LONG_RUNNING, WORKLOADS, as_dict, containers, pod_template, quantity
from .registry import Context, Severity, Violation, object_rule


@object_rule(
    "image-pinned",
    family="workloads",
    severity=Severity.CRITICAL,
    kinds=WORKLOADS,
    description="Every container image names an explicit tag (not `latest`) or a digest.",
    remediation="Pin the image to a release tag such as `:1.4.2` or a digest `@sha256:...`.",
)
def image_pinned(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for container, path in containers(obj):
        image = container.get("image")
        if not isinstance(image, str) or not image:
            yield Violation(obj, f"{path}.image", image, "a pinned image", "container has no image")
            continue
        if "@sha256:" in image:
            continue
        last = image.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else None
        if tag is None or tag == "latest":
            yield Violation(
                obj,
                f"{path}.image",
                image,
                "an explicit tag other than `latest`, or a digest",
                f"image {image!r} is not pinned",
            )


@object_rule(
    "resources-set",
    family="workloads",
    severity=Severity.CRITICAL,
    kinds=WORKLOADS,
    description="Every container sets CPU and memory requests and limits.",
    remediation="Set resources.requests and resources.limits for cpu and memory on every container.",
)
def resources_set(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for container, path in containers(obj):
        resources = as_dict(container.get("resources"))
        for section in ("requests", "limits"):
            values = as_dict(resources.get(section))
            missing = [r for r in ("cpu", "memory") if r not in values]
            if missing:
                yield Violation(
                    obj,
                    f"{path}.resources.{section}",
                    values or None,
                    "cpu and memory",
                    f"container has no {section} for {' and '.join(missing)}",
                )


_HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")


@object_rule(
    "probes-set",
    family="workloads",
    severity=Severity.NORMAL,
    kinds=LONG_RUNNING,
    description="Every (non-init) container of a long-running workload has a liveness and a readiness "
    "probe, each with a handler (httpGet, tcpSocket, exec or grpc).",
    remediation="Add livenessProbe and readinessProbe to every container, e.g. httpGet on the `http` port "
    "(/healthz/live and /healthz/ready).",
)
def probes_set(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for container, path in containers(obj, include_init=False):
        for probe in ("livenessProbe", "readinessProbe"):
            value = container.get(probe)
            if value is None:
                other = "readinessProbe" if probe == "livenessProbe" else "livenessProbe"
                hint = f" (it has a {other}; both are needed)" if container.get(other) is not None else ""
                yield Violation(
                    obj, f"{path}.{probe}", None, "a probe with a handler", f"container has no {probe}{hint}"
                )
            elif not any(isinstance(value, dict) and value.get(h) is not None for h in _HANDLERS):
                yield Violation(
                    obj,
                    f"{path}.{probe}",
                    value,
                    f"one of {', '.join(_HANDLERS)}",
                    f"{probe} is set but names no handler, so the API server rejects it",
                )


def _missing_labels(labels: dict[str, Any], required: tuple[str, ...]) -> list[str]:
    return [key for key in required if not isinstance(labels.get(key), str) or not labels.get(key)]


def _labels_violation(
    obj: K8sObject, field: str, labels: dict[str, Any], required: tuple[str, ...], what: str
) -> Iterator[Violation]:
    missing = _missing_labels(labels, required)
    if not missing:
        return
    hint = ""
    # The legacy `app` label is the usual near miss for app.kubernetes.io/name.
    if "app.kubernetes.io/name" in missing and isinstance(labels.get("app"), str):
        hint = f" (it has the legacy label app={labels['app']}; use app.kubernetes.io/name)"
    present = sorted(k for k in required if k not in missing)
    yield Violation(obj, field, present, list(required), f"{what} is missing {', '.join(missing)}{hint}")


@object_rule(
    "required-labels",
    family="workloads",
    severity=Severity.NORMAL,
    kinds=(*WORKLOADS, "Service"),
    description="Workloads, their pod templates and Services carry every label in policy.yaml "
    "org.required_labels, with a non-empty value.",
    remediation="Add the labels from policy.yaml org.required_labels (app.kubernetes.io/name, part-of, "
    "managed-by) to metadata.labels and to the pod template's metadata.labels.",
)
def required_labels(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    required = ctx.policy.required_labels
    yield from _labels_violation(obj, "metadata.labels", obj.labels, required, f"{obj.kind.lower()}")
    if obj.kind in ("Service", "Pod"):
        return
    tmpl, prefix = pod_template(obj)
    labels = as_dict(as_dict(tmpl.get("metadata")).get("labels"))
    yield from _labels_violation(obj, f"{prefix}metadata.labels", labels, required, "pod template")


@object_rule(
    "requests-within-limits",
    family="workloads",
    severity=Severity.CRITICAL,
    kinds=WORKLOADS,
    description="No container requests more of a resource than its limit allows (the API server rejects "
    "such a pod, so the workload never starts).",
    remediation="Lower resources.requests or raise resources.limits so that requests <= limits.",
)
def requests_within_limits(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for container, path in containers(obj):
        resources = as_dict(container.get("resources"))
        requests, limits = as_dict(resources.get("requests")), as_dict(resources.get("limits"))
        for resource, raw in requests.items():
            if resource not in limits:
                continue
            want, cap = quantity(raw), quantity(limits[resource])
            if want is not None and cap is not None and want > cap:
                yield Violation(
                    obj,
                    f"{path}.resources.requests.{resource}",
                    raw,
                    f"<= limit {limits[resource]}",
                    f"container requests {raw} {resource} but its limit is {limits[resource]}",
                )
