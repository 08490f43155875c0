"""DeleteOptions from a DELETE's body and query, decoded strictly and validated as the API server does.

A field of the wrong JSON type is a 400 BadRequest in the words of Go's `encoding/json` (`json: cannot unmarshal
string into Go struct field DeleteOptions.gracePeriodSeconds of type int64`); values that decode but are not
allowed are the 422 Invalid of `ValidateDeleteOptions` (apimachinery's `metav1/validation`): a propagationPolicy
other than Foreground, Background or Orphan, both orphanDependents and propagationPolicy, a dryRun other than All.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from podrun.api.errors import ApiError, bad_request, invalid_from
from podrun.json_types import JSON
from podrun.model.errors import FieldError, InvalidError

PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")
_INT64 = (-(2**63), 2**63 - 1)
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True)
class DeleteOptions:
    """What a DELETE asked for: the grace period (None: the object's default), dry run, and preconditions."""

    grace_period_seconds: int | None = None
    dry_run: bool = False
    preconditions: JSON = field(default_factory=dict)
    propagation_policy: str | None = None


def decode_delete_options(body: Any, query: Mapping[str, Sequence[str]]) -> DeleteOptions:
    """DeleteOptions from the decoded `body` (None when the request had none) and the query's values per key.

    As in the API server, the query is read first and a body's fields, when given, win. Raises `ApiError`.
    """
    grace = _query_int(query, "gracePeriodSeconds")
    dry_run = list(query.get("dryRun", []))
    policy = _last(query, "propagationPolicy")
    orphan = _query_bool(query, "orphanDependents")
    preconditions: JSON = {}
    if body is not None:
        if not isinstance(body, dict):
            raise bad_request(_unmarshal_message(body, "", "v1.DeleteOptions"))
        grace = _field(body, "gracePeriodSeconds", _int64, "int64", grace)
        dry_run = _field(body, "dryRun", _strings, "[]string", dry_run)
        policy = _field(body, "propagationPolicy", _string, "v1.DeletionPropagation", policy)
        orphan = _field(body, "orphanDependents", _bool, "bool", orphan)
        preconditions = _field(body, "preconditions", _preconditions, "v1.Preconditions", {}) or {}
    _validate(policy, orphan, dry_run)
    return DeleteOptions(grace, "All" in dry_run, preconditions, policy)


def _validate(policy: str | None, orphan: bool | None, dry_run: list[str]) -> None:
    errors: list[FieldError] = []
    if orphan is not None and policy is not None:
        errors.append(
            FieldError.invalid(
                "propagationPolicy", policy, "orphanDependents and deletionPropagation cannot be both set"
            )
        )
    if policy is not None and policy not in PROPAGATION_POLICIES:
        errors.append(FieldError.not_supported("propagationPolicy", policy, [*PROPAGATION_POLICIES, "nil"]))
    if any(value != "All" for value in dry_run):
        errors.append(FieldError.not_supported("dryRun", dry_run, ["All"]))
    if errors:
        raise invalid_from(InvalidError("DeleteOptions", "", errors, group="meta.k8s.io"))


# --- strict field decoding ------------------------------------------------------------------------------------


class _WrongType(Exception):
    """The JSON value cannot be unmarshalled into the field's Go type."""


def _field(body: JSON, name: str, convert: Any, go_type: str, default: Any) -> Any:
    """`body[name]` converted to the field's type; `default` when absent or null (as Go leaves the field)."""
    value = body.get(name)
    if value is None:
        return default
    try:
        return convert(value)
    except _WrongType:
        raise bad_request(_unmarshal_message(value, f"DeleteOptions.{name}", go_type)) from None


def _unmarshal_message(value: Any, field_name: str, go_type: str) -> str:
    """Go's `*json.UnmarshalTypeError` text."""
    where = f" into Go struct field {field_name}" if field_name else " into Go value"
    return f"json: cannot unmarshal {_json_type(value)}{where} of type {go_type}"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return f"number {value}"
    if isinstance(value, float):
        return f"number {value!r}" if math.isfinite(value) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _int64(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _WrongType
    if isinstance(value, float) and not value.is_integer():
        raise _WrongType
    number = int(value)
    if not _INT64[0] <= number <= _INT64[1]:
        raise _WrongType
    return number


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _WrongType
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _WrongType
    return value


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _WrongType
    return list(value)


def _preconditions(value: Any) -> JSON:
    if not isinstance(value, dict):
        raise _WrongType
    for key in ("uid", "resourceVersion"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise _WrongType
    return {key: value[key] for key in ("uid", "resourceVersion") if value.get(key) is not None}


# --- the query ------------------------------------------------------------------------------------------------


def _last(query: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = query.get(key, [])
    return values[-1] if values else None


def _query_int(query: Mapping[str, Sequence[str]], key: str) -> int | None:
    value = _last(query, key)
    if value is None or value == "":
        return None
    try:
        return _int64(int(value))
    except (ValueError, _WrongType):
        raise ApiError(400, "BadRequest", f'invalid value for {key}: parsing "{value}": invalid syntax') from None


def _query_bool(query: Mapping[str, Sequence[str]], key: str) -> bool | None:
    value = _last(query, key)
    if value is None or value == "":
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise bad_request(f'invalid value for {key}: strconv.ParseBool: parsing "{value}": invalid syntax')
