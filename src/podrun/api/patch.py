"""The three PATCH formats of the Kubernetes API (server-side apply is `podrun.api.apply`).

* `json_merge_patch`: RFC 7386 (`application/merge-patch+json`).
* `json_patch`: RFC 6902 (`application/json-patch+json`). As in the API server, a malformed patch document is a
  400 and an operation that does not apply (a missing path, a failed `test`) is a 422 `Invalid`.
* `strategic_merge_patch`: Kubernetes' strategic merge patch (`application/strategic-merge-patch+json`), which
  `kubectl apply` sends. It follows `k8s.io/apimachinery/pkg/util/strategicpatch/patch.go` (`mergeMap`,
  `mergeSlice`, `mergePatchIntoOriginal`, `normalizeElementOrder`) with the patch strategies and merge keys of
  upstream's schemas of the served kinds (`podrun.model.schema_data`). Two choices differ from
  apimachinery on purpose: a directive in a value that is new to the object is processed as if merged into an
  empty value (apimachinery drops it or, in older versions, stores it), and `$patch: merge` is accepted as the
  default it names instead of being an error. Malformed patches are 400s where Go returns an untyped error
  (which the API server turns into a 500).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from podrun.api.errors import ApiError, bad_request
from podrun.model.schema_data import schemas

JSON = Any

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ELEMENT_ORDER = "$setElementOrder/"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
_REPLACE, _DELETE, _MERGE = "replace", "delete", "merge"

# k8s.io/apimachinery/pkg/util/mergepatch/errors.go.
_BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
_BAD_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"
_BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"

# ---------------------------------------------------------------------------------------------------------------
# Patch metadata: the `patchStrategy` and `patchMergeKey` struct tags of k8s.io/api core/v1 and metav1.


@dataclass(frozen=True)
class _Field:
    """How a field merges. `merge` lists merge element-wise (by `merge_key` for maps, as a set for primitives);
    other lists are atomic and replaced. `schema` describes a map's fields, or a list element's."""

    merge: bool = False
    merge_key: str = ""
    schema: Mapping[str, _Field] = field(default_factory=dict)


_PLAIN = _Field()


@functools.cache
def _type_fields(type_name: str) -> Mapping[str, _Field]:
    """How each field of a `podrun.model.schema_data` type merges, from its `x-kubernetes-patch-strategy` and
    `x-kubernetes-patch-merge-key` (a `retainKeys` strategy needs nothing more: `$retainKeys` is honoured
    wherever it appears)."""
    fields: dict[str, _Field] = {}
    for name, prop in schemas()[type_name]["properties"].items():
        target = prop.get("$ref") or prop.get("items", {}).get("$ref")
        merge = "merge" in prop.get("x-kubernetes-patch-strategy", "").split(",")
        merge_key = prop.get("x-kubernetes-patch-merge-key", "")
        nested = _type_fields(target) if target else {}
        if merge or merge_key or nested:
            fields[name] = _Field(merge=merge, merge_key=merge_key, schema=nested)
    return fields


def _kind_fields(kind: str) -> Mapping[str, _Field]:
    """A kind's merge metadata; kinds without a schema merge only their `metadata` by ObjectMeta's."""
    if kind in schemas():
        return _type_fields(kind)
    return {"metadata": _Field(schema=_type_fields("ObjectMeta"))}


# ---------------------------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386)


def json_merge_patch(original: dict[str, Any], patch: JSON) -> dict[str, Any]:
    """Apply an RFC 7386 merge patch to a copy of `original`: objects merge recursively, `null` deletes, anything
    else replaces. A patch that is not an object is an ApiError 400."""
    if not isinstance(patch, dict):
        raise bad_request("Invalid JSON Patch")
    return _merge_into(copy.deepcopy(original), patch)


def _merge_into(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = copy.deepcopy(value)
    return target


# ---------------------------------------------------------------------------------------------------------------
# JSON patch (RFC 6902)

_MISSING: Any = object()


class _OperationFailed(Exception):
    """An operation that does not apply to the document; the API server answers 422."""


def json_patch(original: dict[str, Any], operations: JSON) -> dict[str, Any]:
    """Apply RFC 6902 operations (add, remove, replace, move, copy, test) in order, to a copy of `original`.

    A document that is not a list of operation objects is an ApiError 400; an operation that does not apply is
    the API server's 422 `Invalid`, with the reason appended to its generic message.
    """
    if not isinstance(operations, list):
        raise bad_request(f"json: cannot unmarshal {_go_type(operations)} into Go value of type jsonpatch.Patch")
    for operation in operations:
        if not isinstance(operation, dict):
            raise bad_request(f"json: cannot unmarshal {_go_type(operation)} into Go value of type jsonpatch.Operation")
    document: JSON = copy.deepcopy(original)
    try:
        for operation in operations:
            document = _apply_operation(document, operation)
        if not isinstance(document, dict):
            raise _OperationFailed("the patched document is not an object")
    except _OperationFailed as error:
        raise _rejected(str(error)) from None
    return document


def _rejected(detail: str) -> ApiError:
    """The API server's 422 for a patch that does not apply (`NewGenericServerResponse(422, …)`): reason
    Invalid, empty details and a generic message, to which the actual reason is appended."""
    return ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {detail}", {})


def _go_type(value: JSON) -> str:
    """The JSON type name encoding/json uses in its unmarshal errors."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


