"""Values of the wrong type and unknown fields, found the way the API server finds them.

The API server decodes a body into Go structs: a value of the wrong JSON type fails the whole request with
encoding/json's message (`json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports
.containerPort of type int32`). `fieldValidation=Strict` (what `kubectl apply` sends by default) makes the decoder
strict too: it names every field its Go type does not declare by its JSON path, `unknown field
"spec.containers[0].imagee"`. Server-side apply checks the applied configuration against the schema instead and
names fields the structured-merge-diff way: `.spec.containers[name="web"].imagee: field not declared in schema`.
All walk the same generated schemas (`podrun.model.schema_data`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from podrun.model.errors import go_quote, json_kind
from podrun.model.schema_data import field_types, schemas

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}

_ElementName = Callable[[tuple[str, ...], int, Any], str]


def list_keys(type_name: str, field: str) -> tuple[str, ...]:
    """The keys that identify the elements of `type_name`'s list `field` when it is an associative list
    (`x-kubernetes-list-type: map`, e.g. `("containerPort", "protocol")` for Container's `ports`); empty for
    atomic lists, sets and non-lists. Server-side apply names and merges elements by them."""
    return _list_keys().get((type_name, field), ())


@functools.cache
def _list_keys() -> dict[tuple[str, str], tuple[str, ...]]:
    return {
        (name, field): tuple(prop["x-kubernetes-list-map-keys"])
        for name, schema in schemas().items()
        for field, prop in schema["properties"].items()
        if prop.get("x-kubernetes-list-type") == "map" and "x-kubernetes-list-map-keys" in prop
    }


@functools.cache
def _go_kinds() -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]]]:
    """The (type, field) pairs that are int64s (every other integer is an int32) and that are resource.Quantity
    values or maps of them (whose decoder takes a JSON string or number, and reports anything else as a quantity
    syntax error, which defaulting finds)."""
    int64s: set[tuple[str, str]] = set()
    quantities: set[tuple[str, str]] = set()
    for name, schema in schemas().items():
        for field, prop in schema["properties"].items():
            element = prop.get("items") or prop.get("additionalProperties") or prop
            if element.get("format") == "int64":
                int64s.add((name, field))
            if element.get("podrunType") == "quantity":
                quantities.add((name, field))
    return frozenset(int64s), frozenset(quantities)


def has_schema(kind: str) -> bool:
    """Whether the kind's fields are known (the core/v1 kinds podrun serves)."""
    return kind in field_types()


def unknown_fields(kind: str, obj: Any) -> list[str]:
    """The paths of the fields in `obj` that a `kind` does not have, as the strict decoder names them.

    The paths read `spec.containers[0].imagee`; map entries read `metadata.labels[key]`. Fields are listed in
    the order they appear in the object.
    """
    found: list[str] = []
    _walk(obj, kind, "", found, _index_name, leading_dot=False)
    return found


def apply_unknown_fields(kind: str, obj: Any) -> list[str]:
    """The paths of undeclared fields as server-side apply names them: `.spec.containers[name="web"].imagee`."""
    found: list[str] = []
    _walk(obj, kind, "", found, _key_name, leading_dot=True)
    return found


def type_error(kind: str, obj: Any) -> str | None:
    """The first value in `obj` whose JSON type its field cannot take, in encoding/json's words; None if none.

    The struct named is the one holding the field, the path is the JSON field names from the object's root
    (without list indices), the type is the Go type: `Go struct field ContainerPort.spec.containers.ports
    .containerPort of type int32`. Nulls decode to zero values; free-form values (IntOrString, times) and the
    values of quantities are not checked.
    """
    return _type_error(obj, kind, kind, "", ())


def strict_decoding_message(paths: list[str]) -> str:
    """`strict decoding error: unknown field "a", unknown field "b"` (runtime.NewStrictDecodingError)."""
    return "strict decoding error: " + ", ".join(unknown_field_message(path) for path in paths)


def unknown_field_message(path: str) -> str:
    """One strict decoding error, which is also the text of the warning sent with `fieldValidation=Warn`."""
    return f"unknown field {go_quote(path)}"


def _walk(
    value: Any,
    type_ref: str,
    path: str,
    found: list[str],
    element: _ElementName,
    *,
    leading_dot: bool,
    keys: tuple[str, ...] = (),
) -> None:
    """`keys` are the list keys of the field `value` is the value of, when it is an associative list."""
    if type_ref.startswith("["):
        inner = type_ref[1:-1]
        if isinstance(value, list):
            for index, item in enumerate(value):
                _walk(item, inner, path + element(keys, index, item), found, element, leading_dot=leading_dot)
        return
    if type_ref.startswith("{"):
        inner = type_ref[1:-1]
        if isinstance(value, dict):
            for key, item in value.items():
                _walk(item, inner, f"{path}[{key}]", found, element, leading_dot=leading_dot)
        return
    fields = field_types().get(type_ref)
    if fields is None or not isinstance(value, dict):
        # A primitive, a free-form value, or a value of the wrong type (a decoding error, reported elsewhere).
        return
    for key, item in value.items():
        child = f"{path}.{key}" if path or leading_dot else key
        if key not in fields:
            found.append(child)
        else:
            field_keys = list_keys(type_ref, key)
            _walk(item, fields[key], child, found, element, leading_dot=leading_dot, keys=field_keys)


def _index_name(_keys: tuple[str, ...], index: int, _item: Any) -> str:
    return f"[{index}]"


def _key_name(keys: tuple[str, ...], index: int, item: Any) -> str:
    if not keys or not isinstance(item, dict) or not any(key in item for key in keys):
        return f"[{index}]"
    # structured-merge-diff prints key values as JSON: strings quoted, numbers bare.
    return "[" + ",".join(f"{key}={json.dumps(item[key])}" for key in keys if key in item) + "]"


def _type_error(value: Any, type_ref: str, struct: str, field: str, path: tuple[str, ...]) -> str | None:
    """`value` against `type_ref`, the type of `struct`'s `field` at `path`."""
    if value is None:
        return None
    problem = _mismatch(value, type_ref, struct, field)
    if problem is not None:
        go_type, shown = problem
        go_field = f"{_go_name(struct)}.{'.'.join(path)}"
        return f"json: cannot unmarshal {shown} into Go struct field {go_field} of type {go_type}"
    if type_ref.startswith("["):
        inner = type_ref[1:-1]
        return next((e for item in value if (e := _type_error(item, inner, struct, field, path))), None)
    if type_ref.startswith("{"):
        inner = type_ref[1:-1]
        return next((e for item in value.values() if (e := _type_error(item, inner, struct, field, path))), None)
    fields = field_types().get(type_ref)
    if fields is None:
        return None
    for key, item in value.items():
        if key in fields:
            error = _type_error(item, fields[key], type_ref, key, (*path, key))
            if error:
                return error
    return None


def _mismatch(value: Any, type_ref: str, struct: str, field: str) -> tuple[str, str] | None:
    """(Go type, JSON value as Go shows it) when the value cannot decode into the type."""
    if type_ref.startswith("["):
        ok = isinstance(value, list)
    elif type_ref.startswith("{") or type_ref in field_types():
        ok = isinstance(value, dict)
    elif type_ref == "string" and (struct, field) in _go_kinds()[1]:
        ok = True
    elif type_ref in ("string", "time"):
        ok = isinstance(value, str)
    elif type_ref == "boolean":
        ok = isinstance(value, bool)
    elif type_ref == "integer":
        low, high = _INT_RANGES[_go_type(type_ref, struct, field)]
        if isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, float) or not low <= value <= high:
                # A number that is no integer of the type: Go shows its literal.
                return _go_type(type_ref, struct, field), f"number {json.dumps(value)}"
            return None
        ok = False
    elif type_ref == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = True
    return None if ok else (_go_type(type_ref, struct, field), json_kind(value))


def _go_type(type_ref: str, struct: str, field: str) -> str:
    if type_ref == "{string}" and (struct, field) in _go_kinds()[1]:
        return "v1.ResourceList"
    if type_ref.startswith("["):
        return "[]" + _go_type(type_ref[1:-1], struct, field)
    if type_ref.startswith("{"):
        return "map[string]" + _go_type(type_ref[1:-1], struct, field)
    if type_ref == "integer":
        return "int64" if (struct, field) in _go_kinds()[0] else "int32"
    primitives = {"string": "string", "boolean": "bool", "number": "float64", "time": "v1.Time"}
    return primitives.get(type_ref, f"v1.{_go_name(type_ref)}")


def _go_name(type_name: str) -> str:
    """The Go type's name: the short name, less the group prefix a clash gave it (`DiscoveryEndpointPort`)."""
    schema = schemas().get(type_name)
    return str(schema["name"]).rsplit(".", 1)[1] if schema else type_name
