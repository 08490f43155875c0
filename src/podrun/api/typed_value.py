"""Objects walked with their schema, as structured-merge-diff's `typed` package walks them.

The schema (`podrun.model.schema_data`) says how each value is owned and merged: structs and maps are granular
(each field or entry on its own), lists are granular by key (`x-kubernetes-list-type: map`), by value (`set`) or
atomic (the default, a single leaf, as are scalars and free-form values). On that:

* `field_set`: the paths a configuration sets (`ToFieldSet`);
* `compare`: the paths added, modified and removed between two objects (`Compare`);
* `merge`: a configuration merged into a live object, the configuration winning (`Merge`);
* `remove`: an object without the values at some paths (`RemoveItems`);
* `duplicate_entries`: the keyed or set lists holding an element twice, which an applied configuration may not
  (the validation of `ObjectToTyped` without `AllowDuplicates`);
* `without_nulls`: an object without its null struct fields, as decoding into the Go type and encoding it again
  with `omitempty` leaves it.

Kinds without a schema are walked as structured-merge-diff's deduced type: maps granular, lists atomic.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from podrun.api import fieldpath
from podrun.api.fieldpath import FieldSet, Path
from podrun.model.schema_data import field_types, schemas

_DEDUCED = "deduced"
_MISSING: Any = object()
# Key fields upstream's schema defaults, so that an element applied without them matches the stored one.
_KEY_DEFAULTS = {("ContainerPort", "protocol"): "TCP", ("ServicePort", "protocol"): "TCP"}
# The structs marked `+structType=atomic` in k8s.io/api core/v1 and apimachinery meta/v1 (v1.32): owned and
# replaced as a whole. The generated schemas do not carry their `x-kubernetes-map-type`.
_ATOMIC_STRUCTS = frozenset(
    {
        "ConfigMapKeySelector",
        "EndpointAddress",
        "EndpointPort",
        "LabelSelector",
        "LocalObjectReference",
        "NodeSelector",
        "NodeSelectorTerm",
        "ObjectFieldSelector",
        "ObjectReference",
        "OwnerReference",
        "ResourceFieldSelector",
        "SecretKeySelector",
        "SecretReference",
        "TopologySelectorTerm",
        "TypedLocalObjectReference",
    }
)


@dataclass(frozen=True)
class Type:
    """A value's type: a reference as `field_types` spells it, and for lists how their elements are told apart."""

    ref: str
    list_type: str = "atomic"
    keys: tuple[str, ...] = ()
    atomic_map: bool = False


@dataclass
class Comparison:
    """The paths `compare` found."""

    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    def changed(self) -> FieldSet:
        """The paths added or modified: what an operation takes ownership of."""
        return frozenset(self.added | self.modified)

    def is_same(self) -> bool:
        """Whether the two objects are equal as the schema sees them."""
        return not (self.added or self.modified or self.removed)


def kind_type(kind: str) -> Type:
    """The type of a whole object of `kind`."""
    return Type(kind if kind in field_types() else _DEDUCED)


@functools.cache
def _field_type(struct: str, name: str) -> Type | None:
    ref = field_types()[struct].get(name)
    if ref is None:
        return None
    prop = schemas()[struct]["properties"][name]
    return Type(
        ref,
        list_type=prop.get("x-kubernetes-list-type", "atomic"),
        keys=tuple(prop.get("x-kubernetes-list-map-keys", ())),
        atomic_map=prop.get("x-kubernetes-map-type") == "atomic",
    )


def _shape(kind: Type, item: Any) -> str:
    """`map` (a struct or a granular map), `list` (a granular list) or `leaf`, for a value of the type."""
    ref = kind.ref
    if ref.startswith("["):
        return "list" if kind.list_type in ("map", "set") and isinstance(item, list) else "leaf"
    struct = ref in field_types() and ref not in _ATOMIC_STRUCTS
    granular = ref == _DEDUCED or struct or (ref.startswith("{") and not kind.atomic_map)
    return "map" if granular and isinstance(item, dict) else "leaf"


def _child_type(kind: Type, name: str) -> tuple[Type, bool]:
    """The type of a map's entry or a struct's field, and whether it is a struct field (rather than an entry)."""
    if kind.ref == _DEDUCED:
        return kind, False
    if kind.ref.startswith("{"):
        return Type(kind.ref[1:-1]), False
    found = _field_type(kind.ref, name)
    return (found, True) if found is not None else (Type("any"), False)


def _element(kind: Type, item: Any, position: int) -> str:
    """The path element of a list's element."""
    inner = kind.ref[1:-1]
    if kind.list_type == "set":
        return fieldpath.value(item)
    if kind.list_type == "map" and isinstance(item, dict):
        keys: dict[str, Any] = {}
        for name in kind.keys:
            if name in item:
                keys[name] = item[name]
            elif (inner, name) in _KEY_DEFAULTS:
                keys[name] = _KEY_DEFAULTS[(inner, name)]
        return fieldpath.key(keys)
    return fieldpath.index(position)