def _pointer(value: JSON, name: str) -> tuple[str, list[str]]:
    """A JSON pointer (RFC 6901) and its reference tokens: `~1` is `/` and `~0` is `~`."""
    if not isinstance(value, str):
        raise _OperationFailed(f"operation missing {name} field")
    if value == "":
        return value, []
    if not value.startswith("/"):
        raise _OperationFailed(f"invalid JSON pointer {value!r}: it must start with '/'")
    return value, [token.replace("~1", "/").replace("~0", "~") for token in value[1:].split("/")]


def _is_index(token: str) -> bool:
    """An array index token: ASCII digits without a leading zero."""
    return token.isascii() and token.isdigit() and (token == "0" or not token.startswith("0"))


def _index(token: str, size: int, *, append: bool) -> int:
    """An array index token: digits without leading zeros, below `size` (or equal to it when appending)."""
    if append and token == "-":
        return size
    if not _is_index(token):
        raise _OperationFailed(f"Unable to access invalid index: {token}: invalid index referenced")
    index = int(token)
    if index > size or (index == size and not append):
        raise _OperationFailed(f"Unable to access invalid index: {index}: invalid index referenced")
    return index


def _get(document: JSON, tokens: list[str]) -> JSON:
    """The value at `tokens`, or `_MISSING`."""
    node = document
    for token in tokens:
        if isinstance(node, dict):
            node = node.get(token, _MISSING)
        elif isinstance(node, list) and _is_index(token) and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def _container(document: JSON, tokens: list[str], op: str, path: str) -> JSON:
    parent = _get(document, tokens[:-1])
    if not isinstance(parent, dict | list):
        raise _OperationFailed(f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return parent


def _add(document: JSON, tokens: list[str], value: JSON, path: str) -> JSON:
    if not tokens:
        return value
    parent = _container(document, tokens, "add", path)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    else:
        parent.insert(_index(tokens[-1], len(parent), append=True), value)
    return document


def _remove(document: JSON, tokens: list[str], path: str, op: str = "remove") -> JSON:
    if not tokens:
        raise _OperationFailed(f"{op} operation does not apply: the whole document cannot be removed")
    parent = _container(document, tokens, op, path)
    if isinstance(parent, dict):
        if tokens[-1] not in parent:
            raise _OperationFailed(f"Unable to remove nonexistent key: {tokens[-1]}: missing value")
        del parent[tokens[-1]]
    else:
        del parent[_index(tokens[-1], len(parent), append=False)]
    return document


def _replace(document: JSON, tokens: list[str], value: JSON, path: str) -> JSON:
    if not tokens:
        return value
    parent = _container(document, tokens, "replace", path)
    if isinstance(parent, dict):
        if tokens[-1] not in parent:
            raise _OperationFailed(f"replace operation does not apply: doc is missing key: {path}: missing value")
        parent[tokens[-1]] = value
    else:
        parent[_index(tokens[-1], len(parent), append=False)] = value
    return document


def _json_equal(left: JSON, right: JSON) -> bool:
    """JSON equality: unlike Python's, `true` is not `1`."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(value, right[key]) for key, value in left.items())
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return False
    return bool(left == right)


def _value(operation: dict[str, Any], op: str) -> JSON:
    if "value" not in operation:
        raise _OperationFailed(f"{op} operation missing value field")
    return copy.deepcopy(operation["value"])


def _apply_operation(document: JSON, operation: dict[str, Any]) -> JSON:
    op = operation.get("op")
    path, tokens = _pointer(operation.get("path"), "path")
    if op == "add":
        return _add(document, tokens, _value(operation, op), path)
    if op == "remove":
        return _remove(document, tokens, path)
    if op == "replace":
        return _replace(document, tokens, _value(operation, op), path)
    if op == "test":
        expected = _value(operation, op)
        if not _json_equal(_get(document, tokens), expected):
            raise _OperationFailed(f"testing value {path} failed: test failed")
        return document
    if op in ("move", "copy"):
        source, from_tokens = _pointer(operation.get("from"), "from")
        value = _get(document, from_tokens)
        if value is _MISSING:
            raise _OperationFailed(f'{op} operation does not apply: doc is missing from path: "{source}"')
        if op == "copy":
            return _add(document, tokens, copy.deepcopy(value), path)
        if tokens[: len(from_tokens)] == from_tokens and len(tokens) > len(from_tokens):
            raise _OperationFailed(f"move operation does not apply: {source} is a prefix of {path}")
        document = _remove(document, from_tokens, source, op)
        return _add(document, tokens, value, path)
    raise _OperationFailed(f"Unexpected kind: {op}")


# ---------------------------------------------------------------------------------------------------------------
# Strategic merge patch


def strategic_merge_patch(original: dict[str, Any], patch: JSON, kind: str) -> dict[str, Any]:
    """Apply a strategic merge patch to a copy of `original`, an object of `kind` (`Pod`, `ConfigMap`, …).

    Kinds without their own patch metadata merge their `metadata` like any object and everything else with
    the defaults: maps merge recursively, lists are replaced and `null` deletes. Malformed patches raise
    ApiError 400 (422 for a list of lists, as the API server does).
    """
    if not isinstance(patch, dict):
        raise bad_request(f"json: cannot unmarshal {_go_type(patch)} into Go value of type map[string]interface {{}}")
    schema = _kind_fields(kind)
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), schema)


_DROP: Any = object()


def _fresh(value: JSON, spec: _Field) -> JSON:
    """A patch value for a field the object does not have: merged into an empty value, so that directives
    are processed rather than stored and nulls are dropped. `_DROP` when the value deletes itself."""
    if isinstance(value, dict):
        if value.get(_DIRECTIVE) == _DELETE:
            return _DROP
        return _merge_map({}, value, spec.schema)
    if isinstance(value, list):
        return _merge_list([], value, spec)
    return value


def _merge_map(original: dict[str, Any], patch: dict[str, Any], schema: Mapping[str, _Field]) -> dict[str, Any]:
    directive = patch.pop(_DIRECTIVE, None)
    if directive == _REPLACE:
        return _merge_map({}, patch, schema)
    if directive == _DELETE:
        # apimachinery leaves an empty map in place of a deleted one.
        return {}
    if directive not in (None, _MERGE):
        raise bad_request(f"unknown patch type: {directive} in map: {_show(patch)}")
    _retain_keys(original, patch)
    _set_element_orders(original, patch, schema)
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            _delete_from_primitive_list(original, key[len(_DELETE_FROM_PRIMITIVE_LIST) :], value)
            continue
        if key.startswith("$"):
            raise bad_request(f"unknown patch directive {key!r}")
        if value is None:
            original.pop(key, None)
            continue
        spec = schema.get(key, _PLAIN)
        current = original.get(key, _MISSING)
        if isinstance(current, dict) and isinstance(value, dict):
            original[key] = _merge_map(current, value, spec.schema)
        elif isinstance(current, list) and isinstance(value, list):
            original[key] = _merge_list(current, value, spec)
        else:
            # New, or of another type: the patch value replaces it.
            fresh = _fresh(value, spec)
            if fresh is _DROP:
                original.pop(key, None)
            else:
                original[key] = fresh
    return original


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """`$retainKeys`: drop the original's keys not listed; every key the patch sets must be listed."""
    if _RETAIN_KEYS not in patch:
        return
    retained = patch.pop(_RETAIN_KEYS)
    if not isinstance(retained, list):
        raise bad_request(_BAD_RETAIN_KEYS)
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)):
            continue
        if key not in retained:
            raise bad_request(_BAD_RETAIN_KEYS)
    for key in [key for key in original if key not in retained]:
        del original[key]


