"""Where a finding's field is on disk: file, line and column, computed lazily.

Loading keeps only each document's first line (cheap); only when a finding is
reported is its document composed again (one document, from that line) and the
field path walked through the node tree:

    locate(obj, "spec.template.spec.containers[0].image")
    # -> Location("manifests/app.yaml", line=21, column=11)

Chart objects point at their template file (through helm's `# Source:`), where
templates are not YAML: the line is a best guess by searching the field's keys
in order. Kustomize objects point at the file of the resource they were built
from (found by kind and name among the files the kustomization reads).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..cache import cache_root, entry_path, write_entry
from .loader import is_list_kind
from .model import K8sObject
from .render import display

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INDEX = re.compile(r"\[([^\]]*)\]")  # [0], [*] or [name] (rules name list items by their name)


@dataclass(frozen=True)
class Location:
    path: str  # as shown (relative to the folder above --manifests)
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    disk: Path | None = None  # the file itself, when it exists on disk

    def __str__(self) -> str:
        if self.line is None:
            return self.path
        return f"{self.path}:{self.line}" + (f":{self.column}" if self.column else "")


def locate(obj: K8sObject, field: str | None = None) -> Location:
    """The best position of `field` (a finding's dotted path) of `obj`; never raises.

    Remembered per object and field: profiles sharing a plain file share its objects.
    """
    key = f"location:{field}"
    found = obj.memo.get(key)
    if found is None:
        found = obj.memo[key] = _locate(obj, field)
    located: Location = found
    return located


def _locate(obj: K8sObject, field: str | None) -> Location:
    origin = obj.origin
    fallback = Location(obj.source.path, obj.source.line)
    if origin is None:
        return fallback
    try:
        if origin.kind == "file":
            found = _in_document(origin.disk, obj.source.line or 1, obj, field)
            return Location(origin.label, *found, disk=origin.disk) if found else fallback
        if origin.kind == "template":
            if not origin.disk.is_file() or origin.disk.suffix == ".tgz":
                return Location(origin.label, disk=origin.disk if origin.disk.exists() else None)
            path, line, column = _in_template(origin.disk, obj, field)
            return Location(_template_label(origin.label, origin.disk, path), line, column, disk=path)
        if origin.kind == "kustomize":
            return _in_kustomization(origin.files, origin.label, origin.base, obj, field)
    except (OSError, yaml.YAMLError, ValueError, RecursionError):
        return fallback
    return fallback


@functools.lru_cache(maxsize=64)
def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig", errors="replace")


@functools.lru_cache(maxsize=256)
def _document(path: Path, line: int) -> yaml.Node | None:
    """The node tree of the document whose root starts at `line` (1-based).

    Only that document's text is composed: from its line to the next document marker (a
    marker at column 0 always ends a document), so locating every object of a file costs
    one pass over it, not one pass per object. If the cut text does not compose, the rest
    of the file is tried, as before.
    """
    text, starts = _lines(path)
    if line > len(starts):
        return None
    begin = starts[line - 1]
    nxt = _MARKER.search(text, starts[line] if line < len(starts) else len(text))
    pad = "\n" * (line - 1)  # keep line numbers as in the file
    if nxt is not None:
        node = _first_node(pad + text[begin : nxt.start()])
        if node is not None:
            return node
    return _first_node(pad + text[begin:])


_MARKER = re.compile(r"^(?:---|\.\.\.)(?:[ \t\r]|$)", re.MULTILINE)


@functools.lru_cache(maxsize=64)
def _lines(path: Path) -> tuple[str, list[int]]:
    """A file's text and the offset where each of its lines starts."""
    text = _text(path)
    starts = [0]
    starts += [m.end() for m in re.finditer("\n", text)]
    return text, starts


class _PositionLoader(_Loader):  # type: ignore[valid-type,misc]
    """Composes nodes for their positions and keys only: no tag resolution (most of the cost)."""

    def resolve(self, kind: type, value: object, implicit: object) -> str:
        return ""


