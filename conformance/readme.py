"""README.md blocks generated from the code, so no list is typed twice (`make catalogue` writes them).

A block sits between `<!-- generated: NAME -->` and `<!-- end: NAME -->`; everything else in the
README is prose. tests/test_catalogue.py fails when a block is stale.

    text = sync(README.read_text())      # the README with every block regenerated
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from .settings import OPTIONS
from .tools import REPO

README = REPO / "README.md"


def options_table() -> str:
    """Every option of settings.OPTIONS: flag, env var, default, what it does."""
    lines = ["| flag | env var | default | what |", "|---|---|---|---|"]
    for opt in OPTIONS:
        default = opt.default or "-"
        if default.startswith(str(REPO)):  # shown as the repo-relative path a user sees
            default = default.removeprefix(str(REPO) + "/") + "/"
        what = opt.help.replace("|", "\\|")
        lines.append(f"| `{opt.flag}` | `{opt.env}` | `{default}` | {what} |")
    return "\n".join(lines)


def rule_count() -> str:
    from .rules import load_all

    rules = load_all()
    families = sorted({r.family for r in rules.values()})
    return f"{len(rules)} rules in {len(families)} families ({', '.join(families)})"


CRD_SOURCES = REPO / "tools" / "go" / "crds"
_HOW = {
    "controller-gen": "controller-gen over the API types",
    "program": "a Go program reading the module's embedded CRDs",
    "module-files": "the CRD files upstream ships in the module's zip",
}


def _env(path: Path) -> dict[str, str]:
    """A generate.env's plain KEY="value" lines (the shell reads the same file)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if re.match(r"^[A-Z_]+=", line))
    return {key: value.strip('"') for key, value in pairs}


def crd_sources() -> str:
    """Every CRD source tools/build-crds.sh builds: folder, pinned modules, how, which files."""
    lines = ["| source | pinned modules | made by |", "|---|---|---|"]
    for folder in sorted(p for p in CRD_SOURCES.iterdir() if (p / "generate.env").is_file()):
        env = _env(folder / "generate.env")
        direct = re.findall(r"^\s*(?:require\s+)?(\S+) (v\S+)$", (folder / "go.mod").read_text(), re.M)
        modules = ", ".join(f"`{m}@{v}`" for m, v in direct)
        how = _HOW.get(env.get("GENERATOR", ""), env.get("GENERATOR", "?"))
        if env.get("CRD_FILES"):
            how += f" (`{env['CRD_FILES']}`)"
        lines.append(f"| `{folder.name}` | {modules} | {how} |")
    return "\n".join(lines)


def pod_operators() -> str:
    """The baseline's `pod_operators` table: custom kind -> labels its operator's pods carry."""
    from .policy import load_policy

    lines = ["| custom kind | its pods carry |", "|---|---|"]
    for op in load_policy(None).pod_operators:
        carried = [f"`{key}: {value}`" for key, value in op.labels.items()]
        carried += [f"the labels in `{path}`" for path in op.labels_from]
        lines.append(f"| `{op.group}` {op.kind} | {', '.join(carried)} |")
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[], str]] = {
    "options": options_table,
    "rule-count": rule_count,
    "crd-sources": crd_sources,
    "pod-operators": pod_operators,
}


def sync(text: str) -> str:
    """`text` with each generated block replaced by its current content (a missing block is an error)."""
    for name, make in BLOCKS.items():
        found = re.search(rf"<!-- generated: {name} -->(.*?)<!-- end: {name} -->", text, re.DOTALL)
        if found is None:
            raise ValueError(f"README.md has no block <!-- generated: {name} --> ... <!-- end: {name} -->")
        body = make()
        body = f"\n{body}\n" if "\n" in body else body  # a table on lines of its own, a phrase inline
        text = text[: found.start(1)] + body + text[found.end(1) :]
    return text


def write() -> None:
    README.write_text(sync(README.read_text()))
