"""Sets of field paths as structured-merge-diff (`sigs.k8s.io/structured-merge-diff/v4/fieldpath`) has them.

A path is a tuple of path elements, each kept in its FieldsV1 spelling, which is also its identity:

* `f:<name>`: a field of a struct or an entry of a map (`f:metadata`, `f:labels`, `f:app`);
* `k:<json>`: an element of an associative list, by its key fields (`k:{"containerPort":80,"protocol":"TCP"}`);
* `v:<json>`: an element of a set, by its value (`v:"example.com/finalizer"`);
* `i:<n>`: an element of any other granular list, by its index.

A set of paths is a plain `frozenset` of such tuples. `to_fields_v1` and `from_fields_v1` convert it to and from
the FieldsV1 document of `metadata.managedFields` (a node that is a member itself and has children carries
`".": {}`); `path_string` prints a path as conflicts name it (`.spec.containers[name="web"].image`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

PathElement = str
Path = tuple[PathElement, ...]
FieldSet = frozenset[Path]

EMPTY: FieldSet = frozenset()
_SELF = "."
# The order of path element kinds in a serialized set (PathElement.Compare: fields, keys, values, indices).
_KIND_ORDER = {"f": 0, "k": 1, "v": 2, "i": 3}


def field(name: str) -> PathElement:
    """The element naming a struct field or a map entry."""
    return "f:" + name


def key(fields: dict[str, Any]) -> PathElement:
    """The element naming an associative list's element by its key fields (sorted by name, as upstream)."""
    return "k:" + _go_json({name: fields[name] for name in sorted(fields)})


def value(item: Any) -> PathElement:
    """The element naming a set's element by its value."""
    return "v:" + _go_json(item)


def index(position: int) -> PathElement:
    """The element naming a list element by its position."""
    return f"i:{position}"


def path(*names: str) -> Path:
    """A path of struct fields: `path("metadata", "labels")`."""
    return tuple(field(name) for name in names)


def with_field_prefixes(paths: Iterable[Path]) -> FieldSet:
    """The paths and every proper prefix of them that ends in a field (`EnsureNamedFieldsAreMembers`): owning
    anything below a field holds the field, but owning a field inside a list element does not hold the
    element."""
    closed: set[Path] = set()
    for member in paths:
        closed.add(member)
        for end in range(1, len(member)):
            if member[end - 1].startswith("f:"):
                closed.add(member[:end])
    return frozenset(closed)


def minimal(paths: Iterable[Path]) -> list[Path]:
    """The paths no other path of the set is a prefix of, sorted: removing these removes the whole set."""
    members = set(paths)
    found = [p for p in members if not any(p[:end] in members for end in range(1, len(p)))]
    return sorted(found, key=_path_sort_key)


def without_prefixes(paths: FieldSet, prefixes: Iterable[Path]) -> FieldSet:
    """The set without the given paths and everything below them (`Set.RecursiveDifference`)."""
    dropped = tuple(prefixes)
    return frozenset(p for p in paths if not any(p[: len(prefix)] == prefix for prefix in dropped))


def to_fields_v1(paths: FieldSet) -> dict[str, Any]:
    """The FieldsV1 document of a set: elements sorted as upstream serializes them, `".": {}` first."""
    tree: dict[PathElement, Any] = {}
    for member in paths:
        node = tree
        for element in member:
            node = node.setdefault(element, {})
        node[_SELF] = {}
    return _emit(tree)


def _emit(node: dict[PathElement, Any]) -> dict[str, Any]:
    children = sorted((element for element in node if element != _SELF), key=_element_sort_key)
    out: dict[str, Any] = {}
    if _SELF in node and children:
        out[_SELF] = {}
    for element in children:
        out[element] = _emit(node[element])
    return out


def from_fields_v1(document: Any) -> FieldSet:
    """The set a FieldsV1 document describes; ValueError when it is not one."""
    found: set[Path] = set()
    _collect(document, (), found)
    return frozenset(found)


def _collect(node: Any, prefix: Path, found: set[Path]) -> None:
    if not isinstance(node, dict):
        raise ValueError(f"FieldsV1 node at {path_string(prefix) or '.'} is not an object")
    if prefix and (not node or _SELF in node):
        found.add(prefix)
    for element, child in node.items():
        if element == _SELF:
            continue
        if element[:2] not in ("f:", "k:", "v:", "i:"):
            raise ValueError(f"unknown path element {element!r}")
        _collect(child, (*prefix, element), found)


def path_string(member: Path) -> str:
    """A path as structured-merge-diff prints it: `.metadata.labels.owner`, `.spec.ports[containerPort=80,
    protocol="TCP"]`, `.metadata.finalizers[="a"]`, `.items[0]`."""
    return "".join(_element_string(element) for element in member)


def _element_string(element: PathElement) -> str:
    kind, text = element[0], element[2:]
    if kind == "f":
        return "." + text
    if kind == "k":
        fields = json.loads(text)
        return "[" + ",".join(f"{name}={_go_json(fields[name])}" for name in fields) + "]"
    if kind == "v":
        return f"[={text}]"
    return f"[{text}]"


def _element_sort_key(element: PathElement) -> tuple[int, str]:
    return _KIND_ORDER.get(element[0], 4), element[2:]


def _path_sort_key(member: Path) -> list[tuple[int, str]]:
    return [_element_sort_key(element) for element in member]


def sorted_paths(paths: Iterable[Path]) -> list[Path]:
    """The paths in upstream's iteration order (`Set.Iterate`)."""
    return sorted(paths, key=_path_sort_key)


def _go_json(item: Any) -> str:
    """Compact JSON as Go's encoder writes it: UTF-8 as is, but `<`, `>` and `&` escaped."""
    text = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
