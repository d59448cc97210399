"""Putting the rendered platform on a cluster: CRDs, namespaces, cluster-scoped objects, dry-run.

Order: CRDs for the custom kinds the inventory uses (the input's own, else the
generated catalogue's; see conformance/cluster/crd_install.py) -> Namespaces for real ->
cluster-scoped objects for real (dry-run only where the suite does not own the
cluster) -> every namespaced object as server-side dry-run apply (fieldValidation=Strict).
Each object ends with one `ObjectResult`: a custom kind without a CRD FAILS unless
policy.yaml exempts the object (rule `schema`: SKIPPED with the exemption); on a
cluster the suite does not own, custom kinds it does not serve are SKIPPED with why.

    state = apply_platform(kube, inventory, NamespaceMap(""), caps, catalogue=cat, run_id="r1")
    state.results["Deployment/tartware/guests"].outcome   # Outcome.DRY_RUN

On a cluster the suite does not own, every namespace gets a prefix (`NamespaceMap`),
applied to object namespaces and to NetworkPolicy selectors on
`kubernetes.io/metadata.name`, and undone when objects are read back, so the
platform is judged under its own names.
"""

from __future__ import annotations

import copy
import enum
import functools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.cluster.base import MANAGED_BY, RUN_LABEL, Capabilities
from conformance.cluster.crd_install import CrdChoice, choose, for_cluster
from conformance.cluster.kube import ApiError, Kube
from conformance.cluster.wait import Poll, wait_until
from conformance.inventory import Inventory, K8sObject
from conformance.inventory.model import CLUSTER_SCOPED
from conformance.k8s import WORKLOADS, conditions, pod_template_of
from conformance.schema.api_lifecycle import LifecycleTable
from conformance.schema.crds import Catalogue, identity, is_crd, served_versions

# Why an object may go without a schema (policy.yaml, rule `schema`), or None.
SchemaExemption = Callable[[K8sObject], "str | None"]

NAME_LABEL = "kubernetes.io/metadata.name"
# Workloads whose pods the PodSecurity check builds (a bare Pod is applied as itself).
WORKLOAD_KINDS = tuple(kind for kind in WORKLOADS if kind != "Pod")


class Outcome(enum.Enum):
    APPLIED = "applied"  # created for real (namespaces, cluster-scoped objects on an owned cluster)
    DRY_RUN = "dry-run"  # accepted by server-side dry-run apply
    SKIPPED = "skipped"  # not validated; the message says why (an exemption, a cluster not owned)
    FAILED = "failed"  # rejected by the API server, or a custom kind without a CRD
    BROKEN = "broken"  # the suite could not judge it (a generated CRD the server refused)


