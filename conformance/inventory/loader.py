"""Safe, bounded loading of YAML/JSON bytes into objects or problems.

Never raises on bad input: every problem becomes a `Problem` naming the file,
the document and (where known) the field. Bounds: file size, binary content,
encoding, duplicate keys, alias expansion (YAML bombs), nesting depth.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from .model import K8sObject, Problem, Source

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Limits:
    """Bounds on one input file; each has a CLI flag and env var in settings."""

    max_file_bytes: int = 20 * 1024 * 1024
    # Nodes after expanding aliases: a billion-laughs document is rejected
    # long before anything downstream (JSON dumps, rules) expands it.
    max_expanded_nodes: int = 2_000_000
    max_depth: int = 200


DEFAULT_LIMITS = Limits()


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: str, line: int, path: str) -> None:
        super().__init__(f"duplicate key {key!r} at line {line}")
        self.key, self.line, self.path = key, line, path


class StrictLoader(_Loader):  # type: ignore[valid-type,misc]
    """Safe loader that rejects duplicate mapping keys (YAML 1.2 forbids them)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "found an unhashable mapping key", key_node.start_mark
                ) from None
            if key in seen and key != "<<":
                raise _DuplicateKey(str(key), key_node.start_mark.line + 1, "")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


# Timestamps stay strings (JSON-compatible objects, like the API server sees them).
StrictLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in _Loader.yaml_implicit_resolvers.items()
}


class _RecursiveAlias(Exception):
    pass


def _expanded_size(root: Any, limits: Limits) -> tuple[int, int]:
    """(node count with aliases expanded, max depth), memoised by identity.

    Shared sub-trees (what aliases produce) are counted once per reference
    without walking them again, so a YAML bomb costs O(distinct nodes).
    Raises _RecursiveAlias for a node that contains itself.
    """
    memo: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def walk(node: Any, depth: int) -> tuple[int, int]:
        if depth > limits.max_depth:
            return (1, depth)
        if not isinstance(node, dict | list):
            return (1, 0)
        cached = memo.get(id(node))
        if cached is not None:
            return cached
        if id(node) in active:
            raise _RecursiveAlias
        active.add(id(node))
        children = node.values() if isinstance(node, dict) else node
        total, deepest = 1, 0
        for child in children:
            size, child_depth = walk(child, depth + 1)
            total += size
            deepest = max(deepest, child_depth + 1)
            if total > limits.max_expanded_nodes:
                break
        active.discard(id(node))
        memo[id(node)] = (total, deepest)
        return total, deepest

    return walk(root, 0)


# libyaml's composer recurses in C: tens of thousands of nesting levels crash
# the interpreter instead of raising. Depth is at most the number of flow
# brackets plus the longest line (block nesting needs a column per level), so
# only inputs past this bound pay for an event pre-scan.
_SAFE_NESTING_BOUND = 5_000


def _too_deep(text: str, limits: Limits) -> int | None:
    """Line of the first place nesting exceeds the limit, if it does (event scan, no recursion)."""
    bound = text.count("[") + text.count("{") + max(map(len, text.split("\n")))
    if bound <= _SAFE_NESTING_BOUND:
        return None
    depth = 0
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, starts):
                depth += 1
                if depth > limits.max_depth:
                    mark = event.start_mark
                    return int(mark.line) + 1 if mark is not None else 1
            elif isinstance(event, ends):
                depth -= 1
    except yaml.YAMLError:
        return None  # the real parse reports the syntax error with its position
    return None