def _delete_from_primitive_list(original: dict[str, Any], key: str, values: JSON) -> None:
    if not key or not isinstance(values, list):
        raise bad_request(_BAD_PRIMITIVE_LIST)
    current = original.get(key)
    if isinstance(current, list):
        original[key] = [item for item in current if not any(_same(item, value) for value in values)]


def _set_element_orders(original: dict[str, Any], patch: dict[str, Any], schema: Mapping[str, _Field]) -> None:
    """`$setElementOrder/<list>`: merge the list's patch, then order the listed elements as given.

    The patch list is merged here and removed from `patch` (mergePatchIntoOriginal). Elements the order
    does not list keep their place relative to the live list.
    """
    for directive in [key for key in patch if key.startswith(_SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        key = directive[len(_SET_ELEMENT_ORDER) :]
        if not key or not isinstance(order, list):
            raise bad_request(_BAD_SET_ELEMENT_ORDER)
        spec = schema.get(key, _PLAIN)
        live = original.get(key, _MISSING)
        change = patch.pop(key, _MISSING)
        if (live is not _MISSING and not isinstance(live, list)) or (
            change is not _MISSING and not isinstance(change, list)
        ):
            raise bad_request(_BAD_SET_ELEMENT_ORDER)
        if change is not _MISSING:
            _check_order(change, order, spec.merge_key)
        if live is _MISSING and change is _MISSING:
            continue
        if live is _MISSING:
            merged = _merge_list([], change, spec)
        elif change is _MISSING:
            merged = live
        else:
            merged = _merge_list(live, change, spec)
        if spec.merge and merged:
            listed, unlisted = _partition(merged, order, spec.merge_key)
            merged = _normalize_order(listed, unlisted, order, [] if live is _MISSING else live, spec.merge_key)
        original[key] = merged


def _check_order(change: list[Any], order: list[Any], key: str) -> None:
    """validatePatchWithSetOrderList: the patch list's elements must appear in the order list, in its order."""
    if not change or not order:
        return
    kept = [item for item in change if not (isinstance(item, dict) and item.get(_DIRECTIVE) == _DELETE)]
    patch_index = order_index = 0
    while patch_index < len(kept) and order_index < len(order):
        item = kept[patch_index]
        if isinstance(item, dict) and _DIRECTIVE in item:
            patch_index += 1
            continue
        if _key_of(item, key) is not _MISSING and _same(_key_of(item, key), _key_of(order[order_index], key)):
            patch_index += 1
        order_index += 1
    if patch_index < len(kept):
        raise bad_request(
            f"The order in patch list:\n{_show(change)}\n doesn't match $setElementOrder list:\n{_show(order)}\n"
        )


def _merge_list(original: list[Any], patch: list[Any], spec: _Field) -> list[Any]:
    """mergeSliceHandler: atomic lists are replaced, merge lists merged element-wise and ordered."""
    element = _Field(schema=spec.schema)
    if not spec.merge:
        return [item for item in (_fresh(value, element) for value in patch) if item is not _DROP]
    if not original and not patch:
        return []
    if any(isinstance(item, list) for item in [*original, *patch]):
        raise _rejected("lists of lists are not supported")
    if not any(isinstance(item, dict) for item in [*original, *patch]):
        merged = list(original)
        for item in patch:
            if not any(_same(item, present) for present in merged):
                merged.append(item)
        in_patch, server_only = _partition(merged, patch, "")
        return _normalize_order(in_patch, server_only, patch, original, "")
    if not all(isinstance(item, dict) for item in [*original, *patch]):
        raise bad_request(f"list element types are not identical: {_show(original)} {_show(patch)}")
    key = spec.merge_key
    if not key:
        raise bad_request("cannot merge lists without merge key for type map")
    original, patch = _special_elements(original, patch, key, element)
    merged = list(original)
    for item in patch:
        if key not in item:
            raise bad_request(_no_merge_key(item, key))
        position = next((i for i, present in enumerate(merged) if _same(present.get(key, _MISSING), item[key])), -1)
        if position >= 0:
            merged[position] = _merge_map(merged[position], item, spec.schema)
        else:
            merged.append(_fresh(item, element))
    in_patch, server_only = _partition(merged, patch, key)
    return _normalize_order(in_patch, server_only, patch, original, key)


def _special_elements(original: list[Any], patch: list[Any], key: str, element: _Field) -> tuple[list[Any], list[Any]]:
    """mergeSliceWithSpecialElements: apply `$patch` elements; return the original and the plain patch items.

    `{"$patch": "delete", <key>: v}` removes the elements with that key; `{"$patch": "replace"}` makes the
    patch's other elements the whole list.
    """
    plain: list[Any] = []
    replace = False
    for item in patch:
        directive = item.get(_DIRECTIVE, _MISSING)
        if directive is _MISSING:
            plain.append(item)
        elif directive == _DELETE:
            if key not in item:
                raise bad_request(_no_merge_key(item, key))
            original = [present for present in original if not _same(present.get(key, _MISSING), item[key])]
        elif directive == _REPLACE:
            replace = True
        elif directive == _MERGE:
            # An element marked as merged merges as any element does; a bare marker says nothing.
            if key in item:
                plain.append({name: value for name, value in item.items() if name != _DIRECTIVE})
        else:
            raise bad_request(f"unknown patch type: {directive} in map: {_show(item)}")
    if replace:
        return [item for item in (_fresh(value, element) for value in plain) if item is not _DROP], []
    return original, plain


def _partition(items: list[Any], by: list[Any], key: str) -> tuple[list[Any], list[Any]]:
    """Split `items` into those present in `by` (compared by merge key, or by value for primitives) and the rest."""
    present: list[Any] = []
    absent: list[Any] = []
    for item in items:
        if key and (not isinstance(item, dict) or key not in item):
            raise bad_request(_no_merge_key(item, key))
        (present if _position(by, item, key) >= 0 else absent).append(item)
    return present, absent


def _normalize_order(
    in_patch: list[Any], server_only: list[Any], patch_order: list[Any], server_order: list[Any], key: str
) -> list[Any]:
    """normalizeElementOrder: order patch items as the patch does and server-only items as the live list does,
    then interleave them, keeping each server-only item ahead of the patch items it preceded in the live list."""
    in_patch = _sorted_by(in_patch, patch_order, key)
    server_only = _sorted_by(server_only, server_order, key)
    merged: list[Any] = []
    left = right = 0
    while left < len(server_only) or right < len(in_patch):
        if right >= len(in_patch):
            merged.append(server_only[left])
            left += 1
        elif left >= len(server_only):
            merged.append(in_patch[right])
            right += 1
        else:
            left_at = _position(server_order, server_only[left], key)
            right_at = _position(server_order, in_patch[right], key)
            if 0 <= left_at < right_at:
                merged.append(server_only[left])
                left += 1
            else:
                merged.append(in_patch[right])
                right += 1
    return merged


def _sorted_by(items: list[Any], order: list[Any], key: str) -> list[Any]:
    """Items stably sorted by their position in `order`; items it does not hold go last, in their order."""
    size = len(order)

    def rank(item: Any) -> int:
        at = _position(order, item, key)
        return at if at >= 0 else size

    return sorted(items, key=rank)


def _key_of(item: Any, key: str) -> Any:
    """The merge key's value of a map element, or the element itself in a primitive list."""
    if not key:
        return item
    return item.get(key, _MISSING) if isinstance(item, dict) else _MISSING


def _position(items: list[Any], item: Any, key: str) -> int:
    wanted = _key_of(item, key)
    for index, candidate in enumerate(items):
        value = _key_of(candidate, key)
        if value is not _MISSING and _same(value, wanted):
            return index
    return -1


def _same(left: Any, right: Any) -> bool:
    """Go's interface equality for decoded JSON scalars: `true` is not `1`, `80` is `80.0`."""
    if left is _MISSING or right is _MISSING:
        return False
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return bool(left == right)


def _show(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _no_merge_key(item: Any, key: str) -> str:
    return f"map: {_show(item)} does not contain declared merge key: {key}"