def _elements(kind: Type, items: list[Any]) -> Iterator[tuple[str, Any]]:
    for position, item in enumerate(items):
        yield _element(kind, item, position), item


# --- ToFieldSet ------------------------------------------------------------------------------------------------


def field_set(obj: Any, kind: Type) -> FieldSet:
    """The paths of every value `obj` sets: leaves, list elements, map entries, and struct fields that are null
    or empty maps. Struct fields holding something are not members themselves, as upstream."""
    found: set[Path] = set()
    _to_set(obj, kind, (), found)
    return frozenset(found)


def _to_set(item: Any, kind: Type, at: Path, found: set[Path]) -> None:
    shape = _shape(kind, item)
    if shape == "leaf":
        if at:
            found.add(at)
        return
    if shape == "list":
        element_type = Type(kind.ref[1:-1])
        for element, child in _elements(kind, item):
            _to_set(child, element_type, (*at, element), found)
            found.add((*at, element))
        return
    for name, child in item.items():
        child_type, is_field = _child_type(kind, name)
        child_at = (*at, fieldpath.field(name))
        _to_set(child, child_type, child_at, found)
        if child is None or child == {} or not is_field:
            found.add(child_at)


# --- duplicates and nulls --------------------------------------------------------------------------------------


def duplicate_entries(obj: Any, kind: Type) -> list[str]:
    """structured-merge-diff's errors for elements of keyed or set lists met again, in walk order:
    `.spec.containers[name="a"].env: duplicate entries for key [name="A"]`."""
    found: list[str] = []
    _duplicates(obj, kind, (), found)
    return found


def _duplicates(item: Any, kind: Type, at: Path, found: list[str]) -> None:
    shape = _shape(kind, item)
    if shape == "leaf":
        return
    if shape == "list":
        element_type = Type(kind.ref[1:-1])
        seen: set[str] = set()
        for element, child in _elements(kind, item):
            if element in seen:
                where, key = fieldpath.path_string(at), fieldpath.path_string((element,))
                found.append(f"{where}: duplicate entries for key {key}")
            seen.add(element)
            _duplicates(child, element_type, (*at, element), found)
        return
    for name, child in item.items():
        _duplicates(child, _child_type(kind, name)[0], (*at, fieldpath.field(name)), found)


def without_nulls(obj: Any, kind: Type) -> Any:
    """A copy of `obj` without the struct fields that are null (entries of maps, whose nulls the strategies
    make empty strings, stay)."""
    shape = _shape(kind, obj)
    if shape == "list":
        element_type = Type(kind.ref[1:-1])
        return [without_nulls(child, element_type) for child in obj]
    if shape == "leaf":
        return copy.deepcopy(obj)
    kept: dict[str, Any] = {}
    for name, child in obj.items():
        child_type, is_field = _child_type(kind, name)
        if child is None and is_field:
            continue
        kept[name] = without_nulls(child, child_type)
    return kept


# --- Compare ---------------------------------------------------------------------------------------------------


def compare(lhs: Any, rhs: Any, kind: Type) -> Comparison:
    """What changes from `lhs` to `rhs`. A value new as a whole is added with everything below it."""
    result = Comparison()
    _compare(lhs, rhs, kind, (), result)
    return result


def _compare(lhs: Any, rhs: Any, kind: Type, at: Path, result: Comparison) -> None:
    left = _MISSING if lhs is _MISSING else _shape(kind, lhs)
    right = _MISSING if rhs is _MISSING else _shape(kind, rhs)
    shape = right if left is _MISSING else left
    both_empty = _empty(lhs) and _empty(rhs)
    # A null is an empty list or map to a granular value: its elements are compared, it is not itself added.
    null_left = lhs is None and right in ("map", "list")
    null_right = rhs is None and left in ("map", "list")
    if null_left or null_right:
        shape = right if null_left else left
    elif shape == "leaf" or (left is not _MISSING and right is not _MISSING and left != right) or both_empty:
        if lhs is _MISSING:
            result.added.add(at)
        elif rhs is _MISSING:
            result.removed.add(at)
        elif not _equal(lhs, rhs):
            result.modified.add(at)
        return
    if shape == "list":
        element_type = Type(kind.ref[1:-1])
        left_items = dict(_elements(kind, lhs)) if isinstance(lhs, list) else {}
        right_items = dict(_elements(kind, rhs)) if isinstance(rhs, list) else {}
        for element in {**left_items, **right_items}:
            _compare(
                left_items.get(element, _MISSING),
                right_items.get(element, _MISSING),
                element_type,
                (*at, element),
                result,
            )
    else:
        left_map = lhs if isinstance(lhs, dict) else {}
        right_map = rhs if isinstance(rhs, dict) else {}
        for name in {**left_map, **right_map}:
            child_type, _ = _child_type(kind, name)
            _compare(
                left_map.get(name, _MISSING),
                right_map.get(name, _MISSING),
                child_type,
                (*at, fieldpath.field(name)),
                result,
            )
    if at and lhs is _MISSING:
        result.added.add(at)
    elif at and rhs is _MISSING:
        result.removed.add(at)