def _mark_line(err: BaseException) -> int | None:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def _decode(data: bytes, source: Source, limits: Limits) -> str | Problem:
    if len(data) > limits.max_file_bytes:
        return Problem(
            source,
            f"file is {len(data):,} bytes, over the {limits.max_file_bytes:,}-byte limit "
            "(raise --max-file-bytes / CONFORMANCE_MAX_FILE_BYTES if this is intended)",
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Problem(source, "UTF-16 encoded: save the file as UTF-8")
    if b"\x00" in data:
        return Problem(source, "binary content (NUL byte): not a YAML or JSON manifest")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        where = Source(source.path, source.document, line, source.chart, source.profile)
        return Problem(where, f"not valid UTF-8 at byte {err.start}: {err.reason}")


def iter_documents(
    data: bytes, source: Source, limits: Limits = DEFAULT_LIMITS
) -> Iterator[tuple[Source, Any]]:
    """Yield (source of the document, parsed data or Problem) for each YAML document."""
    text = _decode(data, source, limits)
    if isinstance(text, Problem):
        yield source, text
        return
    deep_line = _too_deep(text, limits)
    if deep_line is not None:
        yield (
            source,
            Problem(
                Source(source.path, 0, deep_line, source.chart, source.profile),
                f"nesting deeper than {limits.max_depth} levels",
            ),
        )
        return
    # Without an anchor there is no alias, so nothing can expand beyond the text
    # itself (bounded by max_file_bytes) and the expansion walk can be skipped.
    has_anchors = "&" in text
    loader = StrictLoader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            doc_source = Source(
                source.path, index, node.start_mark.line + 1 if node else None, source.chart, source.profile
            )
            if node is None:
                index += 1
                continue
            try:
                value = loader.construct_document(node)
            except _DuplicateKey as err:
                yield (
                    doc_source,
                    Problem(doc_source, f"duplicate key {err.key!r} at line {err.line}", err.key),
                )
            except yaml.YAMLError as err:
                yield doc_source, Problem(doc_source, f"invalid YAML: {_one_line(err)}")
            else:
                try:
                    size, depth = _expanded_size(value, limits) if has_anchors else (0, 0)
                except _RecursiveAlias:
                    yield doc_source, Problem(doc_source, "recursive alias: a node contains itself")
                    index += 1
                    continue
                if size > limits.max_expanded_nodes:
                    yield (
                        doc_source,
                        Problem(
                            doc_source,
                            f"document expands to more than {limits.max_expanded_nodes:,} nodes "
                            "(alias explosion / YAML bomb?)",
                        ),
                    )
                elif depth > limits.max_depth:
                    yield doc_source, Problem(doc_source, f"nesting deeper than {limits.max_depth} levels")
                else:
                    yield doc_source, value
            index += 1
    except yaml.YAMLError as err:
        line = _mark_line(err)
        where = Source(source.path, index, line, source.chart, source.profile)
        yield where, Problem(where, f"invalid YAML: {_one_line(err)}{_hint(err, text)}")
    except RecursionError:
        yield (
            source,
            Problem(
                Source(source.path, index, None, source.chart, source.profile),
                f"nesting deeper than the parser can follow (limit {limits.max_depth})",
            ),
        )
    finally:
        loader.dispose()


def _hint(err: BaseException, text: str) -> str:
    """A plain-words hint for libyaml's most cryptic errors."""
    mark = getattr(err, "problem_mark", None)
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return " (a tab character: YAML indents with spaces only)"
    return ""


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).replace(' in "<unicode string>",', " at").split())


def to_objects(
    parsed: Iterator[tuple[Source, Any]], default_namespace: str = "default"
) -> Iterator[K8sObject | Problem]:
    """Turn parsed documents into objects, checking the fields every object needs."""
    for source, value in parsed:
        if isinstance(value, Problem):
            yield value
        elif value is None:
            continue  # an empty document (e.g. a template that rendered nothing)
        elif not isinstance(value, dict):
            yield Problem(source, f"a manifest must be a mapping, got {_type_name(value)}")
        elif value.get("kind") == "List" and isinstance(value.get("items"), list):
            for item_index, item in enumerate(value["items"]):
                yield from _check_object(item, source, default_namespace, f"items[{item_index}]")
        else:
            yield from _check_object(value, source, default_namespace, "")


def _check_object(
    value: Any, source: Source, default_namespace: str, prefix: str
) -> Iterator[K8sObject | Problem]:
    def at(name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    if not isinstance(value, dict):
        yield Problem(source, f"a manifest must be a mapping, got {_type_name(value)}", prefix or None)
        return
    meta = value.get("metadata")
    ref = f"{value.get('kind', '?')}/{meta.get('name', '?') if isinstance(meta, dict) else '?'}"
    for key in ("apiVersion", "kind"):
        if key not in value:
            yield Problem(source, f"missing {key}", at(key), ref)
            return
        if not isinstance(value[key], str) or not value[key]:
            yield Problem(
                source, f"{key} must be a non-empty string, got {_type_name(value[key])}", at(key), ref
            )
            return
    if value["kind"] == "List":
        yield Problem(source, "a List must have an `items` array", at("items"), ref)
        return
    if not isinstance(meta, dict):
        yield Problem(source, f"metadata must be a mapping, got {_type_name(meta)}", at("metadata"), ref)
        return
    name = meta.get("name", meta.get("generateName"))
    if not isinstance(name, str) or not name:
        yield Problem(
            source,
            f"metadata.name must be a non-empty string, got {_type_name(name)}",
            at("metadata.name"),
            ref,
        )
        return
    namespace = meta.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        yield Problem(
            source,
            f"metadata.namespace must be a string, got {_type_name(namespace)}",
            at("metadata.namespace"),
            ref,
        )
        return
    yield K8sObject(value, source, default_namespace)


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def load_bytes(
    data: bytes,
    path: str,
    default_namespace: str = "default",
    *,
    limits: Limits = DEFAULT_LIMITS,
    chart: str | None = None,
    profile: str | None = None,
) -> list[K8sObject | Problem]:
    """Load every object (or problem) from one file's bytes.

    >>> [o.ref for o in load_bytes(b"kind: Namespace\\napiVersion: v1\\nmetadata: {name: x}", "ns.yaml")]
    ['Namespace/x']
    """
    items = list(
        to_objects(iter_documents(data, Source(path, 0, None, chart, profile), limits), default_namespace)
    )
    if not items and chart is None:
        items.append(
            Problem(Source(path, 0, None), "no Kubernetes objects in this file (empty or only comments)")
        )
    return items
