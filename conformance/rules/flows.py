"""NetworkPolicy intent: the flows the policies allow equal the flows the input declares.

The truth table (source workload x destination workload x port, conformance/netpol.py,
NetworkPolicy API semantics) is computed from the rendered policies and compared
with flows.yaml. A cell allowed but not declared is a forbidden flow left open; a
declared cell the policies deny is a required flow closed. Each finding names the
flow and the policies that decide it, on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..inventory.model import K8sObject
from ..k8s import WORKLOADS, of_kinds, pod_labels, selector_is_empty
from ..netpol import Flow, cell_verdicts, compare, modelled_from_flows, truth_table
from .registry import Context, Severity, Violation, inventory_rule

NETPOL = "NetworkPolicy"


def _has_flows(ctx: Context) -> str | None:
    if ctx.flows is None:
        return "no flows file (flows.yaml beside the manifests) declares the intended traffic"
    return None


@inventory_rule(
    "network-flows-match-intent",
    family="networking",
    severity=Severity.BLOCKER,
    kinds=(NETPOL, "Namespace", *WORKLOADS),
    description="The flows the NetworkPolicies allow (source workload x destination workload x port, "
    "NetworkPolicy API semantics) are exactly the flows declared in flows.yaml: no undeclared flow is "
    "open, no declared flow is closed. Same concern as cyclonus' truth table, judged before deployment.",
    remediation="Change the NetworkPolicy the finding names so that it admits exactly the declared flows "
    "(or update flows.yaml when the intended traffic changed, in the same review).",
    applies=_has_flows,
)
def network_flows_match_intent(ctx: Context) -> Iterator[Violation]:
    flows = list(ctx.flows or ())
    inventory = ctx.inventory
    table = truth_table(inventory, modelled_from_flows(flows, inventory))
    result = compare(table, flows)
    for flow in sorted(result.wrong_allowed, key=str):
        verdicts = cell_verdicts(inventory, table, flow)
        culprit, field = _anchor(ctx, flow, verdicts.ingress_admitting, verdicts.egress_admitting)
        yield Violation(
            culprit,
            field,
            f"ALLOW {flow}",
            "DENY (not declared in flows.yaml)",
            f"undeclared flow {flow} is open: {verdicts.explain(flow)}",
        )
    for flow in sorted(result.wrong_denied, key=str):
        verdicts = cell_verdicts(inventory, table, flow)
        culprit, field = _anchor(
            ctx,
            flow,
            () if verdicts.ingress_admitting else verdicts.ingress_isolating,
            () if verdicts.egress_admitting else verdicts.egress_isolating,
        )
        yield Violation(
            culprit,
            field,
            f"DENY {flow}",
            "ALLOW (declared in flows.yaml)",
            f"declared flow {flow} is closed: {verdicts.explain(flow)}",
        )
    for key in result.undeclared_endpoints:
        anchor = next(iter(inventory.of_kind(NETPOL)), None) or inventory.objects[0]
        yield Violation(
            anchor, "flows.yaml", key, "a workload or a modelled endpoint", f"flows.yaml names {key}, unknown"
        )


def _anchor(
    ctx: Context, flow: Flow, ingress: tuple[K8sObject, ...], egress: tuple[K8sObject, ...]
) -> tuple[K8sObject, str]:
    """(object, field) a finding is filed under: the deciding policy that selects the pods
    specifically (a namespace-wide default-deny last), else the destination workload."""
    candidates = [(p, "spec.ingress") for p in ingress] + [(p, "spec.egress") for p in egress]
    candidates.sort(key=lambda c: selector_is_empty(c[0].spec.get("podSelector", {})))
    if candidates:
        return candidates[0]
    namespace, _, app = flow.destination.partition("/")
    for obj in of_kinds(ctx.inventory, WORKLOADS):
        if obj.namespace == namespace and (
            obj.name == app or pod_labels(obj).get("app.kubernetes.io/name") == app
        ):
            return obj, "spec.template.metadata.labels"
    return next(iter(ctx.inventory.of_kind(NETPOL)), ctx.inventory.objects[0]), "metadata.name"