@dataclass(frozen=True)
class ObjectResult:
    """What happened to one object of the render."""

    ref: str
    source: str
    outcome: Outcome
    message: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class NamespaceMap:
    """Platform namespace <-> cluster namespace ("" prefix: identical)."""

    prefix: str = ""

    def to_cluster(self, namespace: str) -> str:
        return f"{self.prefix}{namespace}" if namespace and self.prefix else namespace

    def from_cluster(self, namespace: str) -> str:
        if self.prefix and namespace.startswith(self.prefix):
            return namespace[len(self.prefix) :]
        return namespace

    def _selectors(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """namespaceSelectors inside a NetworkPolicy (they may name namespaces)."""
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in (body.get("spec") or {}).get(direction) or []:
                for peer in (rule or {}).get(peers_key) or []:
                    if isinstance(peer, dict) and isinstance(peer.get("namespaceSelector"), dict):
                        yield peer["namespaceSelector"]

    def _convert(self, body: Mapping[str, Any], name: Any) -> dict[str, Any]:
        out = copy.deepcopy(dict(body))
        if not self.prefix:
            return out
        meta = out.setdefault("metadata", {})
        if out.get("kind") == "Namespace":
            meta["name"] = name(str(meta.get("name", "")))
            labels = meta.setdefault("labels", {})
            labels[NAME_LABEL] = meta["name"]
        elif meta.get("namespace"):
            meta["namespace"] = name(str(meta["namespace"]))
        if out.get("kind") == "NetworkPolicy":
            for selector in self._selectors(out):
                labels = selector.get("matchLabels") or {}
                if NAME_LABEL in labels:
                    labels[NAME_LABEL] = name(str(labels[NAME_LABEL]))
                for expr in selector.get("matchExpressions") or []:
                    if isinstance(expr, dict) and expr.get("key") == NAME_LABEL:
                        expr["values"] = [name(str(v)) for v in expr.get("values") or []]
        return out

    def object_to_cluster(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._convert(body, self.to_cluster)

    def object_from_cluster(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._convert(body, self.from_cluster)


@dataclass
class PlatformState:
    """The render on the cluster: a result per object ref, and what was created for it."""

    results: dict[str, ObjectResult] = field(default_factory=dict)
    crds: dict[tuple[str, str], KindStatus] = field(default_factory=dict)  # (apiVersion, kind) -> how judged
    extra_namespaces: list[str] = field(default_factory=list)  # used by objects, declared nowhere
    namespaces: list[str] = field(default_factory=list)  # cluster names of every namespace created
    seconds: dict[str, float] = field(default_factory=dict)


def owned_namespace(name: str, run_id: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Namespace labelled as this run's (so `existing` cleans up only its own)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**(labels or {}), RUN_LABEL: run_id, **MANAGED_BY}},
    }


def _crd_established(kube: Kube, name: str) -> Poll[bool]:
    crd = kube.get_or_none("apiextensions.k8s.io/v1", "CustomResourceDefinition", name) or {}
    est = conditions(crd).get("Established", {})
    return Poll(
        est.get("status") == "True", f"Established={est.get('status')} {est.get('message', '')}".strip()
    )


def _crd_served(kube: Kube, name: str, keys: list[tuple[str, str]]) -> Poll[bool]:
    """Established, and discovery lists the kinds (discovery can lag the condition)."""
    established = _crd_established(kube, name)
    if not established.done:
        return established
    missing = []
    for api_version, kind in keys:
        kube.forget(api_version)
        if not kube.has_kind(api_version, kind):
            missing.append(f"{kind} in {api_version}")
    return Poll(not missing, f"Established, but discovery does not list {', '.join(missing)} yet")


@dataclass(frozen=True)
class KindStatus:
    """How objects of one apiVersion/kind are judged: outcome None = applied as usual."""

    outcome: Outcome | None
    message: str  # where the CRD came from, or why the objects cannot be applied
    no_crd: bool = False  # no CRD anywhere: policy.yaml may exempt the objects (rule `schema`)


def _input_crds(inventory: Inventory) -> dict[tuple[str, str], tuple[Mapping[str, Any], str]]:
    return {identity(o.body): (o.body, str(o.source)) for o in inventory.objects if is_crd(o.body)}


def _install(kube: Kube, group: str, kind: str, choice: CrdChoice) -> KindStatus:
    try:
        kube.apply(choice.crd)
    except ApiError as err:
        text = f"the CRD for {kind} ({group}) from {choice.origin} was rejected: {err.message}"
        # The input's CRD is the platform's to fix; a generated one is the suite's.
        return KindStatus(Outcome.FAILED if choice.from_input else Outcome.BROKEN, text)
    return KindStatus(None, f"CRD from {choice.origin}")


def _removed(kube: Kube, lifecycle: LifecycleTable | None, api_version: str, kind: str) -> str:
    """Why the server lacks a built-in kind, when its API was removed by the server's version."""
    if lifecycle is None or (api_version, kind) not in lifecycle.apis:
        return ""
    version = str(kube.request("GET", "/version").body.get("gitVersion", ""))
    verdict = lifecycle.verdict(api_version, kind, version)
    return (
        f"not served by this API server ({version}): {verdict.message}" if verdict and verdict.removed else ""
    )


def prepare_kinds(
    kube: Kube,
    inventory: Inventory,
    catalogue: Catalogue,
    caps: Capabilities,
    lifecycle: LifecycleTable | None = None,
) -> dict[tuple[str, str], KindStatus]:
    """For each kind the server lacks: install its CRD (owned clusters), or say why it cannot be judged."""
    wanted: dict[tuple[str, str], set[str]] = {}
    status: dict[tuple[str, str], KindStatus] = {}
    for obj in inventory.objects:
        key = (obj.api_version, obj.kind)
        if key in status:
            continue
        if kube.has_kind(*key):
            status[key] = KindStatus(None, "served by the API server")
            continue
        removed = _removed(kube, lifecycle, *key)
        if removed:
            status[key] = KindStatus(Outcome.FAILED, removed)
            continue
        wanted.setdefault((obj.group, obj.kind), set()).add(obj.api_version.rpartition("/")[2])
        status[key] = KindStatus(None, "pending")
    inputs = _input_crds(inventory)
    pending: list[tuple[str, list[tuple[str, str]]]] = []
    for (group, kind), versions in sorted(wanted.items()):
        keys = [(f"{group}/{v}", kind) for v in sorted(versions)]
        choice = choose(group, kind, inputs, catalogue)
        if not caps.owns_cluster:
            result = KindStatus(
                Outcome.SKIPPED,
                f"{kind} ({group}) is not served by this cluster and the suite does not install CRDs on "
                "a cluster it does not own",
            )
        elif choice is None:
            result = KindStatus(
                Outcome.FAILED,
                f"no CRD for {kind} ({group}) in the input nor in the generated catalogue "
                f"({len(catalogue.sources)} sources, tools/go/crds): its objects cannot be validated",
                no_crd=True,
            )
        else:
            result = _install(kube, group, kind, choice)
            served = {v for v, _ in served_versions(choice.crd)}
            unserved = [k for k in keys if k[0].rpartition("/")[2] not in served]
            keys = [k for k in keys if k not in unserved]
            for key in unserved:
                status[key] = KindStatus(
                    Outcome.FAILED,
                    f"the CRD for {kind} from {choice.origin} does not serve {key[0]} "
                    f"(serves: {', '.join(sorted(served)) or 'nothing'})",
                )
            if result.outcome is None and keys:
                pending.append((str(choice.crd["metadata"]["name"]), keys))
        for key in keys:
            status[key] = result
    for name, keys in pending:
        wait_until(
            functools.partial(_crd_served, kube, name, keys),
            what="be Established and served",
            objects=[f"CustomResourceDefinition/{name}"],
            timeout_s=30,
            retry_on=(ApiError,),
        )
    return status


def _result(
    obj: K8sObject, outcome: Outcome, message: str = "", warnings: tuple[str, ...] = ()
) -> ObjectResult:
    return ObjectResult(obj.ref, str(obj.source), outcome, message, warnings)


def _apply_namespaces(
    kube: Kube, inventory: Inventory, nsmap: NamespaceMap, run_id: str, state: PlatformState
) -> None:
    """The declared Namespaces for real (each one's result in `state`), then the namespaces objects
    use without declaring them, so those objects can be judged too."""
    declared = {o.name for o in inventory.of_kind("Namespace")}
    for obj in inventory.of_kind("Namespace"):
        body = nsmap.object_to_cluster(obj.body)
        # Only the run label is added: the declared labels (which selectors may use) stay as they are.
        body["metadata"].setdefault("labels", {})[RUN_LABEL] = run_id
        try:
            resp = kube.apply(body)
            state.namespaces.append(body["metadata"]["name"])
            state.results[obj.ref] = _result(obj, Outcome.APPLIED, warnings=resp.warnings)
        except ApiError as err:
            state.results[obj.ref] = _result(obj, Outcome.FAILED, str(err))
    used = sorted({o.namespace for o in inventory.objects if o.namespace and o.kind not in CLUSTER_SCOPED})
    for name in used:
        if name not in declared:
            # e.g. fleet-default, which Rancher creates itself: made here so the
            # objects in it can be judged; listed in the dry-run test's output.
            state.extra_namespaces.append(name)
            kube.apply(owned_namespace(nsmap.to_cluster(name), run_id))
            state.namespaces.append(nsmap.to_cluster(name))


def apply_platform(
    kube: Kube,
    inventory: Inventory,
    nsmap: NamespaceMap,
    caps: Capabilities,
    *,
    catalogue: Catalogue,
    run_id: str,
    exemption: SchemaExemption = lambda _obj: None,
    lifecycle: LifecycleTable | None = None,
) -> PlatformState:
    """See the module docstring. Never raises for a rejected object: that is its result."""
    state = PlatformState()
    began = time.monotonic()
    state.crds = prepare_kinds(kube, inventory, catalogue, caps, lifecycle)
    state.seconds["crds"] = time.monotonic() - began

    began = time.monotonic()
    _apply_namespaces(kube, inventory, nsmap, run_id, state)
    for obj in inventory.objects:
        if obj.kind == "Namespace" or obj.ref in state.results:
            continue
        kind_status = state.crds.get((obj.api_version, obj.kind))
        if kind_status is not None and kind_status.outcome is not None:
            exempt = exemption(obj) if kind_status.no_crd else None
            state.results[obj.ref] = (
                _result(obj, Outcome.SKIPPED, f"{exempt} ({kind_status.message})")
                if exempt
                else _result(obj, kind_status.outcome, kind_status.message)
            )
            continue
        real = obj.kind in CLUSTER_SCOPED and caps.owns_cluster
        # A CRD goes in as prepare_kinds installed it (no conversion webhook to call here).
        body = for_cluster(obj.body) if is_crd(obj.body) else obj.body
        try:
            resp = kube.apply(nsmap.object_to_cluster(body), dry_run=not real)
            state.results[obj.ref] = _result(
                obj, Outcome.APPLIED if real else Outcome.DRY_RUN, warnings=resp.warnings
            )
        except ApiError as err:
            state.results[obj.ref] = _result(obj, Outcome.FAILED, str(err))
    state.seconds["objects"] = time.monotonic() - began
    return state


def pod_from_workload(obj: K8sObject, namespace: str, name: str | None = None) -> dict[str, Any] | None:
    """A bare Pod from a workload's template, for admission checks (PodSecurity).

    serviceAccountName and priorityClassName are dropped: their admission depends
    on objects this check does not create, and PodSecurity ignores both. The HPA
    and PDB tests run real pods with them.
    """
    template = pod_template_of(obj)
    if template is None:
        return None
    spec = copy.deepcopy(template.spec)
    spec.pop("serviceAccountName", None)
    spec.pop("priorityClassName", None)
    pod_name = (name or f"psa-{obj.kind.lower()}-{obj.name}")[:63].rstrip("-")
    # A StatefulSet's pods get a PersistentVolumeClaim volume per claim template.
    for claim in obj.spec.get("volumeClaimTemplates") or [] if obj.kind == "StatefulSet" else []:
        claim_name = str((claim.get("metadata") or {}).get("name", ""))
        spec.setdefault("volumes", []).append(
            {"name": claim_name, "persistentVolumeClaim": {"claimName": f"{claim_name}-{pod_name}"}}
        )
    meta = template.metadata
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "namespace": namespace,
            "labels": dict(meta.get("labels") or {}),
        },
        "spec": spec,
    }
