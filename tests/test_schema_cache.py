"""The static tier's caches: a warm re-run after a one-file change gives the verdicts of a cold
run, each cache is really read, and a new kubeconform build, other schemas or another loader
invalidate it (schema-stage results, the parsed objects of each plain file, and the positions of
findings in each file)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from conformance import cache
from conformance.inventory import load_bytes, parsed
from conformance.inventory import locate as locating
from conformance.schema import result_cache as schema_cache
from conformance.settings import Settings
from conformance.static import StaticRun, finding_key, run_static

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{i}, namespace: team-{ns}, labels: {{app.kubernetes.io/name: app-{i}}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app.kubernetes.io/name: app-{i}}}}}
  template:
    metadata: {{labels: {{app.kubernetes.io/name: app-{i}}}}}
    spec:
      containers: [{{name: app, image: "registry.example/app-{i}:1.0.0", ports: [{{containerPort: 8080}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: app-{i}, namespace: team-{ns}}}
spec: {{selector: {{app.kubernetes.io/name: app-{i}}}, ports: [{{port: 80, targetPort: 8080}}]}}
"""


def _corpus(folder: Path, files: int = 4) -> list[Path]:
    paths = []
    for f in range(files):
        path = folder / f"apps-{f}.yaml"
        path.write_text("---\n".join(APP.format(i=f * 3 + j, ns=j) for j in range(3)))
        paths.append(path)
    return paths


def _verdicts(run: StaticRun) -> list[Any]:
    schema = [
        (t.profile, r.obj.source.path, r.obj.source.document, r.obj.ref, r.status, r.errors, r.message)
        for t in run.targets
        for r in t.schema
    ]
    rules = sorted(
        (t.profile, o.rule.id, o.not_applicable or "", tuple(sorted(map(str, map(finding_key, o.findings)))))
        for t in run.targets
        for o in t.outcomes
    )
    return [schema, rules]


def _run(manifests: Path) -> StaticRun:
    return run_static(dataclasses.replace(Settings.from_env(), manifests=manifests))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(root))
    return root


