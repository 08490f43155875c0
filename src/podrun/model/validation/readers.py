"""Tolerant readers: a field of the wrong JSON type reads as absent, as the validators expect."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from podrun.json_types import JSON
from podrun.model.errors import FieldError
from podrun.model.quantity import Quantity, from_json, json_number_text

Errors = list[FieldError]


def _dict(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[JSON]:
    return [item if isinstance(item, dict) else {} for item in _list(value)]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _quantity(value: Any, path: str, errors: Errors) -> Quantity | None:
    try:
        return from_json(value)
    except ValueError as exc:
        # The API server fails to decode such an object before validating it; report it all the same.
        errors.append(FieldError.invalid(path, json_number_text(value), str(exc)))
        return None


def _names(messages: Iterable[str], path: str, value: str) -> Errors:
    return [FieldError.invalid(path, value, message) for message in messages]