def _first_node(chunk: str) -> yaml.Node | None:
    loader = _PositionLoader(chunk)
    try:
        node: yaml.Node | None = loader.get_node() if loader.check_node() else None
        return node
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()


def _in_document(path: Path, line: int, obj: K8sObject, field: str | None) -> tuple[int, int] | None:
    store = _stored(path)
    key = f"{line}\0{obj.kind}\0{obj.metadata.get('namespace') or ''}\0{obj.name}\0{field or ''}"
    if store is not None and key in store.found:
        hit = store.found[key]
        return (hit[0], hit[1]) if hit else None
    found = _compose_and_walk(path, line, obj, field)
    if store is not None:
        store.found[key] = list(found) if found else None
        store.dirty = True
    return found


def _compose_and_walk(path: Path, line: int, obj: K8sObject, field: str | None) -> tuple[int, int] | None:
    node = _document(path, line)
    if node is None:
        return None
    node = _list_item(node, obj)
    return _walk(node, field or "")


@dataclass
class _Stored:
    """The positions found so far in one file content (a static cache entry)."""

    where: Path
    found: dict[str, list[int] | None] = field(default_factory=dict)
    dirty: bool = False


_STORES: dict[Path, _Stored | None] = {}


@functools.cache
def _locator_identity() -> bytes:
    """This module and the YAML parser: a change to either is a new key."""
    return f"{yaml.__version__}:{yaml.__with_libyaml__}\0".encode() + Path(__file__).read_bytes()


def _stored(path: Path) -> _Stored | None:
    """The cache entry of a file's current content (None: the cache is off)."""
    if path in _STORES:
        return _STORES[path]
    root = cache_root()
    store = None
    if root is not None:
        store = _Stored(entry_path(root, _locator_identity(), _text(path).encode(), ".positions"))
        try:
            loaded = json.loads(store.where.read_text())
            if isinstance(loaded, dict):
                store.found = loaded
        except (OSError, ValueError):
            pass  # a miss: absent or unreadable
    _STORES[path] = store
    return store


def save_positions() -> None:
    """Write the positions found since the last save (after a run's findings are located), and
    forget the files read: they may change before the next run in this process."""
    for store in _STORES.values():
        if store is not None and store.dirty:
            write_entry(store.where, json.dumps(store.found, separators=(",", ":")))
    _STORES.clear()
    for cached in (_text, _lines, _document, _identities):
        cached.cache_clear()


def _items(node: yaml.Node) -> list[yaml.Node]:
    """The items of a list document (`List`, `ConfigMapList`, ...), as the loader expands them."""
    items = _child(node, "items")
    if not is_list_kind(_scalar(_child(node, "kind"))) or not isinstance(items, yaml.SequenceNode):
        return []
    return list(items.value)


def _list_item(node: yaml.Node, obj: K8sObject) -> yaml.Node:
    """Inside a list document, the item that is `obj`: by kind and name, and by namespace among
    namesakes (a RoleBindingList often binds one name in several namespaces; a kustomize build
    may have set the namespace, so a namesake in no namespace is still the item)."""
    same = [
        item
        for item in _items(node)
        if _scalar(_child(item, "kind")) == obj.kind
        and _scalar(_child(_child(item, "metadata"), "name")) == obj.name
    ]
    namespace = obj.metadata.get("namespace")
    return next(
        (i for i in same if _scalar(_child(_child(i, "metadata"), "namespace")) == namespace),
        same[0] if same else node,
    )


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                value: yaml.Node = v
                return value
    return None


