"""Rules on workload pod specs: images, resources, probes, labels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..inventory.model import K8sObject
from ..k8s import (
    LONG_RUNNING,
    WORKLOADS,
    as_dict,
    as_int,
    as_list,
    containers,
    pod_template,
    pod_template_of,
    quantity,
)
from .registry import Context, Severity, Violation, object_rule


@object_rule(
    "image-pinned",
    family="workloads",
    severity=Severity.CRITICAL,
    kinds=WORKLOADS,
    description="Every container image names an explicit tag (not `latest`) or a digest. "
    "Same concern as kube-score container-image-tag, kube-linter latest-tag and Polaris tagNotSpecified.",
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
    description="Every container sets CPU and memory requests and limits. "
    "Same concern as kube-score container-resources, kube-linter unset-cpu-requirements / "
    "unset-memory-requirements and Polaris cpuRequestsMissing and its siblings.",
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
    "probe, each with a handler (httpGet, tcpSocket, exec or grpc). "
    "Same concern as kube-score pod-probes, kube-linter no-liveness-probe / no-readiness-probe and "
    "Polaris livenessProbeMissing / readinessProbeMissing.",
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
    requires=("required_labels",),
    family="workloads",
    severity=Severity.NORMAL,
    kinds=(*WORKLOADS, "Service"),
    description="Workloads, their pod templates and Services carry every label in policy.yaml "
    "org.required_labels, with a non-empty value. "
    "Same concern as kube-linter required-label-owner, with the labels taken from the policy file.",
    remediation="Add the labels from policy.yaml org.required_labels (app.kubernetes.io/name, part-of, "
    "managed-by) to metadata.labels and to the pod template's metadata.labels.",
)
def required_labels(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    required = ctx.policy.required_labels
    yield from _labels_violation(obj, "metadata.labels", obj.labels, required, f"{obj.kind.lower()}")
    if obj.kind == "Pod" or pod_template_of(obj) is None:
        return  # a Pod is its own template; a Service has none
    template = pod_template(obj)
    labels = as_dict(template.metadata.get("labels"))
    yield from _labels_violation(obj, f"{template.prefix}metadata.labels", labels, required, "pod template")


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


_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def _port_names(container: dict[str, Any]) -> tuple[set[str], str]:
    """(port names one container declares, `name=number` listing of its ports)."""
    names: set[str] = set()
    listed = []
    for item in as_list(container.get("ports")):
        port = as_dict(item)
        number, name = as_int(port.get("containerPort")), port.get("name")
        if isinstance(name, str):
            names.add(name)
        listed.append(f"{name}={number}" if isinstance(name, str) else str(number))
    return names, ", ".join(listed) or "no ports"


@object_rule(
    "probe-port-exposed",
    family="workloads",
    severity=Severity.CRITICAL,
    kinds=WORKLOADS,
    description="A probe that targets a port by name names a port its own container declares: the "
    "kubelet resolves the name among that container's ports only, so otherwise the probe fails whatever "
    "the app does. A port number is probed as written, listed in `ports` or not (the list is "
    "informational), so it is not judged. Same concern as kube-linter liveness-port, readiness-port and "
    "startup-port.",
    remediation="Name one of the container's ports (e.g. `port: http`), add the named port to the "
    "container's ports, or give the port number the app listens on.",
)
def probe_port_exposed(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for container, path in containers(obj, include_init=False):
        names, listed = _port_names(container)
        for probe in _PROBES:
            for handler in ("httpGet", "tcpSocket", "grpc"):
                port = as_dict(as_dict(container.get(probe)).get(handler)).get("port")
                # The kubelet falls back to a number for a name no port has ("8080" is port 8080).
                if not isinstance(port, str) or port in names or port.isdigit():
                    continue
                yield Violation(
                    obj,
                    f"{path}.{probe}.{handler}.port",
                    port,
                    f"a declared port name ({listed})",
                    f"{probe} targets port name {port!r}, which the container does not declare "
                    f"(it declares {listed}): the kubelet cannot resolve it, so the probe always fails",
                )


def _handler(probe: Any) -> tuple[str, Any] | None:
    """(handler kind, handler) of a probe: what it actually checks."""
    for kind in ("httpGet", "tcpSocket", "exec", "grpc"):
        value = as_dict(probe).get(kind)
        if value is not None:
            return kind, value
    return None


@object_rule(
    "probes-distinct",
    family="workloads",
    severity=Severity.NORMAL,
    kinds=LONG_RUNNING,
    description="A container's liveness and readiness probes do not run the same check (same handler, "
    "path and port): readiness failing on a busy dependency would then also restart the container. Same "
    "concern as kube-score pod-probes-identical.",
    remediation="Give liveness a cheap check that the process is alive (e.g. /healthz/live) and readiness "
    "the check that it can serve (e.g. /healthz/ready, dependencies included).",
)
def probes_distinct(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for container, path in containers(obj, include_init=False):
        live, ready = _handler(container.get("livenessProbe")), _handler(container.get("readinessProbe"))
        if live is not None and live == ready:
            yield Violation(
                obj,
                f"{path}.livenessProbe.{live[0]}",
                live[1],
                "a check other than the readinessProbe's",
                f"livenessProbe and readinessProbe both run {live[0]} {live[1]!r}: a pod that is only "
                "not ready gets restarted",
            )


@object_rule(
    "ephemeral-storage-set",
    family="workloads",
    severity=Severity.NORMAL,
    kinds=WORKLOADS,
    description="Every container sets an ephemeral-storage request and limit, so the scheduler places it on "
    "a node with disk to spare and a runaway log or scratch file evicts this pod, not its neighbours. Same "
    "concern as kube-score container-ephemeral-storage-request-and-limit.",
    remediation="Set resources.requests.ephemeral-storage and resources.limits.ephemeral-storage (e.g. "
    "64Mi and 256Mi: logs, the writable layer and emptyDirs count against them).",
)
def ephemeral_storage_set(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for container, path in containers(obj):
        resources = as_dict(container.get("resources"))
        missing = [s for s in ("requests", "limits") if "ephemeral-storage" not in as_dict(resources.get(s))]
        if missing:
            yield Violation(
                obj,
                f"{path}.resources.{missing[0]}.ephemeral-storage",
                None,
                "an ephemeral-storage request and limit",
                f"container sets no ephemeral-storage {' or '.join(missing)}",
            )


@object_rule(
    "env-names-unique",
    family="workloads",
    severity=Severity.NORMAL,
    kinds=WORKLOADS,
    description="No container lists the same env var name twice (the last one silently wins, so the first "
    "is dead configuration). Same concern as kube-score environment-variable-key-duplication and "
    "kube-linter duplicate-env-var.",
    remediation="Keep one entry per name in env; remove or rename the duplicate.",
)
def env_names_unique(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for container, path in containers(obj):
        seen: set[str] = set()
        for item in as_list(container.get("env")):
            name = as_dict(item).get("name")
            if not isinstance(name, str):
                continue
            if name in seen:
                yield Violation(
                    obj,
                    f"{path}.env[{name}]",
                    name,
                    "each env var name once",
                    f"env var {name} is listed more than once; only the last value takes effect",
                )
            seen.add(name)