def _entries(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json"))


def test_one_file_change_gives_the_cold_verdicts(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = tmp_path / "in"
    manifests.mkdir()
    paths = _corpus(manifests)
    _run(manifests)  # fills the cache
    assert len(_entries(store)) == len(paths)
    # One file changes, and its change fails the schema: the warm run must see it.
    paths[1].write_text(paths[1].read_text().replace("replicas: 2", "replicas: two", 1))
    warm = _run(manifests)
    assert len(_entries(store)) == len(paths) + 1  # only the changed file was checked again
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    cold = _run(manifests)
    assert _verdicts(warm) == _verdicts(cold)
    assert any(r.status.value == "invalid" for t in warm.targets for r in t.schema)


def _poison(root: Path) -> None:
    """Every cached entry says its objects are invalid: a run that reads the cache says so too."""
    for entry in _entries(root):
        stored = json.loads(entry.read_text())
        entry.write_text(
            json.dumps([{**e, "status": "statusInvalid", "msg": "from the cache"} for e in stored])
        )


def _statuses(run: StaticRun) -> set[str]:
    return {r.status.value for t in run.targets for r in t.schema}


@pytest.mark.parametrize("change", ["none", "tool", "schemas"])
def test_cache_is_read_and_invalidated(
    change: str, tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = tmp_path / "in"
    manifests.mkdir()
    _corpus(manifests, files=2)
    assert _statuses(_run(manifests)) == {"valid"}
    _poison(store)
    if change == "tool":
        monkeypatch.setattr(schema_cache, "tool_identity", lambda: "kubeconform of another version")
    elif change == "schemas":
        real = schema_cache.locations_identity
        monkeypatch.setattr(
            schema_cache, "locations_identity", lambda locations: real(locations) + "|other schemas"
        )
    statuses = _statuses(_run(manifests))
    assert statuses == ({"invalid"} if change == "none" else {"valid"})


def test_switched_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    manifests = tmp_path / "in"
    manifests.mkdir()
    _corpus(manifests, files=1)
    assert _statuses(_run(manifests)) == {"valid"}
    assert not (tmp_path / "home").exists()


def test_a_schema_rewritten_in_place_is_a_new_key(tmp_path: Path) -> None:
    folder = tmp_path / "crds" / "example.com"
    folder.mkdir(parents=True)
    schema = folder / "widget_v1.json"
    schema.write_text('{"type": "object"}')
    before = schema_cache._tree_stamp(tmp_path / "crds")
    parent_mtime = folder.stat().st_mtime_ns
    schema.write_text('{"type": "object", "required": ["spec"]}')  # the folder's own mtime stays
    assert folder.stat().st_mtime_ns == parent_mtime
    assert schema_cache._tree_stamp(tmp_path / "crds") != before


# --- the parsed-objects cache (inventory/parsed.py) ------------------------------------------


def _parsed(root: Path) -> list[Path]:
    return sorted(root.rglob(f"*{parsed.SUFFIX}"))


def test_parsed_cache_gives_what_parsing_gives(tmp_path: Path, store: Path) -> None:
    """Objects, problems, sources and bodies from the cache equal a fresh parse, for every kind of
    input the loader words a problem for (broken YAML, duplicate keys, no objects, numbers)."""
    files = {
        "ok.yaml": "---\n".join(APP.format(i=i, ns=i) for i in range(2)),
        "broken.yaml": "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x\n",
        "dup.yaml": "kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\nmetadata: {name: b}\n",
        "empty.yaml": "# nothing here\n",
        "scalars.yaml": "kind: ConfigMap\napiVersion: v1\nmetadata: {name: n}\n"
        "data: {a: =, b: 1e3, c: 0x1F}\n",
        "values.yaml": "replicaCount: 2\nimage: {tag: x}\n",
    }
    store_ = parsed.ParsedCache.open()
    assert store_ is not None
    for name, text in files.items():
        data = text.encode()
        fresh = load_bytes(data, name)
        assert store_.load(data, name) == fresh  # a miss: parsed, then written
        assert store_.load(data, name) == fresh  # a hit: read back
    assert store_.hits == store_.misses == len(files)
    assert len(_parsed(store)) == len(files)


def test_parsed_cache_is_read_and_invalidated(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = tmp_path / "in"
    manifests.mkdir()
    paths = _corpus(manifests, files=2)
    cold = _run(manifests)
    # Every entry now says its objects are in another namespace: a run reading the cache says so.
    for entry in _parsed(store):
        entry.write_text(entry.read_text().replace('"namespace": "team-', '"namespace": "cached-'))
    objects = _run(manifests).targets[0].inventory.objects
    assert {o.namespace for o in objects if not o.provided} == {"cached-0", "cached-1", "cached-2"}
    # A changed file, a new loader or other limits are parsed again: the cold verdicts.
    paths[0].write_text(paths[0].read_text() + "\n")
    monkeypatch.setattr(parsed, "loader_identity", lambda: "another loader")
    assert _verdicts(_run(manifests)) == _verdicts(cold)
    for entry in _parsed(store):
        entry.write_text("{not json")
    monkeypatch.setattr(parsed, "loader_identity", lambda: "a corrupt cache")
    assert _verdicts(_run(manifests)) == _verdicts(cold)


# --- the positions of findings (inventory/locate.py) ------------------------------------------


def _positions(run: StaticRun) -> list[tuple[str, str]]:
    return sorted(
        (str(finding_key(f)), str(f.location)) for t in run.targets for o in t.outcomes for f in o.findings
    )


def _position_entries(root: Path) -> list[Path]:
    return sorted(root.rglob("*.positions"))


def test_positions_from_the_cache_are_the_composed_ones(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = tmp_path / "in"
    manifests.mkdir()
    paths = _corpus(manifests, files=2)
    first = _run(manifests)
    assert _positions(first) and all(":" in where for _, where in _positions(first))
    assert len(_position_entries(store)) == len(paths)
    # Every stored position now says line 999: a run that reads the cache says so.
    for entry in _position_entries(store):
        stored = json.loads(entry.read_text())
        entry.write_text(json.dumps({key: [999, 1] for key in stored}))
    assert {where.split(":")[1] for _, where in _positions(_run(manifests))} == {"999"}
    # A file gains two lines on top: it is located again (its positions move), the other is read.
    paths[0].write_text("# moved\n# down\n" + paths[0].read_text())
    moved = _run(manifests)
    lines: dict[str, set[str]] = {}
    for _, where in _positions(moved):
        path, line = where.split(":")[:2]
        lines.setdefault(path, set()).add(line)
    assert lines[f"in/{paths[1].name}"] == {"999"}
    assert "999" not in lines[f"in/{paths[0].name}"]
    # Another locator is a new key: every position composed again, as a run without the cache.
    monkeypatch.setattr(locating, "_locator_identity", lambda: b"another locator")
    located = _positions(_run(manifests))
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    assert located == _positions(_run(manifests))


# --- rules that ignore the profile run once when every profile has the same objects ----------


def test_profile_free_rules_run_once_with_the_verdicts_of_running_each_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain files under the platform's policy: prod and ci have the same objects, and some rules
    read the profile (HPA bounds per profile). Sharing gives exactly the per-profile verdicts."""
    import conformance.static as static_module
    from conformance.rules import evaluate
    from conformance.tools import REPO

    manifests = tmp_path / "in"
    manifests.mkdir()
    (manifests / "slice.yaml").write_bytes((REPO / "fixtures" / "rules" / "platform-slice.yaml").read_bytes())
    settings = dataclasses.replace(
        Settings.from_env(),
        manifests=manifests,
        policy=REPO / "manifests" / "policy.yaml",
        profiles=("prod", "ci"),
    )
    shared = run_static(settings)
    monkeypatch.setattr(static_module, "evaluate_profiles", lambda contexts: [evaluate(c) for c in contexts])
    each = run_static(settings)
    assert _verdicts(shared) == _verdicts(each)
    prod, ci = shared.targets
    same = [a.rule.id for a, b in zip(prod.outcomes, ci.outcomes, strict=True) if a is b]
    rerun = [a for a, b in zip(prod.outcomes, ci.outcomes, strict=True) if a is not b]
    assert same, "no rule was shared"
    assert any(
        set(map(finding_key, a.findings)) != set(map(finding_key, b.findings))
        for a, b in zip(prod.outcomes, ci.outcomes, strict=True)
        if a is not b
    ), f"no re-run rule judged the profiles differently ({[o.rule.id for o in rerun]})"
