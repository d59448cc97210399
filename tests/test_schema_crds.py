"""CRD schemas through the real kubeconform: the generated catalogue and the input's own CRDs.

- fixtures/crds: an install.yaml (CRD + a valid custom resource) and a file of custom
  resources that each break one part of that CRD's schema; the CRD of one file is the
  schema of the other (same input).
- the platform: every object is schema-checked, and a mistake in any custom kind it uses
  is caught by the schema generated from that kind's pinned upstream source.
- the static gate fails on a kind without a schema, unless policy.yaml exempts it.
- fixtures/crd-families: Gateway API, Flux, Argo CD, Argo Rollouts and External Secrets objects
  shaped like their public examples pass; one broken object per family fails on its field.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conformance.inventory import build_inventory
from conformance.inventory.model import K8sObject
from conformance.schema.crds import Catalogue
from conformance.schema.kubeconform import Status, validate
from conformance.schema.locations import SchemaLocations
from conformance.settings import Settings
from conformance.static import run_static
from conformance.tools import REPO

pytest_plugins = ["pytester"]
FIXTURES = REPO / "fixtures" / "crds"
PLATFORM = REPO / "manifests"
SETTINGS = Settings.from_env({})


@pytest.fixture(scope="module")
def locations() -> SchemaLocations:
    return SchemaLocations.from_settings(SETTINGS)


# object ref in fixtures/crds -> (status, pattern of the message or field error)
EXPECTED = {
    "CustomResourceDefinition/widgets.example.com": (Status.VALID, ""),
    "Widget/shop/blue": (Status.VALID, ""),
    "Widget/shop/bad-enum": (Status.INVALID, r"spec\.size: value must be one of 'small', 'large'"),
    "Widget/shop/unknown-field": (Status.INVALID, r"additional properties 'colour' not allowed"),
    "Widget/shop/missing-required": (Status.INVALID, r"missing property 'size'"),
    "Widget/shop/below-minimum": (Status.INVALID, r"spec\.replicas: minimum: got 0, want 1"),
    "Widget/shop/both-sources": (Status.INVALID, r"spec\.source: oneOf failed"),
    "Widget/shop/embedded-unknown-field": (Status.INVALID, r"spec\.template: additional properties 'data'"),
    "Widget/shop/port-is-a-list": (Status.INVALID, r"spec\.port: anyOf failed"),
    "Widget/shop/unserved-version": (Status.SKIPPED, r"its CRD does not serve v1alpha1 \(serves: v1\)"),
}


def _text(result: Any) -> str:
    return "; ".join(f"{e.path}: {e.message}" for e in result.errors) or result.message


def test_input_crds_judge_the_custom_resources_of_the_same_run() -> None:
    """The static tier's own path: kubeconform reads the files, the input's CRD is found after parsing."""
    run = run_static(dataclasses.replace(SETTINGS, manifests=FIXTURES, profiles=("prod",)))
    (target,) = run.targets
    got = {r.obj.ref: r for r in target.schema}
    assert set(got) == set(EXPECTED)
    for ref, (status, pattern) in EXPECTED.items():
        assert got[ref].status is status, f"{ref}: {got[ref].status} {_text(got[ref])}"
        assert re.search(pattern, _text(got[ref])), f"{ref}: {_text(got[ref])!r} !~ {pattern!r}"


def test_input_crds_in_memory_validation(locations: SchemaLocations) -> None:
    """validate() (objects in memory) uses CRDs among the objects the same way."""
    objects = [o for o in build_inventory(FIXTURES, "prod").objects if isinstance(o, K8sObject)]
    got = {r.obj.ref: r.status for r in validate(objects, locations)}
    assert got == {ref: status for ref, (status, _) in EXPECTED.items()}


def test_without_its_crd_a_custom_resource_has_no_schema(locations: SchemaLocations) -> None:
    objects = build_inventory(FIXTURES / "widgets-bad.yaml", "prod").objects
    assert {r.status for r in validate(objects, locations)} == {Status.SKIPPED}


def test_the_input_crd_wins_over_the_generated_one(tmp_path: Path, locations: SchemaLocations) -> None:
    """An input may pin its own (here: stricter) ServiceMonitor CRD; the catalogue's is not used."""
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": "ServiceMonitor", "plural": "servicemonitors"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "required": ["team"], "properties": {"team": {}}}
                            },
                        }
                    },
                }
            ],
        },
    }
    monitor = _platform_object("ServiceMonitor")
    source = monitor.source
    objects = [K8sObject(crd, source, "default"), K8sObject(monitor.body, source, "default")]
    results = validate(objects, locations)
    assert results[1].status is Status.INVALID, _text(results[1])
    assert "missing property 'team'" in _text(results[1])
    assert validate([monitor], locations)[0].status is Status.VALID


