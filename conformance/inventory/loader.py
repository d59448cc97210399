"""Safe, bounded loading of YAML/JSON bytes into objects or problems.

Never raises on bad input: every problem becomes a `Problem` naming the file,
the document and (where known) the field. Bounds: file size, binary content,
encoding, duplicate keys, alias expansion (YAML bombs), nesting depth.
"""

from __future__ import annotations

import math
import re
import struct
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


class _NotJson(yaml.YAMLError):
    """A value kubectl cannot turn into JSON (NaN/Infinity, a null mapping key): it rejects the file."""

    def __init__(self, what: str, mark: Any) -> None:
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else "somewhere"
        super().__init__(f"{what} at {where} has no JSON form: kubectl rejects the document")
        self.line = mark.line + 1 if mark is not None else None


# Plain scalars are typed as kubectl types them (sigs.k8s.io/yaml, go-yaml v2 rules), so the
# objects are the JSON the API server would receive, whatever YAML 1.1 spelling was used:
# `=`, `1:20`, timestamps stay strings; `y`/`n` are booleans; `1e3` and `0o17` are numbers;
# numbers out of 64-bit range follow Go (a float, or a string when no float holds them).
_NUMBER_TAG = "tag:conformance.tartware.io,2026:number"
_BOOLS = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
_SPECIAL_FLOATS = {
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_GO_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?\Z")
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1


def go_scalar(text: str) -> Any:
    """The value go-yaml v2 gives a plain scalar starting with a sign, a digit or a dot."""
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    if text.startswith("."):
        return float(text) if _DOT_FLOAT.match(text) else text
    plain = text.replace("_", "")
    match = _GO_INT.match(plain) if len(plain) <= 70 else None
    if match is not None:
        sign, body = match.groups()
        base = {"x": 16, "o": 8, "b": 2}.get(body[1:2].lower(), 8 if body.startswith("0") else 10)
        digits = body[2:] if base != 10 and body[1:2].isalpha() else body
        value = int(digits, base) * (-1 if sign == "-" else 1)
        if _INT64[0] <= value <= _INT64[1] or (not sign and value <= _UINT64_MAX):
            return value
    if _GO_FLOAT.match(plain):
        number = float(plain)
        if not math.isinf(number):  # Go's ParseFloat refuses out-of-range: the scalar stays a string
            return number
    return text


def _float32_text(value: float) -> str:
    """Go's FormatFloat(v, 'g', -1, 32): how sigs.k8s.io/yaml spells a float mapping key."""
    packed = struct.unpack("f", struct.pack("f", value))[0] if abs(value) < 3.4e38 else value
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == packed:
            return text
    return repr(value)


def _json_key(key: Any, mark: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float) and math.isfinite(key):
        return _float32_text(key)
    raise _NotJson(f"mapping key {key!r}", mark)


# Tag resolution of short plain scalars, shared by every StrictLoader: the same few thousand
# values (names, ports, `true`) recur in every manifest, and resolving is a regex walk in Python.
_RESOLVED: dict[tuple[str, tuple[bool, bool]], str] = {}
_RESOLVED_MAX, _RESOLVED_VALUE_MAX = 50_000, 64


class StrictLoader(_Loader):  # type: ignore[valid-type,misc]
    """Safe loader typing scalars as kubectl does; rejects duplicate keys (YAML 1.2 forbids them)."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is not yaml.ScalarNode or len(value) > _RESOLVED_VALUE_MAX:
            return str(super().resolve(kind, value, implicit))
        key = (value, implicit)
        tag = _RESOLVED.get(key)
        if tag is None:
            tag = str(super().resolve(kind, value, implicit))
            if len(_RESOLVED) < _RESOLVED_MAX:
                _RESOLVED[key] = tag
        return tag

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[type, Any]] = set()  # typed: key 1 and key true are different keys in Go
        plain = True
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` merges; own keys may override merged ones
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "found an unhashable mapping key", key_node.start_mark
                ) from None
            if (type(key), key) in seen:
                raise _DuplicateKey(str(key), key_node.start_mark.line + 1, "")
            seen.add((type(key), key))
            plain = plain and isinstance(key, str)
        if plain:
            return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]
        # sigs.k8s.io/yaml writes 1, true and 1.5 keys as JSON strings; a null key it cannot write.
        self.flatten_mapping(node)
        return {
            _json_key(self.construct_object(k, deep=deep), k.start_mark): self.construct_object(v, deep=deep)
            for k, v in node.value
        }

    def construct_number(self, node: yaml.ScalarNode) -> Any:
        value = go_scalar(str(node.value))
        if isinstance(value, float) and not math.isfinite(value):
            raise _NotJson(f"{node.value} ({value})", node.start_mark)
        return value

    def construct_go_bool(self, node: yaml.ScalarNode) -> bool:
        return _BOOLS[str(node.value)]

    def construct_explicit_number(self, node: yaml.ScalarNode) -> Any:
        """`!!int 0x1F`, `!!float 1.5`: parsed like a plain number; anything else is an error."""
        value = self.construct_number(node)
        if isinstance(value, str) or (node.tag.endswith(":int") and not isinstance(value, int)):
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot decode {node.value!r} as {node.tag.rsplit(':', 1)[-1]}", node.start_mark
            )
        return value

    def construct_text_binary(self, node: yaml.ScalarNode) -> str:
        # go-yaml decodes !!binary into a string; JSON then replaces bytes that are not UTF-8.
        return bytes(self.construct_yaml_binary(node)).decode("utf-8", "replace")

    def construct_timestamp_text(self, node: yaml.ScalarNode) -> str:
        return str(node.value)  # go-yaml keeps timestamps as strings when decoding into interface{}

    def construct_set_mapping(self, node: yaml.MappingNode) -> Iterator[dict[Any, Any]]:
        data: dict[Any, Any] = {}
        yield data
        data.update(self.construct_mapping(node))

    def construct_pairs_list(self, node: yaml.SequenceNode) -> Iterator[list[Any]]:
        items: list[Any] = []
        yield items
        items.extend(self.construct_object(child, deep=True) for child in node.value)


def _implicit_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    """Keep null and merge; type booleans and numbers the go-yaml way; nothing else is implicit."""
    out: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    keep = ("tag:yaml.org,2002:null", "tag:yaml.org,2002:merge")
    for ch, resolvers in _Loader.yaml_implicit_resolvers.items():
        kept = [(tag, rx) for tag, rx in resolvers if tag in keep]
        if kept:
            out[ch] = kept
    bools = re.compile("(?:" + "|".join(re.escape(w) for w in _BOOLS) + r")\Z")
    for word in _BOOLS:
        out.setdefault(word[0], [])
        if ("tag:yaml.org,2002:bool", bools) not in out[word[0]]:
            out[word[0]].append(("tag:yaml.org,2002:bool", bools))
    number = re.compile(r"[-+.0-9]")
    for ch in "+-.0123456789":
        out.setdefault(ch, []).append((_NUMBER_TAG, number))
    return out


StrictLoader.yaml_implicit_resolvers = _implicit_resolvers()
StrictLoader.add_constructor(_NUMBER_TAG, StrictLoader.construct_number)
StrictLoader.add_constructor("tag:yaml.org,2002:bool", StrictLoader.construct_go_bool)
StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_explicit_number)
StrictLoader.add_constructor("tag:yaml.org,2002:float", StrictLoader.construct_explicit_number)
StrictLoader.add_constructor("tag:yaml.org,2002:binary", StrictLoader.construct_text_binary)
StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", StrictLoader.construct_timestamp_text)
StrictLoader.add_constructor("tag:yaml.org,2002:set", StrictLoader.construct_set_mapping)
StrictLoader.add_constructor("tag:yaml.org,2002:omap", StrictLoader.construct_pairs_list)
StrictLoader.add_constructor("tag:yaml.org,2002:pairs", StrictLoader.construct_pairs_list)


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
            yield doc_source, _construct(loader, node, doc_source, limits, has_anchors)
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


class _Fallback(Exception):
    """The document needs the full constructor (merge keys, explicit tags, non-string keys,
    a duplicate key to report, a recursive alias, deep nesting)."""


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_NULL, _BOOL = "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"
_FAST_DEPTH = 100  # deeper documents take the full constructor (it reports nesting problems)


def _fast_document(node: yaml.Node) -> Any:
    """The same data StrictLoader constructs, for the common shape of a manifest: string keys,
    no merge keys, strings, nulls, booleans and numbers. A plain walk over the composed nodes
    (the generic constructor's per-node bookkeeping was most of the load time). Anything
    else raises _Fallback, so the full constructor decides it and words its problems.
    Aliases give the same object, as in the full constructor."""
    memo: dict[int, Any] = {}
    active: set[int] = set()

    def build(n: yaml.Node, depth: int) -> Any:
        if isinstance(n, yaml.ScalarNode):
            tag = n.tag
            if tag == _STR:
                return n.value
            if tag == _NUMBER_TAG:
                value = go_scalar(str(n.value))
                if isinstance(value, float) and not math.isfinite(value):
                    raise _Fallback
                return value
            if tag == _NULL:
                return None
            if tag == _BOOL and str(n.value) in _BOOLS:
                return _BOOLS[str(n.value)]
            raise _Fallback
        done = memo.get(id(n), memo)
        if done is not memo:
            return done
        if id(n) in active or depth > _FAST_DEPTH:
            raise _Fallback
        active.add(id(n))
        out: Any
        if isinstance(n, yaml.MappingNode) and n.tag == _MAP:
            out = {}
            for key_node, value_node in n.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                    raise _Fallback
                key = key_node.value
                if key in out:
                    raise _Fallback
                out[key] = build(value_node, depth + 1)
        elif isinstance(n, yaml.SequenceNode) and n.tag == _SEQ:
            out = [build(child, depth + 1) for child in n.value]
        else:
            raise _Fallback
        active.discard(id(n))
        memo[id(n)] = out
        return out

    return build(node, 0)


def _construct(loader: StrictLoader, node: yaml.Node, where: Source, limits: Limits, anchors: bool) -> Any:
    """One composed document as data, or the Problem that stops it (never raises on bad input)."""
    try:
        try:
            value = _fast_document(node)
        except _Fallback:
            value = loader.construct_document(node)
    except _DuplicateKey as err:
        return Problem(where, f"duplicate key {err.key!r} at line {err.line}", err.key)
    except _NotJson as err:
        return Problem(where, str(err))
    except yaml.YAMLError as err:
        return Problem(where, f"invalid YAML: {_one_line(err)}")
    except RecursionError:
        raise
    except Exception as err:  # a constructor's own limit (e.g. Python's int digits): still one problem
        return Problem(where, f"value cannot be loaded: {_one_line(err)}")
    try:
        size, depth = _expanded_size(value, limits) if anchors else (0, 0)
    except _RecursiveAlias:
        return Problem(where, "recursive alias: a node contains itself")
    if size > limits.max_expanded_nodes:
        return Problem(
            where,
            f"document expands to more than {limits.max_expanded_nodes:,} nodes "
            "(alias explosion / YAML bomb?)",
        )
    if depth > limits.max_depth:
        return Problem(where, f"nesting deeper than {limits.max_depth} levels")
    return value


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
            if _foreign(value):
                yield Problem(source, "not a Kubernetes manifest (a list, no apiVersion/kind)", foreign=True)
            else:
                yield Problem(source, f"a manifest must be a mapping, got {_type_name(value)}")
        elif "apiVersion" not in value and "kind" not in value:
            yield Problem(source, "not a Kubernetes manifest (no apiVersion, no kind)", foreign=True)
        elif (tool := tool_config(value)) is not None:
            yield Problem(source, f"{tool} ({value.get('apiVersion')} {value.get('kind')})", foreign=True)
        elif is_list(value):
            for item_index, item in enumerate(value["items"]):
                yield from _check_object(item, source, default_namespace, f"items[{item_index}]")
        else:
            yield from _check_object(value, source, default_namespace, "")


def is_list_kind(kind: object) -> bool:
    """`List` or a typed list (`ConfigMapList`, `RoleBindingList`, a CRD's listKind)."""
    return isinstance(kind, str) and kind.endswith("List")


def is_list(value: dict[str, Any]) -> bool:
    """A list kubectl applies item by item: a list kind with an `items` array (kube-prometheus ships
    its per-namespace Roles as a RoleList, its dashboards as a ConfigMapList). The list itself is
    no object: it has no name and the API server stores only its items."""
    return is_list_kind(value.get("kind")) and isinstance(value.get("items"), list)


# apiVersion groups of tools' own config files: they carry apiVersion and kind, but no
# cluster ever receives them.
TOOL_CONFIG_GROUPS: dict[str, str] = {
    "kind.x-k8s.io": "kind cluster config",
    "kustomize.config.k8s.io": "kustomize file",
    "skaffold": "skaffold config",
    "config.kwok.x-k8s.io": "kwok config",
    "kubeadm.k8s.io": "kubeadm config",
    "k3d.io": "k3d config",
    "ctlptl.dev": "ctlptl config",
    "kubelet.config.k8s.io": "kubelet config",
    "kubescheduler.config.k8s.io": "scheduler config",
    "kubeproxy.config.k8s.io": "kube-proxy config",
    "apiserver.config.k8s.io": "API server config",
    "audit.k8s.io": "audit policy",
    "kpt.dev": "kpt package file",
    "clusterctl.cluster.x-k8s.io": "clusterctl config",
}


def tool_config(value: dict[str, Any]) -> str | None:
    """What tool a document configures, when it is a tool's config and not a cluster object."""
    api_version = value.get("apiVersion")
    if not isinstance(api_version, str):
        return None
    if api_version == "v1" and value.get("kind") == "Config":
        return "kubeconfig"
    return TOOL_CONFIG_GROUPS.get(api_version.rpartition("/")[0] or api_version)


def _foreign(value: Any) -> bool:
    """A list (maybe empty) of mappings none of which looks like a Kubernetes object (an Ansible
    playbook, a JSON patch)."""
    return isinstance(value, list) and all(
        isinstance(i, dict) and "apiVersion" not in i and "kind" not in i for i in value
    )


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
    if value["kind"] == "List" or (is_list_kind(value["kind"]) and not isinstance(meta, dict)):
        yield Problem(source, f"a {value['kind']} must have an `items` array", at("items"), ref)
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
