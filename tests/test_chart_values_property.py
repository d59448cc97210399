"""Property: for any values override, the chart either renders schema-valid objects, or its
values.schema.json rejects the values with a clear message. Never a broken render.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import tools
from conformance.inventory import K8sObject, Problem
from conformance.inventory.render import parse_rendered
from conformance.schema.kubeconform import Status, validate
from conformance.schema.locations import SchemaLocations
from conformance.settings import Settings

CHART = tools.REPO / "manifests" / "helm" / "tartware"
SERVICES = ["api-gateway", "core-service", "reservations", "guests", "billing"]

ints = st.one_of(st.integers(-3, 250), st.sampled_from(["3", "many", None]))
tags = st.sampled_from(["1.2.3", "latest", "", "v2", "1.0.0-rc.1", "2.0.0@sha256:" + "a" * 64, 7])
quantities = st.sampled_from(["100m", "1", "2Gi", "1.5", "-1", "lots", 3, "0"])
overrides = st.fixed_dictionaries(
    {},
    optional={
        "autoscaling": st.fixed_dictionaries(
            {}, optional={"minReplicas": ints, "maxReplicas": ints, "requestsPerSecondPerPod": ints}
        ),
        "image": st.fixed_dictionaries({}, optional={"tag": tags}),
        "resources": st.fixed_dictionaries(
            {"requests": st.fixed_dictionaries({"cpu": quantities, "memory": quantities})}
        ),
        "pdb": st.fixed_dictionaries(
            {
                "budget": st.sampled_from(["minAvailable", "maxUnavailable", "both"]),
                "value": st.one_of(ints, st.sampled_from(["50%", "150%", "x%"])),
            }
        ),
        "critical": st.sampled_from([True, False, "yes"]),
    },
)


@pytest.fixture(scope="module")
def locations() -> SchemaLocations:
    return SchemaLocations.from_settings(Settings.from_env({}))


def _render(values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        json.dump(values, f)  # JSON is YAML
        f.flush()
        cmd = [
            str(tools.find("helm")),
            "template",
            "tartware",
            str(CHART),
            "--namespace",
            "tartware",
            "-f",
            f.name,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(service=st.sampled_from(SERVICES), override=overrides)
def test_chart_renders_valid_objects_or_the_schema_rejects_the_values(
    locations: SchemaLocations, service: str, override: dict[str, Any]
) -> None:
    out = _render({service: override})
    if out.returncode != 0:
        assert "values don't meet the specifications of the schema" in out.stderr, out.stderr
        return
    items = parse_rendered(out.stdout, "tartware", "prod", "tartware")
    problems = [i for i in items if isinstance(i, Problem)]
    assert not problems, problems
    results = validate([i for i in items if isinstance(i, K8sObject)], locations)
    invalid = [
        (r.obj.ref, r.errors or r.message) for r in results if r.status in (Status.INVALID, Status.ERROR)
    ]
    assert not invalid, f"values {override} for {service} rendered invalid objects: {invalid}"


def test_the_schema_rejects_a_latest_tag() -> None:
    out = _render({"api-gateway": {"image": {"tag": "latest"}}})
    assert out.returncode != 0 and "values don't meet the specifications of the schema" in out.stderr