def _scalar(node: yaml.Node | None) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def _walk(node: yaml.Node, field: str) -> tuple[int, int]:
    """Follow `field` as far as the document has it; the position of the deepest part found.

    Keys may contain dots (label keys such as app.kubernetes.io/name): at each mapping the
    longest key that the rest of the path starts with wins.
    """
    best = (node.start_mark.line + 1, node.start_mark.column + 1)
    rest = field
    while rest:
        rest = rest.lstrip(".")
        if isinstance(node, yaml.SequenceNode):
            match = _INDEX.match(rest)
            item = _item(node, match.group(1)) if match else None
            if match is None or item is None:
                return best
            node = item
            best = (node.start_mark.line + 1, node.start_mark.column + 1)
            rest = rest[match.end() :]
            continue
        if not isinstance(node, yaml.MappingNode):
            return best
        chosen = None
        for key, value in _pairs(node):
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else None
            matches = bool(name) and (rest == name or rest.startswith((f"{name}.", f"{name}[")))
            if matches and (chosen is None or len(str(name)) > len(str(chosen[0].value))):
                chosen = (key, value)
        if chosen is None:
            return best
        key, node = chosen
        best = (key.start_mark.line + 1, key.start_mark.column + 1)
        rest = rest[len(str(key.value)) :]
    return best


def _is_merge(key: yaml.Node) -> bool:
    """A merge key: a plain `<<` (this module's loader resolves no tags, so by its spelling)."""
    return isinstance(key, yaml.ScalarNode) and key.value == "<<" and not key.style


def _pairs(node: yaml.MappingNode, seen: frozenset[int] = frozenset()) -> list[tuple[yaml.Node, yaml.Node]]:
    """A mapping's own key/value pairs, then those it merges (`<<: *base`, `<<: [*a, *b]`): a
    field that only a merge gives points at the merged mapping's line."""
    own = [(k, v) for k, v in node.value if not _is_merge(k)]
    names = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
    seen |= {id(node)}
    for key, value in node.value:
        if _is_merge(key):
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                if isinstance(source, yaml.MappingNode) and id(source) not in seen:
                    own += [(k, v) for k, v in _pairs(source, seen) if k.value not in names]
    return own


def _item(node: yaml.SequenceNode, index: str) -> yaml.Node | None:
    """The list item `index` names: a position, or the item whose `name` is index."""
    if index.isdigit():
        return node.value[int(index)] if int(index) < len(node.value) else None
    for item in node.value:
        if _scalar(_child(item, "name")) == index:
            found: yaml.Node = item
            return found
    return None


def _keys(field: str | None) -> list[str]:
    return [k for k in _INDEX.sub(".", field or "").split(".") if k and k != "*"]


_INCLUDE = re.compile(r"""\{\{-?\s*(?:include|template)\s+["`]([^"`]+)["`]""")
_DEFINE = re.compile(r"""\{\{-?\s*define\s+["`]([^"`]+)["`]""")


def _in_template(path: Path, obj: K8sObject, field: str | None) -> tuple[Path, int, int]:
    """Best guess in a template (not YAML): the field's keys searched in order from the object's
    kind. Where a key is not written in the template but a named template is included inside the
    block reached so far (`{{ include "app.containers" . }}`), the search goes on in the file
    that defines it (a chart's `_helpers.tpl`), so the finding points at the definition."""
    lines = _text(path).split("\n")
    start = next(
        (i for i, text in enumerate(lines) if re.match(rf"\s*kind:\s*['\"]?{re.escape(obj.kind)}\b", text)), 0
    )
    keys = _keys(field)
    best = (path, start + 1, 1)
    at, end = start, len(lines)
    for n, key in enumerate(keys):
        # The first key anywhere after `kind:`; each next one inside the block of the one before.
        hit = _key_line(lines, key, at, end if n == 0 else _block_end(lines, at, end))
        if hit is None:
            include = _include_in_block(lines, at, end)
            if include is None:
                continue
            line, name = include
            best = (path, line + 1, _indent(lines[line]) + 1)
            defined = _definition(path, name)
            if defined is None:
                return best
            path, lines, at, end = defined[0], _text(defined[0]).split("\n"), defined[1], defined[2]
            hit = _key_line(lines, key, at, end)
            if hit is None:
                return (path, at + 1, 1)
        best = (path, hit + 1, _key_column(lines[hit], key))
        at = hit
    return best


