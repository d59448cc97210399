"""YAML fidelity: scalars are typed as kubectl types them, and no scalar crashes the loader.

kubectl reads YAML with sigs.k8s.io/yaml (go-yaml v2 rules) and sends JSON: a bare `=` or `1:20`
is a string there (PyYAML's YAML 1.1 resolvers would refuse `=` and read `1:20` as 80), `y`
is true, `1e3` is a number, `.nan` has no JSON form (kubectl rejects the file). The fuzz tests
build manifests around scalars of every type and check the one invariant that matters: each
document is an object whose body is strict JSON, or exactly one clear problem.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.inventory import K8sObject, Problem, load_bytes
from conformance.inventory.loader import go_scalar

# value -> what sigs.k8s.io/yaml makes of the plain scalar (go-yaml v2 resolve rules)
GO_YAML: dict[str, Any] = {
    "=": "=",
    "1:20": "1:20",
    "2001-12-14": "2001-12-14",
    "2001-12-14t21:59:43.10-05:00": "2001-12-14t21:59:43.10-05:00",
    "0o17": 15,
    "017": 15,
    "08": 8.0,
    "0x1F": 31,
    "0b101": 5,
    "-0b101": -5,
    "+12": 12,
    "1_000": 1000,
    "1e3": 1000.0,
    ".5": 0.5,
    "-.5": -0.5,
    "0.": 0.0,
    "1.2.3": "1.2.3",
    "1e400": "1e400",  # out of float range: Go keeps the text
    "9223372036854775807": 2**63 - 1,
    "18446744073709551615": 2**64 - 1,
    "99999999999999999999": 1e20,
    "1" * 5000: "1" * 5000,  # past any float: a string, not Python's int-digits ValueError
    "-": "-",
    ".": ".",
}


@pytest.mark.parametrize(
    ("text", "value"), [(t, GO_YAML[t]) for t in sorted(GO_YAML)], ids=lambda v: str(v)[:20]
)
def test_plain_scalars_are_typed_as_kubectl_types_them(text: str, value: Any) -> None:
    assert go_scalar(text) == value and type(go_scalar(text)) is type(value)


def _doc(value: str, key: str = "k") -> bytes:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  {key}: {value}\n".encode()


def _one(data: bytes) -> K8sObject | Problem:
    items = load_bytes(data, "fuzz.yaml")
    assert len(items) == 1, items
    return items[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=", "="),
        ("y", True),
        ("No", False),
        ("off", False),
        ("~", None),
        ("!!binary aGVsbG8=", "hello"),
        ("!!timestamp 2001-12-14", "2001-12-14"),
        ("!!int 0x1F", 31),
        ("!!set {a, b}", {"a": None, "b": None}),
        ("!!omap [a: 1, b: 2]", [{"a": 1}, {"b": 2}]),
    ],
)
def test_yaml_1_1_documents_kubectl_accepts_load(value: str, expected: Any) -> None:
    obj = _one(_doc(value))
    assert isinstance(obj, K8sObject), obj
    assert obj.body["data"]["k"] == expected


def test_a_bare_equals_sign_as_in_a_prometheus_operator_crd_loads() -> None:
    crd = b"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: alertmanagerconfigs.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  names: {kind: AlertmanagerConfig, plural: alertmanagerconfigs}
  scope: Namespaced
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            matchType:
              enum:
                - '!='
                - =
                - =~
                - '!~'
              type: string
"""
    obj = _one(crd)
    assert isinstance(obj, K8sObject), obj
    prop = obj.body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["matchType"]
    assert prop["enum"] == ["!=", "=", "=~", "!~"]


def test_mapping_keys_become_json_strings() -> None:
    obj = _one(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: {1: a, true: b, 1.5: c}}\n")
    assert isinstance(obj, K8sObject)
    assert obj.labels == {"1": "a", "true": "b", "1.5": "c"}


@pytest.mark.parametrize("value", [".nan", "-.Inf", "!!float .inf", "!!float .NaN"])
def test_values_without_a_json_form_are_one_problem_naming_the_line(value: str) -> None:
    problem = _one(_doc(value))
    assert isinstance(problem, Problem)
    assert "at line 6 column 6 has no JSON form: kubectl rejects the document" in str(problem)
    assert str(problem).startswith("fuzz.yaml document 1")


