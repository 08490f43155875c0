"""Field validation errors worded exactly as the Kubernetes API server words them.

`FieldError` mirrors `k8s.io/apimachinery/pkg/util/validation/field.Error` (its `Error()` and
`ErrorBody()`), and `InvalidError` mirrors `apierrors.NewInvalid`: the `Pod "x" is invalid: [...]` message
and the 422 `Status` that kubectl turns into `The Pod "x" is invalid: ...`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorType(StrEnum):
    """The machine-readable cause of a field error (`Status.details.causes[].reason`)."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"

    @property
    def phrase(self) -> str:
        """The human text that starts the message, such as `Required value`."""
        return _PHRASES[self]


_PHRASES = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
    ErrorType.TYPE_INVALID: "Invalid value",
}
# These types never print their bad value.
_VALUELESS = frozenset({ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL})


class _Omitted:
    """Marks a bad value that must not be printed (Go's omitValue)."""

    def __repr__(self) -> str:
        return "OMITTED"


OMITTED: Any = _Omitted()


@dataclass(frozen=True)
class FieldError:
    """One field validation error: its type, its field path, the offending value and a detail."""

    type: ErrorType
    field: str
    bad_value: Any = ""
    detail: str = ""

    @classmethod
    def required(cls, path: str, detail: str = "") -> FieldError:
        """A value that must be set was not."""
        return cls(ErrorType.REQUIRED, path, "", detail)

    @classmethod
    def invalid(cls, path: str, value: Any, detail: str) -> FieldError:
        """A malformed value."""
        return cls(ErrorType.INVALID, path, value, detail)

    @classmethod
    def not_supported(cls, path: str, value: Any, supported: Iterable[str]) -> FieldError:
        """A value outside an enumeration; the supported values are listed, quoted, in the given order."""
        quoted = ", ".join(go_quote(item) for item in supported)
        return cls(ErrorType.NOT_SUPPORTED, path, value, f"supported values: {quoted}" if quoted else "")

    @classmethod
    def duplicate(cls, path: str, value: Any) -> FieldError:
        """A value that must be unique was repeated."""
        return cls(ErrorType.DUPLICATE, path, value, "")

    @classmethod
    def forbidden(cls, path: str, detail: str) -> FieldError:
        """A well-formed value that is not allowed here."""
        return cls(ErrorType.FORBIDDEN, path, "", detail)

    @classmethod
    def too_long(cls, path: str, max_length: int) -> FieldError:
        """A value longer than `max_length` bytes (negative: no limit named)."""
        detail = f"may not be more than {max_length} bytes" if max_length >= 0 else "value is too long"
        return cls(ErrorType.TOO_LONG, path, "<value omitted>", detail)

    @classmethod
    def too_many(cls, path: str, actual: int, max_items: int) -> FieldError:
        """A list with more than `max_items` items (negative `actual` is not printed)."""
        detail = f"must have at most {max_items} items" if max_items >= 0 else "too many items"
        return cls(ErrorType.TOO_MANY, path, actual if actual >= 0 else OMITTED, detail)

    @classmethod
    def not_found(cls, path: str, value: Any) -> FieldError:
        """A reference to something that does not exist."""
        return cls(ErrorType.NOT_FOUND, path, value, "")

    @classmethod
    def type_invalid(cls, path: str, value: Any, detail: str) -> FieldError:
        """A value of the wrong type for the field's schema."""
        return cls(ErrorType.TYPE_INVALID, path, value, detail)

    def body(self) -> str:
        """The message without the field path (`ErrorBody`); this is what a Status cause carries."""
        if self.type in _VALUELESS or self.bad_value is OMITTED:
            text = self.type.phrase
        else:
            text = f"{self.type.phrase}: {format_value(self.bad_value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def format_value(value: Any) -> str:
    """A bad value as Go's field errors print it: strings quoted, numbers and booleans bare, nil as "null"."""
    if value is None:
        return '"null"'
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if _is_quantity(value):
        return str(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "[]string{" + ", ".join(go_quote(item) for item in value) + "}"
    # Go prints the internal Go struct here (%#v); no client parses it, so plain text stands in.
    return repr(value)


def _is_quantity(value: object) -> bool:
    # Looked up, not imported: the quantities (and decimal) load with the first one parsed, and a value can only be
    # a Quantity once they have.
    quantity = sys.modules.get("podrun.model.quantity")
    return quantity is not None and isinstance(value, quantity.Quantity)


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(text: str) -> str:
    """Go's strconv.Quote: double quotes, backslash escapes, printable Unicode kept as is."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def _go_float(value: float) -> str:
    """Go's %v for a float64: shortest digits, exponent form below 1e-4 or from 1e6 up (`1e+06`)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    # decimal loads with the first float an error prints: an idle server has none to print.
    from decimal import Decimal

    digits = Decimal(repr(value))
    exponent = digits.adjusted()
    if -4 <= exponent < 6:
        text = format(digits, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, _, power = f"{digits.normalize():e}".partition("e")
    sign = "-" if power.startswith("-") else "+"
    return f"{mantissa}e{sign}{power.lstrip('+-').zfill(2)}"


def aggregate_message(errors: Sequence[FieldError]) -> str:
    """Go's aggregate error text: one message alone, several in brackets, repeats dropped."""
    seen: list[str] = []
    for error in errors:
        text = str(error)
        if text not in seen:
            seen.append(text)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


class InvalidError(Exception):
    """An object failed validation: the API server's 422 `Invalid` error for it.

    `source` (for example the manifest file) is kept for callers that report where the object came
    from; it is not part of the Kubernetes message.
    """

    def __init__(
        self,
        kind: str,
        name: str,
        errors: Sequence[FieldError],
        *,
        group: str = "",
        source: str | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.group = group
        self.errors = list(errors)
        self.source = source
        super().__init__(self.message)

    @property
    def qualified_kind(self) -> str:
        """`Pod`, or `Deployment.apps` for a kind in a named group."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def message(self) -> str:
        """`Pod "x" is invalid: <errors>`, as the Status message and kubectl's fallback text."""
        head = f"{self.qualified_kind} {go_quote(self.name)} is invalid"
        return f"{head}: {aggregate_message(self.errors)}" if self.errors else head

    def status(self) -> dict[str, Any]:
        """The `Status` object the API server returns with HTTP 422."""
        # Go leaves out empty detail fields (omitempty), keeping its field order.
        details = {
            key: value
            for key, value in (
                ("name", self.name),
                ("group", self.group),
                ("kind", self.kind),
                ("causes", [_cause(error) for error in self.errors]),
            )
            if value
        }
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": "Invalid",
            "details": details,
            "code": 422,
        }


def _cause(error: FieldError) -> dict[str, str]:
    cause = {"reason": str(error.type), "message": error.body()}
    # An empty field is left out, as Go does (the ConfigMap size error names no field).
    if error.field:
        cause["field"] = error.field
    return cause


def json_kind(value: Any) -> str:
    """How Go's encoding/json names a JSON value's type in its UnmarshalTypeError messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"