@functools.cache
def _platform() -> list[K8sObject]:
    return build_inventory(PLATFORM, "prod").objects


def _platform_object(kind: str, name: str | None = None) -> K8sObject:
    for obj in _platform():
        if obj.kind == kind and name in (None, obj.name):
            return obj
    raise AssertionError(f"no {kind} in the platform")


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a dotted path ([n] for list items) in an object body."""

    def mutate(body: dict[str, Any]) -> None:
        node: Any = body
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
        for part in parts[:-1]:
            node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
        last = parts[-1]
        if last.startswith("["):
            node[int(last[1:-1])] = value
        else:
            node[last] = value

    return mutate


# kind -> (mutation, expected field error): one mistake per custom kind the platform uses.
MISTAKES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "ServiceMonitor": (
        _set("spec.endpoints[0].scheme", "ftp"),
        r"spec\.endpoints\[0\]\.scheme: value must be",
    ),
    "PodMonitor": (
        _set("spec.podMetricsEndpoints[0].interval", "often"),
        r"interval: .*does not match pattern",
    ),
    "PrometheusRule": (
        _set("spec.groups[0].rules[0].labels", ["critical"]),
        r"labels: got array, want object",
    ),
    "ClusterIssuer": (_set("spec.acme.privateKeySecretRef", {}), r"missing property 'name'"),
    "AuthorizationPolicy": (_set("spec.action", "PERMIT"), r"spec\.action: value must be one of"),
    "PeerAuthentication": (_set("spec.mtls.mode", "ALWAYS"), r"spec\.mtls\.mode: value must be one of"),
    "VerticalPodAutoscaler": (
        _set("spec.updatePolicy.updateMode", "Sometimes"),
        r"updateMode: value must be",
    ),
    "Jaeger": (_set("spec.strategy", 3), r"spec\.strategy: got number, want string"),
    "OpenTelemetryCollector": (_set("spec.mode", "sidecarset"), r"spec\.mode: value must be one of"),
    "Cluster": (_set("spec.rkeConfig.colour", "blue"), r"additional properties 'colour' not allowed"),
}


@pytest.mark.parametrize("kind", sorted(MISTAKES))
def test_generated_schemas_catch_a_mistake_in_every_custom_kind(
    kind: str, locations: SchemaLocations
) -> None:
    obj = _platform_object(kind)
    assert validate([obj], locations)[0].status is Status.VALID, "the platform's own object must pass"
    mutate, pattern = MISTAKES[kind]
    body = copy.deepcopy(obj.body)
    mutate(body)
    (result,) = validate([K8sObject(body, obj.source, "default")], locations)
    assert result.status is Status.INVALID, f"{kind}: {result.status} {_text(result)}"
    assert re.search(pattern, _text(result)), f"{kind}: {_text(result)!r} !~ {pattern!r}"


def test_every_platform_object_is_schema_checked_except_the_exempted() -> None:
    run = run_static(SETTINGS)
    assert run.policy is not None
    for target in run.targets:
        unchecked = [r for r in target.schema if r.status is not Status.VALID]
        assert all(r.status is Status.SKIPPED for r in unchecked), [(r.obj.ref, r.message) for r in unchecked]
        assert all(run.policy.exemption_for("schema", r.obj.ref) for r in unchecked), unchecked
        assert {r.obj.kind for r in unchecked} == {"VmwarevsphereConfig"}
        assert len(target.schema) - len(unchecked) >= 180, "the render shrank: check the count"


def _static_gate(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeconftest('pytest_plugins = ["conformance.plugin"]')
    return pytester.runpytest_subprocess(
        str(REPO / "conformance" / "suites" / "static"),
        "-k",
        "test_schema",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(REPO),
        *args,
    )


def test_the_gate_fails_a_kind_without_a_schema(pytester: pytest.Pytester) -> None:
    """No CRD schemas at all (a catalogue that was never built): every custom kind fails, by name."""
    schemas = pytester.path / "schemas"
    schemas.mkdir()
    core = SETTINGS.schemas / f"v{SETTINGS.k8s_version}"
    (schemas / core.name).symlink_to(core.resolve())
    shutil.copytree(SETTINGS.schemas / "api-lifecycle", schemas / "api-lifecycle")
    result = _static_gate(pytester, "--schemas", str(schemas), "--profile", "prod")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*FAILED*test_schema?monitoring.coreos.com/v1 ServiceMonitor*",
            "*FAILED*test_schema?security.istio.io/v1 PeerAuthentication*",
        ]
    )
    assert "no schema for monitoring.coreos.com/v1 ServiceMonitor" in result.stdout.str()


def test_the_gate_fails_once_the_schema_exemption_expires(pytester: pytest.Pytester) -> None:
    result = _static_gate(pytester, "--profile", "prod", "--today", "2027-07-01")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*FAILED*test_schema?rke-machine-config.cattle.io/v1 VmwarevsphereConfig*"])
    assert (
        "schema exemption expired on 2027-06-30 (owner platform-team@tartware.local)" in result.stdout.str()
    )


def test_the_gate_skips_the_exempted_kind_with_owner_and_reason(pytester: pytest.Pytester) -> None:
    result = _static_gate(pytester, "--profile", "prod", "-rs")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*SKIPPED*not schema-checked (6 object(s)): exempted until 2027-06-30*"])


# fixtures/crd-families: objects shaped like each family's public examples, and one broken
# object per family. ref -> (catalogue source, status, pattern of the message or field error).
FAMILIES = REPO / "fixtures" / "crd-families"
FAMILY_EXPECTED = {
    "GatewayClass/default/example": ("gateway-api", Status.VALID, ""),
    "Gateway/shop/shop-gateway": ("gateway-api", Status.VALID, ""),
    "HTTPRoute/shop/store": ("gateway-api", Status.VALID, ""),
    "HTTPRoute/shop/store-port-is-a-string": (
        "gateway-api",
        Status.INVALID,
        r"backendRefs\[0\]\.port: got string, want integer",
    ),
    "GitRepository/flux-system/podinfo": ("flux", Status.VALID, ""),
    "Kustomization/flux-system/podinfo": ("flux", Status.VALID, ""),
    "HelmRepository/flux-system/podinfo": ("flux", Status.VALID, ""),
    "HelmRelease/flux-system/podinfo": ("flux", Status.VALID, ""),
    "Kustomization/flux-system/prune-is-a-string": ("flux", Status.INVALID, r"spec\.prune: got string"),
    "Application/argocd/guestbook": ("argo-cd", Status.VALID, ""),
    "Application/argocd/misspelt-destination": (
        "argo-cd",
        Status.INVALID,
        r"additional properties 'destinaton' not allowed",
    ),
    "Rollout/shop/rollouts-demo": ("argo-rollouts", Status.VALID, ""),
    "Rollout/shop/weight-is-a-string": ("argo-rollouts", Status.INVALID, r"setWeight: got string"),
    "SecretStore/shop/secretstore-sample": ("external-secrets", Status.VALID, ""),
    "ExternalSecret/shop/example": ("external-secrets", Status.VALID, ""),
    "ClusterSecretStore/default/vault-backend": ("external-secrets", Status.VALID, ""),
    "ExternalSecret/shop/creation-policy-unknown": (
        "external-secrets",
        Status.INVALID,
        r"creationPolicy: value must be one of",
    ),
}


def _family_objects() -> list[K8sObject]:
    return [o for o in build_inventory(FAMILIES, "prod").objects if isinstance(o, K8sObject)]


def test_common_crd_families_judge_their_custom_resources(locations: SchemaLocations) -> None:
    """Gateway API, Flux, Argo CD, Argo Rollouts and External Secrets come from the catalogue:
    real-shaped objects pass, one broken object per family fails on its field."""
    results = {r.obj.ref: r for r in validate(_family_objects(), locations)}
    assert set(results) == set(FAMILY_EXPECTED)
    for ref, (_, status, pattern) in FAMILY_EXPECTED.items():
        assert results[ref].status is status, f"{ref}: {results[ref].status} {_text(results[ref])}"
        assert re.search(pattern, _text(results[ref])), f"{ref}: {_text(results[ref])!r} !~ {pattern!r}"


@pytest.mark.parametrize("family", sorted({source for source, _, _ in FAMILY_EXPECTED.values()}))
def test_without_its_catalogue_source_a_family_has_no_schema(family: str, locations: SchemaLocations) -> None:
    """The verdicts above come from that family's generated source: without it, no schema."""
    catalogue = Catalogue.load(SETTINGS.schemas / "crds")
    (source,) = [s for s in catalogue.sources if s.name == family]
    objects = [o for o in _family_objects() if FAMILY_EXPECTED[o.ref][0] == family]
    for obj in objects:
        group = obj.api_version.rpartition("/")[0]
        found = catalogue.crd_for(group, obj.kind)
        assert found is not None and found[1].name == family, obj.ref
    without = dataclasses.replace(locations, crds=tuple(c for c in locations.crds if c != source.schemas))
    for result in validate(objects, without):
        assert result.status is Status.SKIPPED, f"{result.obj.ref}: {result.status} {_text(result)}"
        assert "no schema" in _text(result), _text(result)
