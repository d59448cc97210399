"""Hostile inputs: each gives one clear finding naming the file (and document/field), never a traceback.

The corpus is fixtures/hostile/; huge files are generated here. Files that load
as objects must be caught by the schema stage (kubeconform) instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.inventory import Inventory, K8sObject, Limits, Problem, build_inventory, load_bytes
from conformance.schema.kubeconform import Status, validate
from conformance.schema.locations import SchemaLocations
from conformance.settings import Settings
from conformance.tools import REPO

CORPUS = REPO / "fixtures" / "hostile"

# file -> regex the (first) problem or schema message must match
EXPECTED_PROBLEM = {
    "broken-indentation.yaml": r"invalid YAML: .*line 5",
    "unclosed-flow-sequence.yaml": r"invalid YAML: while parsing a flow sequence",
    "tab-indentation.yaml": r"invalid YAML: .*tab",
    "yaml-bomb-billion-laughs.yaml": r"expands to more than .* nodes \(alias explosion",
    "recursive-alias.yaml": r"recursive alias",
    "undefined-alias.yaml": r"undefined alias",
    "duplicate-key-top-level.yaml": r"duplicate key 'kind' at line 3",
    "duplicate-key-in-labels.yaml": r"duplicate key 'app' at line 7",
    "missing-kind.yaml": r"missing kind",
    "missing-apiversion.yaml": r"missing apiVersion",
    "kind-is-a-number.yaml": r"kind must be a non-empty string, got a number",
    "metadata-is-a-list.yaml": r"metadata must be a mapping, got a list",
    "name-missing.yaml": r"metadata.name must be a non-empty string, got nothing",
    "name-is-a-number.yaml": r"metadata.name must be a non-empty string, got a number",
    "namespace-is-a-mapping.yaml": r"metadata.namespace must be a string, got a mapping",
    "document-is-a-list.yaml": r"a manifest must be a mapping, got a list",
    "document-is-a-scalar.yaml": r"a manifest must be a mapping, got a string",
    "empty.yaml": r"no Kubernetes objects in this file",
    "only-comments.yaml": r"no Kubernetes objects in this file",
    "binary-nul-bytes.yaml": r"binary content",
    "non-utf8-latin1.yaml": r"\(line 3\): not valid UTF-8 at byte 51",
    "utf16-with-bom.yaml": r"UTF-16 encoded",
    "control-character.yaml": r"control characters are not allowed",
    "python-object-tag.yaml": r"could not determine a constructor for the tag .*python/object",
    "unhashable-key.yaml": r"unhashable mapping key",
    "bad-escape.yaml": r"unknown escape character",
    "deep-nesting.yaml": r"nesting deeper than 200 levels|exceeded maximum nesting depth",
    "list-without-items.yaml": r"a List must have an `items` array",
    "list-with-bad-item.yaml": r"missing apiVersion",
    "second-document-broken.yaml": r"document 2 .*invalid YAML",
    "truncated.json": r"invalid YAML: .*",
    "json-array-top-level.json": r"a manifest must be a mapping, got a list",
}
EXPECTED_SCHEMA = {
    "wrong-type-replicas.yaml": (Status.INVALID, r"spec.replicas: got string, want null or integer"),
    "unknown-field-strict.yaml": (Status.INVALID, r"spec: additional properties 'replica' not allowed"),
    "unknown-crd-kind.yaml": (Status.SKIPPED, r"no schema for widgets.example.com/v1 Widget"),
    "unknown-core-kind.yaml": (Status.SKIPPED, r"no schema for v1 Deploymnet"),
}


def _load(name: str) -> list[K8sObject | Problem]:
    return load_bytes((CORPUS / name).read_bytes(), f"fixtures/hostile/{name}")


def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in CORPUS.iterdir()}
    assert on_disk == set(EXPECTED_PROBLEM) | set(EXPECTED_SCHEMA), "every hostile file needs an expectation"
    assert len(on_disk) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED_PROBLEM))
def test_hostile_file_gives_a_clear_problem(name: str) -> None:
    problems = [i for i in _load(name) if isinstance(i, Problem)]
    assert problems, f"{name} loaded without a problem"
    text = str(problems[0]) if name != "second-document-broken.yaml" else str(problems[-1])
    assert text.startswith(f"fixtures/hostile/{name} document "), (
        f"problem must name file and document: {text}"
    )
    assert re.search(EXPECTED_PROBLEM[name], text), f"{text!r} does not match {EXPECTED_PROBLEM[name]!r}"
    assert "Traceback" not in text and "\n" not in text, "one line, no traceback"


@pytest.fixture(scope="module")
def locations() -> SchemaLocations:
    return SchemaLocations.from_settings(Settings.from_env({}))


@pytest.mark.parametrize("name", sorted(EXPECTED_SCHEMA))
def test_schema_stage_catches_what_loads(name: str, locations: SchemaLocations) -> None:
    objects = [i for i in _load(name) if isinstance(i, K8sObject)]
    assert len(objects) == 1
    (result,) = validate(objects, locations)
    status, pattern = EXPECTED_SCHEMA[name]
    text = "; ".join(f"{e.path}: {e.message}" for e in result.errors) or result.message
    assert result.status is status, f"{name}: {result.status} {text}"
    assert re.search(pattern, text), f"{text!r} does not match {pattern!r}"


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "huge.yaml"
    big.write_bytes(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n" + b"  k: " + b"v" * 3_000_000 + b"\n"
    )
    inv = build_inventory(tmp_path, "prod", limits=Limits(max_file_bytes=1_000_000))
    assert not inv.objects
    assert re.search(
        r"huge\.yaml document 1: file is 3,000,0\d\d bytes, over the 1,000,000-byte limit",
        str(inv.problems[0]),
    )


def test_missing_manifests_path_is_a_problem(tmp_path: Path) -> None:
    inv = build_inventory(tmp_path / "nope", "prod")
    assert "manifests path does not exist" in str(inv.problems[0])


def test_broken_chart_names_the_chart(tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "broken"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: broken\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.nope.deeper }}\n"
    )
    inv: Inventory = build_inventory(tmp_path, "prod")
    assert len(inv.problems) == 1
    assert re.search(r"charts/broken .*chart does not render: .*nil pointer", str(inv.problems[0]))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_loader_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    for item in load_bytes(data, "fuzz.yaml"):
        assert isinstance(item, K8sObject | Problem)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}[]:-,&*!|>'\"#? \n\tab1")), max_size=400))
def test_loader_never_crashes_on_yaml_like_text(text: str) -> None:
    for item in load_bytes(text.encode(), "fuzz.yaml"):
        assert isinstance(item, K8sObject | Problem)