def _key_line(lines: list[str], key: str, start: int, end: int) -> int | None:
    pattern = re.compile(rf"^(\s*(?:-\s+)?){re.escape(key)}\s*:")
    return next((i for i in range(start, end) if pattern.match(lines[i])), None)


def _key_column(text: str, key: str) -> int:
    match = re.match(rf"^(\s*(?:-\s+)?){re.escape(key)}\s*:", text)
    return (len(match.group(1)) if match else 0) + 1


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _block_end(lines: list[str], at: int, end: int) -> int:
    """The line after the block that starts at line `at`: the next line indented no deeper
    (template directives such as `{{- if }}` at the margin do not end it)."""
    depth = _indent(lines[at])
    for i in range(at + 1, end):
        text = lines[i]
        if text.strip() and not text.lstrip().startswith(("{{", "#")) and _indent(text) <= depth:
            return i
    return end


def _include_in_block(lines: list[str], at: int, end: int) -> tuple[int, str] | None:
    """The first `include`/`template` of a named template inside the block that starts at line
    `at` (on that line itself, or in the lines indented deeper after it)."""
    for i in range(at, _block_end(lines, at, end)):
        if (match := _INCLUDE.search(lines[i])) is not None:
            return i, match.group(1)
    return None


def _definition(template: Path, name: str) -> tuple[Path, int, int] | None:
    """(file, first line, end line) of `{{ define "name" }}` in the chart's templates (subcharts
    included), or None."""
    chart = next((d for d in template.parents if (d / "Chart.yaml").is_file()), None)
    if chart is None:
        return None
    for candidate in sorted(chart.rglob("*")):
        if not candidate.is_file() or "templates" not in candidate.relative_to(chart).parts:
            continue
        try:
            lines = _text(candidate).split("\n")
        except (OSError, UnicodeDecodeError):
            continue
        for i, text in enumerate(lines):
            match = _DEFINE.search(text)
            if match is not None and match.group(1) == name:
                following = (j for j in range(i + 1, len(lines)) if _DEFINE.search(lines[j]))
                return candidate, i, next(following, len(lines))
    return None


def _template_label(origin_label: str, template: Path, found: Path) -> str:
    """`found` shown as the template's label shows it (same folder above the chart)."""
    chart = next((d for d in template.parents if (d / "Chart.yaml").is_file()), None)
    if chart is None or found == template:
        return origin_label
    rel = template.relative_to(chart).as_posix()
    prefix = origin_label[: -len(rel)] if origin_label.endswith(rel) else ""
    return prefix + found.relative_to(chart).as_posix()


def _in_kustomization(
    files: tuple[Path, ...], label: str, base: Path | None, obj: K8sObject, field: str | None
) -> Location:
    """The resource file a kustomize build took `obj` from: same kind, name equal or prefixed/suffixed."""
    candidates = []
    for path in files:
        for line, kind, name in _identities(path):
            if kind == obj.kind and name and name in obj.name:
                candidates.append((name != obj.name, -len(name), path, line))
    if not candidates:
        return Location(label)
    _, _, path, line = min(candidates)
    found = _in_document(path, line, obj, field)
    shown = display(path, base) if base is not None else str(path)
    at_line, column = found or (line, None)
    return Location(shown, at_line, column, disk=path)


@functools.lru_cache(maxsize=256)
def _identities(path: Path) -> tuple[tuple[int, str, str], ...]:
    """(first line of its document, kind, metadata.name) of each object of a YAML file (each item
    of a list document too: the document's line, from which `_list_item` finds the item)."""
    out = []
    try:
        for node in yaml.compose_all(_text(path), Loader=_Loader):
            for item in _items(node) or [node]:
                if isinstance(item, yaml.MappingNode):
                    kind = _scalar(_child(item, "kind")) or ""
                    name = _scalar(_child(_child(item, "metadata"), "name")) or ""
                    out.append((node.start_mark.line + 1, kind, name))
    except yaml.YAMLError:
        pass
    return tuple(out)
