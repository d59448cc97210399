"""What the behaviour tier exercises: the HPAs and PDBs of the render, never hard-wired names.

policy.yaml may name them (`exercise: {hpa: [guests], pdb: [api-gateway]}`); otherwise the
tier picks one of each from the render itself:

  HPA  the one with the shortest scale cycle (fewest policy steps min -> max -> min), so a
       whole cycle fits the tier's budget; ties by namespace/name
  PDB  the first (by namespace/name) whose selector matches a Deployment of the render

    subjects = hpa_subjects(inventory, policy)     # [HpaSubject(name="guests", ...)]
    subjects[0].problem                            # "" when it can be exercised

A named object that the render lacks is a subject with a `problem`: the test fails with
it (policy.yaml promises an object the platform does not have), never skips.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.inventory import Inventory, K8sObject
from conformance.k8s import (
    HPA,
    as_dict,
    matching_workloads,
    pod_spec,
    scale_target,
    service_policy,
    workload_index,
)
from conformance.policy import Policy

from .scaling import HpaSpec, Rate, intended

PDB = "PodDisruptionBudget"
SCALED_KINDS = ("Deployment",)  # what the scenarios drive (replicas read from the Deployment API)


@dataclass(frozen=True)
class HpaSubject:
    """An HPA to run on a cluster, with the Deployment it scales and that one's ServiceAccount."""

    name: str
    namespace: str
    chosen_by: str  # "policy.yaml exercise.hpa" or how the tier picked it
    hpa: K8sObject | None = None
    target: K8sObject | None = None
    account: K8sObject | None = None
    problem: str = ""  # why it cannot be exercised (the test fails with this)

    @property
    def id(self) -> str:
        return self.name


@dataclass(frozen=True)
class PdbSubject:
    """A PodDisruptionBudget with the Deployment it protects, that one's HPA and ServiceAccount."""

    name: str
    namespace: str
    chosen_by: str
    pdb: K8sObject | None = None
    target: K8sObject | None = None
    hpa: K8sObject | None = None
    account: K8sObject | None = None
    problem: str = ""

    @property
    def id(self) -> str:
        return self.name


def service_account(inventory: Inventory, workload: K8sObject) -> K8sObject | None:
    """The ServiceAccount a workload's pods run as, when the render defines it."""
    spec, _ = pod_spec(workload)
    name = spec.get("serviceAccountName")
    return inventory.get("ServiceAccount", workload.namespace, name) if isinstance(name, str) else None


def _hpa_subject(inventory: Inventory, hpa: K8sObject, chosen_by: str) -> HpaSubject:
    target = scale_target(hpa)
    base = HpaSubject(hpa.name, hpa.namespace, chosen_by, hpa)
    if target is None:
        return _replace(base, problem=f"{hpa.ref} has no valid scaleTargetRef")
    kind, name = target
    workload = inventory.get(kind, hpa.namespace, name)
    if workload is None:
        return _replace(base, problem=f"{hpa.ref} scales {kind}/{name}, which the render does not define")
    if kind not in SCALED_KINDS:
        return _replace(base, problem=f"{hpa.ref} scales a {kind}; the scenario drives Deployments only")
    return HpaSubject(hpa.name, hpa.namespace, chosen_by, hpa, workload, service_account(inventory, workload))


def _replace(subject: HpaSubject, problem: str) -> HpaSubject:
    return HpaSubject(subject.name, subject.namespace, subject.chosen_by, subject.hpa, problem=problem)


def _cycle_steps(hpa: K8sObject) -> int:
    """Policy steps of one min -> max -> min cycle (large when the HPA cannot be read or never gets there)."""
    try:
        spec = HpaSpec.from_body(hpa.body)
    except (KeyError, TypeError, ValueError):
        return 10**6
    up = spec.steps(spec.min_replicas, spec.max_replicas, up=True)
    down = spec.steps(spec.max_replicas, spec.min_replicas, up=False)
    return (up if up is not None else 10**3) + (down if down is not None else 10**3)


