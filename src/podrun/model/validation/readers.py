"""Tolerant readers: a field of the wrong JSON type reads as absent, as the validators expect."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from podrun.json_types import JSON
from podrun.model.errors import FieldError

if TYPE_CHECKING:
    from podrun.model.quantity import Quantity

Errors = list[FieldError]


def as_dict(value: Any) -> JSON:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def as_dicts(value: Any) -> list[JSON]:
    """The items of a list, each item that is no mapping read as an empty one."""
    return [item if isinstance(item, dict) else {} for item in as_list(value)]


def as_str(value: Any) -> str:
    """`value` if it is a string, else ""."""
    return value if isinstance(value, str) else ""


def as_int(value: Any) -> int | None:
    """`value` as an integer (whole floats too, booleans not); None if it is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def read_quantity(value: Any, path: str, errors: Errors) -> Quantity | None:
    """`value` as a quantity; None, with the decoder's error added to `errors`, if it is none."""
    # The quantities (and decimal, fractions) load with the first object validated that has one.
    from podrun.model.quantity import from_json, json_number_text

    try:
        return from_json(value)
    except ValueError as exc:
        # The API server fails to decode such an object before validating it; report it all the same.
        errors.append(FieldError.invalid(path, json_number_text(value), str(exc)))
        return None


def name_errors(messages: Iterable[str], path: str, value: str) -> Errors:
    """Each message of a name check as an Invalid error of the field at `path`."""
    return [FieldError.invalid(path, value, message) for message in messages]