def test_a_null_mapping_key_is_one_problem() -> None:
    problem = _one(_doc("1", key="~"))
    assert isinstance(problem, Problem) and "mapping key None" in str(problem)


def test_duplicate_keys_are_still_refused_also_across_spellings() -> None:
    problem = _one(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {yes: a, true: b}\n")
    assert isinstance(problem, Problem) and "duplicate key" in str(problem)
    merged = _one(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nbase: &b {k: 1}\ndata:\n  <<: *b\n  k: 2\n"
    )
    assert isinstance(merged, K8sObject) and merged.body["data"] == {"k": 2}, "a merge key may be overridden"


# -- fuzz: scalars of every type --------------------------------------------------------------

_NUMBERS = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    # past Python's int-digits limit (4300): such a number once crashed the loader
    st.tuples(st.integers(4301, 6000), st.sampled_from("-123456789")).map(lambda t: t[1] + "7" * t[0]),
    st.integers(min_value=0, max_value=2**80).map(lambda n: f"0x{n:x}"),
    st.integers(min_value=0, max_value=2**80).map(lambda n: f"0o{n:o}"),
    st.integers(min_value=0, max_value=2**80).map(lambda n: f"0b{n:b}"),
    st.integers(min_value=0, max_value=10**30).map(lambda n: f"0{n}"),
    st.integers(min_value=0, max_value=10**12).map(lambda n: f"{n:_}"),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.tuples(st.integers(-999, 999), st.integers(0, 10**6), st.integers(-99999, 99999)).map(
        lambda t: f"{t[0]}.{t[1]}e{t[2]}"
    ),
    st.text(alphabet="0123456789._:+-eExXoObB", min_size=1, max_size=40),
    st.sampled_from([".inf", "-.inf", "+.INF", ".nan", ".NaN", "1e999", "-1e-999", "0x", "0b", "1__0"]),
)
_TIMESTAMPS = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat(sep=" ") + " -5"),
    st.dates().map(str),
)
_WORDS = st.sampled_from(
    ["y", "Y", "n", "N", "yes", "No", "on", "OFF", "true", "False", "null", "~", "=", "<<", "NULL", "Nan"]
)
_BINARY = st.binary(max_size=64).map(lambda b: "!!binary " + base64.b64encode(b).decode())
_TAGGED = st.tuples(
    st.sampled_from(
        ["!!int", "!!float", "!!str", "!!bool", "!!null", "!!timestamp", "!!binary", "!!set", "!!foo"]
    ),
    st.one_of(_NUMBERS, _WORDS, _TIMESTAMPS, st.just("{a, b}"), st.just("[1, 2]")),
).map(lambda t: f"{t[0]} {t[1]}")
SCALARS = st.one_of(_NUMBERS, _TIMESTAMPS, _WORDS, _BINARY, _TAGGED)


def _check(data: bytes) -> None:
    for item in load_bytes(data, "fuzz.yaml"):
        if isinstance(item, Problem):
            text = str(item)
            assert text.startswith("fuzz.yaml document "), text
            assert "\n" not in text and "Traceback" not in text, text
            continue
        assert isinstance(item, K8sObject)
        # What the API server would receive: strict JSON (no NaN/Infinity, string keys only).
        json.dumps(item.body, allow_nan=False)
        assert _string_keys(item.body)


def _string_keys(node: Any) -> bool:
    if isinstance(node, dict):
        return all(isinstance(k, str) and _string_keys(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_string_keys(v) for v in node)
    return not isinstance(node, float) or math.isfinite(node)


@settings(max_examples=400, deadline=None)
@given(SCALARS)
def test_any_scalar_as_a_value_loads_or_is_one_problem(value: str) -> None:
    _check(_doc(value))
    _check(_doc(f"[{value}]"))


@settings(max_examples=300, deadline=None)
@given(SCALARS)
def test_any_scalar_as_a_key_or_a_field_loads_or_is_one_problem(value: str) -> None:
    _check(_doc("v", key=value))
    _check(
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: x}}\nspec:\n  replicas: {value}\n".encode()
    )
    _check(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {value}}}\n".encode())
