"""The floors of docs/ARCHITECTURE.md hold: no import runs up a floor, and no two modules import each other.

The floor table is read from docs/ARCHITECTURE.md itself (the document is the rule, so it cannot
drift from what is enforced); every import of the suite's own modules, at module level or inside a
function, is read with `ast` from the source.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.tools import REPO

PACKAGE = REPO / "conformance"
DOC = REPO / "docs" / "ARCHITECTURE.md"


def floors(doc: str) -> dict[str, int]:
    """Room -> floor number, from the table rows `| N name | `room`, `room` | ...`."""
    out: dict[str, int] = {}
    for number, rooms in re.findall(r"^\| (\d+) [^|]+\| ([^|]+) \|", doc, re.MULTILINE):
        for room in re.findall(r"`([\w.]+)`", rooms):
            out[room] = int(number)
    return out


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, known: set[str], text: str | None = None) -> Iterator[str]:
    """The suite's modules `path` imports (a `from pkg import sub` names the submodule); `text`
    stands in for the file's content."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text() if text is None else text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if full in known:
                    yield full
                elif target in known:
                    yield target


def upward_imports(known: dict[str, Path], rooms: dict[str, int], texts: dict[str, str]) -> list[str]:
    out = []
    for name, path in sorted(known.items()):
        here = room(name, rooms)
        for target in imports(path, set(known), texts.get(name)):
            there = room(target, rooms)
            if here and there and rooms[there] > rooms[here]:
                out.append(f"{name} (floor {rooms[here]}) imports {target} (floor {rooms[there]})")
    return out


def room(module: str, rooms: dict[str, int]) -> str:
    """The room a module lives in: `conformance.rules.security` -> `rules`."""
    parts = module.split(".")[1:]
    return parts[0] if parts and parts[0] in rooms else ""


def test_the_document_names_every_room() -> None:
    rooms = floors(DOC.read_text())
    assert rooms, f"no floor table in {DOC}"
    unplaced = sorted({m.split(".")[1] for m in modules() if "." in m} - set(rooms))
    assert not unplaced, f"modules in no room of {DOC.name}: {unplaced} (add them to the floor table)"


def test_no_import_runs_up_a_floor() -> None:
    upward = upward_imports(modules(), floors(DOC.read_text()), {})
    assert not upward, "imports that run up a floor:\n" + "\n".join(upward)


def cycles(known: dict[str, Path], texts: dict[str, str]) -> list[str]:
    graph = {name: set(imports(path, set(known), texts.get(name))) - {name} for name, path in known.items()}
    return sorted(f"{a} <-> {b}" for a, targets in graph.items() for b in targets if a < b and a in graph[b])


def test_no_two_modules_import_each_other() -> None:
    found = cycles(modules(), {})
    assert not found, "modules that import each other:\n" + "\n".join(found)


def test_a_cycle_is_caught() -> None:
    """The check can fail: the result cache importing the runner that imports it (as it once did)."""
    texts = {"conformance.schema.result_cache": "from .kubeconform import SchemaCheck\n"}
    assert cycles(modules(), texts) == ["conformance.schema.kubeconform <-> conformance.schema.result_cache"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from ..suites.static import conftest\n", "imports conformance.suites.static.conftest (floor 5)"),
        ("import conformance.report.summary\n", "imports conformance.report.summary (floor 4)"),
    ],
)
def test_an_upward_import_is_caught(source: str, expected: str) -> None:
    """The check can fail: a rule importing a tier's pytest files, or the reporting."""
    texts = {"conformance.rules.security": source}
    upward = upward_imports(modules(), floors(DOC.read_text()), texts)
    assert [f"conformance.rules.security (floor 2) {expected}"] == upward