def hpa_subjects(inventory: Inventory, policy: Policy | None) -> list[HpaSubject]:
    """The HPAs to exercise: those policy.yaml names, else the render's shortest scale cycle."""
    hpas = sorted((o for o in inventory.of_kind(HPA) if not o.provided), key=lambda o: (o.namespace, o.name))
    named = policy.exercise.get("hpa") if policy is not None else None
    if named:
        out = []
        for name in named:
            found = [h for h in hpas if h.name == name]
            if not found:
                out.append(
                    HpaSubject(
                        name,
                        "",
                        "policy.yaml exercise.hpa",
                        problem=f"policy.yaml exercise.hpa names {name}, but the render has no "
                        f"HorizontalPodAutoscaler of that name",
                    )
                )
            out += [_hpa_subject(inventory, h, "policy.yaml exercise.hpa") for h in found]
        return out
    usable = [s for s in (_hpa_subject(inventory, h, "") for h in hpas) if not s.problem]
    if not usable:
        return []
    best = min(usable, key=lambda s: (_cycle_steps(s.hpa) if s.hpa else 10**6, s.namespace, s.name))
    return [_with_reason(best, f"the shortest scale cycle of the render's {len(usable)} usable HPA(s)")]


def _with_reason(subject: HpaSubject, chosen_by: str) -> HpaSubject:
    return HpaSubject(
        subject.name, subject.namespace, chosen_by, subject.hpa, subject.target, subject.account
    )


def _pdb_subject(inventory: Inventory, pdb: K8sObject, chosen_by: str) -> PdbSubject:
    index = workload_index(inventory, SCALED_KINDS)
    targets = matching_workloads(index, pdb.namespace, as_dict(pdb.spec).get("selector"))
    if not targets:
        return PdbSubject(
            pdb.name, pdb.namespace, chosen_by, pdb, problem=f"{pdb.ref} selects no Deployment of the render"
        )
    target = sorted(targets, key=lambda o: o.name)[0]
    hpa = next(
        (
            h
            for h in inventory.of_kind(HPA)
            if h.namespace == pdb.namespace and scale_target(h) == (target.kind, target.name)
        ),
        None,
    )
    return PdbSubject(
        pdb.name, pdb.namespace, chosen_by, pdb, target, hpa, service_account(inventory, target)
    )


def pdb_subjects(inventory: Inventory, policy: Policy | None) -> list[PdbSubject]:
    """The PDBs to exercise: those policy.yaml names, else the first one protecting a Deployment."""
    pdbs = sorted((o for o in inventory.of_kind(PDB) if not o.provided), key=lambda o: (o.namespace, o.name))
    named = policy.exercise.get("pdb") if policy is not None else None
    if named:
        out = []
        for name in named:
            found = [p for p in pdbs if p.name == name]
            if not found:
                out.append(
                    PdbSubject(
                        name,
                        "",
                        "policy.yaml exercise.pdb",
                        problem=f"policy.yaml exercise.pdb names {name}, but the render has no "
                        "PodDisruptionBudget of that name",
                    )
                )
            out += [_pdb_subject(inventory, p, "policy.yaml exercise.pdb") for p in found]
        return out
    for pdb in pdbs:
        subject = _pdb_subject(
            inventory, pdb, f"the first of the render's {len(pdbs)} PDB(s) protecting a Deployment"
        )
        if not subject.problem:
            return [subject]
    return []


@dataclass(frozen=True)
class ScalingIntent:
    """What an HPA's replica timeline must show, and where each number came from."""

    up: Rate | None
    down: Rate | None
    bounds: tuple[int, int] | None  # (min, max) policy.yaml sets for the service in this profile
    source: str

    def judge(self, rendered: HpaSpec) -> tuple[HpaSpec, list[str]]:
        """(intended spec, how `rendered` drifts from it): see scaling.intended."""
        return intended(rendered, self.up, self.down, self.bounds)


def scaling_intent(
    policy: Policy | None, profile: str, hpa: K8sObject, *, with_bounds: bool = True
) -> ScalingIntent:
    """The policy's scale-up/down rate, period and window for `profile`, and the service's bounds.

    Without a policy the HPA is judged against its own spec, and the source says so.
    """
    if policy is None:
        return ScalingIntent(None, None, None, "the HPA's own spec (no policy file)")
    if not policy.provides("scaling"):
        return ScalingIntent(None, None, None, f"the HPA's own spec ({policy.name} sets no org.hpa scaling)")
    up = Rate(*policy.scaling(profile, "scale_up"), policy.window(profile, "scale_up"))
    down = Rate(*policy.scaling(profile, "scale_down"), policy.window(profile, "scale_down"))
    service = service_policy(hpa, policy)
    bounds = service.bounds.get(profile) if service is not None and with_bounds else None
    where = f"policy.yaml org.hpa (profile {profile})"
    if bounds is not None and service is not None:
        where += f" and org.services.{service.name}.{profile}"
    elif with_bounds:
        where += f"; bounds from the HPA itself (policy.yaml does not list {hpa.name})"
    return ScalingIntent(up, down, bounds, where)