def _empty(item: Any) -> bool:
    return item is _MISSING or item is None or item == {} or item == []


def _equal(left: Any, right: Any) -> bool:
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


# --- Merge -----------------------------------------------------------------------------------------------------


def merge(live: Any, config: Any, kind: Type) -> Any:
    """`config` merged into `live`: granular values merge field by field and element by element, everything
    else takes the configuration's value. Neither argument is changed."""
    return _merge(live, config, kind)


def _merge(live: Any, config: Any, kind: Type) -> Any:
    if config is _MISSING:
        return copy.deepcopy(live)
    if live is _MISSING:
        return copy.deepcopy(config)
    if config is None and live and _shape(kind, live) != "leaf":
        # A null granular value is an empty one: it merges nothing into the live value's elements.
        return copy.deepcopy(live)
    shape = _shape(kind, config)
    if shape != _shape(kind, live) or shape == "leaf":
        return copy.deepcopy(config)
    if shape == "map":
        merged = {name: copy.deepcopy(item) for name, item in live.items()}
        for name, item in config.items():
            child_type, _ = _child_type(kind, name)
            merged[name] = _merge(live.get(name, _MISSING), item, child_type)
        return merged
    return _merge_list(live, config, kind)


def _merge_list(live: list[Any], config: list[Any], kind: Type) -> list[Any]:
    """The elements of both, merged where they share a path element. Shared elements take the configuration's
    order; elements only the live list has keep their place, and new ones follow the shared ones they follow in
    the configuration (structured-merge-diff's `visitListItems`)."""
    element_type = Type(kind.ref[1:-1])
    live_elements = list(_elements(kind, live))
    config_elements = list(_elements(kind, config))
    live_by = dict(live_elements)
    config_by = dict(config_elements)
    shared = [element for element, _ in config_elements if element in live_by]
    next_shared = 0
    done: set[str] = set()
    out: list[Any] = []
    left = right = 0
    while left < len(live_elements) or right < len(config_elements):
        if left < len(live_elements) and right < len(config_elements):
            element = live_elements[left][0]
            if element == config_elements[right][0]:
                if element not in done:
                    out.append(_merge(live_by[element], config_by[element], element_type))
                    done.add(element)
                left += 1
                right += 1
                if next_shared < len(shared) and shared[next_shared] == element:
                    next_shared += 1
                continue
            if element in config_by and next_shared < len(shared) and shared[next_shared] != element:
                left += 1
                continue
        if left < len(live_elements):
            element = live_elements[left][0]
            if element not in config_by:
                out.append(copy.deepcopy(live_by[element]))
                left += 1
                continue
            if element in done:
                left += 1
                continue
        if right < len(config_elements):
            element = config_elements[right][0]
            if element not in done:
                out.append(_merge(live_by.get(element, _MISSING), config_by[element], element_type))
                done.add(element)
            right += 1
            if next_shared < len(shared) and shared[next_shared] == element:
                next_shared += 1
    return out


# --- RemoveItems -----------------------------------------------------------------------------------------------


def remove(obj: Any, paths: FieldSet, kind: Type) -> Any:
    """A copy of `obj` without the values at `paths` (each with everything below it)."""
    tree: dict[str, Any] = {}
    for member in fieldpath.minimal(paths):
        node = tree
        for element in member[:-1]:
            node = node.setdefault(element, {})
        node[member[-1]] = None
    return _remove(copy.deepcopy(obj), tree, kind)


def _remove(item: Any, tree: dict[str, Any], kind: Type) -> Any:
    shape = _shape(kind, item)
    if shape == "list":
        element_type = Type(kind.ref[1:-1])
        kept = []
        for element, child in _elements(kind, item):
            if element in tree and tree[element] is None:
                continue
            kept.append(_remove(child, tree[element], element_type) if element in tree else child)
        return kept
    if shape == "map":
        for name in list(item):
            element = fieldpath.field(name)
            if element not in tree:
                continue
            if tree[element] is None:
                del item[name]
            else:
                item[name] = _remove(item[name], tree[element], _child_type(kind, name)[0])
    return item
