"""Kubernetes resource quantities (`100m`, `0.5`, `1Gi`, `1e3`), parsed and printed as apimachinery does.

This follows `staging/src/k8s.io/apimachinery/pkg/api/resource/quantity.go`: the same scanner, the same
errors, the same rounding up to nano units, the same canonical form (`1.5` -> `1500m`, `1024Mi` -> `1Gi`),
and the same habit of re-emitting the input text unchanged when it is already canonical.
Values are exact: a `Fraction` that is always a whole number of nano units.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from functools import total_ordering
from typing import Any

FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
NUMERIC_ERROR = "unable to parse numeric part of quantity"
SUFFIX_ERROR = "unable to parse quantity's suffix"


class Format(StrEnum):
    """How a quantity prints: the kind of suffix it was written with."""

    DECIMAL_EXPONENT = "DecimalExponent"
    BINARY_SI = "BinarySI"
    DECIMAL_SI = "DecimalSI"


_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_NAMES = {exponent: name for name, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_NAMES = {exponent: name for name, exponent in _BINARY_SUFFIXES.items()} | {0: ""}
_SUFFIX_LETTERS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_NANO = 10**9
_MAX_INT64 = 2**63 - 1
# Go keeps a quantity in an int64 only while its digits fit (maxInt64Factors); the choice decides
# whether the input text is reused as the printed form, so it is mirrored here.
_MAX_INT64_FACTORS = 18
# Go would happily build 10**(10**9); refuse exponents no real quantity needs rather than hang.
_MAX_EXPONENT = 10_000


@total_ordering
class Quantity:
    """An exact quantity: its value, its format, and (as in Go) the input text when that is canonical."""

    __slots__ = ("_int_scale", "_text", "format", "value")

    def __init__(
        self, value: Fraction, format: Format, *, text: str | None = None, int_scale: int | None = None
    ) -> None:
        self.value = value
        self.format = format
        self._text = text
        self._int_scale = int_scale

    def __str__(self) -> str:
        return self._text if self._text is not None else _canonical(self.value, self.format)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.value == other.value

    def __lt__(self, other: Quantity) -> bool:
        return self.value < other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def is_zero(self) -> bool:
        """True for any spelling of zero."""
        return self.value == 0

    def round_up(self, scale: int) -> Quantity:
        """Round away from zero to a multiple of 10**scale, as `Quantity.RoundUp` does.

        Like Go, a quantity that already has that precision keeps its original text.
        """
        if self._int_scale is not None and self._int_scale >= scale:
            return self
        unit = Fraction(10) ** scale
        steps = self.value / unit
        rounded = math.ceil(steps) if steps >= 0 else math.floor(steps)
        int_scale = scale if self._int_scale is not None else None
        return Quantity(rounded * unit, self.format, int_scale=int_scale)

    def milli_value(self) -> int:
        """ceil(value * 1000), Go's `MilliValue`."""
        return math.ceil(self.value * 1000)

    def whole_value(self) -> int:
        """The value rounded up to an integer, Go's `Value`."""
        return math.ceil(self.value)


def parse_quantity(text: str) -> Quantity:
    """Parse a quantity string exactly as `resource.ParseQuantity` does; ValueError carries Go's message."""
    if text == "":
        raise ValueError(FORMAT_ERROR)
    if text == "0":
        return Quantity(Fraction(0), Format.DECIMAL_SI, text=text, int_scale=0)
    positive, num, denom, suffix, has_digits = _scan(text)
    base, exponent, fmt = _interpret(suffix)
    fast = _parse_int64(text, positive, num, denom, exponent, fmt)
    if fast is not None:
        return fast
    if not has_digits:
        raise ValueError(NUMERIC_ERROR)
    amount = Fraction(int(num + denom), 10 ** len(denom))
    amount *= Fraction(base) ** exponent
    if amount != 0:
        # Round up, so that asking for any amount at all never yields zero.
        amount = Fraction(math.ceil(amount * _NANO), _NANO)
    if fmt is Format.BINARY_SI and amount > _MAX_INT64:
        amount = Fraction(_MAX_INT64)
    if fmt is Format.BINARY_SI and 0 < amount < 1:
        fmt = Format.DECIMAL_SI
    return Quantity(amount if positive else -amount, fmt)


def from_json(value: Any) -> Quantity:
    """Decode a quantity the way `Quantity.UnmarshalJSON` sees a YAML/JSON value.

    Numbers are printed as encoding/json would before parsing, surrounding spaces are trimmed,
    null is zero, and anything else fails with the format error.
    """
    if value is None:
        return Quantity(Fraction(0), Format.DECIMAL_SI, int_scale=0)
    return parse_quantity(json_number_text(value).strip())


def json_number_text(value: Any) -> str:
    """The text Go's encoding/json writes for a scalar: what a quantity or message sees of it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_json_float(value)
    return json.dumps(value, separators=(",", ":"))


def canonical(value: Quantity | str | int | float) -> str:
    """The canonical string of a quantity, as the API server writes it back."""
    return str(_coerce(value))


def to_bytes(value: Quantity | str | int | float) -> int:
    """A byte count: the quantity rounded up to a whole number."""
    return _coerce(value).whole_value()


def to_millis(value: Quantity | str | int | float) -> int:
    """Thousandths (millicores for cpu), rounded up."""
    return _coerce(value).milli_value()


def _coerce(value: Quantity | str | int | float) -> Quantity:
    return value if isinstance(value, Quantity) else from_json(value)


def _scan(text: str) -> tuple[bool, str, str, str, bool]:
    """Go's parseQuantityString: sign, integer digits, fraction digits, suffix; and were there digits."""
    positive = True
    pos, end = 0, len(text)
    if text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    zeros_start = pos
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "", "", True
    has_digits = pos > zeros_start
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    has_digits = has_digits or pos > start
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
        has_digits = has_digits or bool(denom)
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_LETTERS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise ValueError(FORMAT_ERROR)
    return positive, num, denom, text[suffix_start:], has_digits


def _interpret(suffix: str) -> tuple[int, int, Format]:
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], Format.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], Format.BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        try:
            exponent = int(suffix[1:])
        except ValueError:
            raise ValueError(SUFFIX_ERROR) from None
        if abs(exponent) > _MAX_EXPONENT:
            raise ValueError(NUMERIC_ERROR)
        return 10, exponent, Format.DECIMAL_EXPONENT
    raise ValueError(SUFFIX_ERROR)


def _parse_int64(text: str, positive: bool, num: str, denom: str, exponent: int, fmt: Format) -> Quantity | None:
    """Go's int64 fast path; it decides which inputs keep their own text. None: use the exact path."""
    mantissa = 1
    if fmt is Format.BINARY_SI:
        scale = 0
        if exponent < 0 or denom:
            return None
        mantissa = 1 << exponent
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
    else:
        scale = exponent
        precision = _MAX_INT64_FACTORS - len(num) - len(denom)
    if precision < 0:
        return None
    scale -= len(denom)
    if scale < -9:
        return None
    shifted = num + denom
    digits = int(shifted)
    result = digits * mantissa
    if result > _MAX_INT64:
        return None
    if fmt is Format.BINARY_SI:
        keeps_text = digits & 0x07 != 0
    else:
        keeps_text = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
    value = Fraction(result if positive else -result) * Fraction(10) ** scale
    return Quantity(value, fmt, text=text if keeps_text else None, int_scale=scale)


def _canonical(value: Fraction, fmt: Format) -> str:
    """CanonicalizeBytes: the largest exponent (or binary suffix) that loses nothing."""
    if value == 0:
        return "0"
    if fmt is Format.BINARY_SI and (-1024 < value < 1024 or value.denominator != 1):
        fmt = Format.DECIMAL_SI
    if fmt is Format.BINARY_SI:
        number, exponent = int(value), 0
        while number % 1024 == 0:
            number //= 1024
            exponent += 10
        return f"{number}{_BINARY_NAMES[exponent]}"
    number, exponent = int(value * _NANO), -9
    while number % 10 == 0:
        number //= 10
        exponent += 1
    while exponent % 3:
        number *= 10
        exponent -= 1
    if fmt is Format.DECIMAL_EXPONENT:
        return f"{number}e{exponent}" if exponent else str(number)
    if exponent > 18:
        # Go has no suffix past E and silently drops it, printing a wrong value; keep the value right.
        number *= 10 ** (exponent - 18)
        exponent = 18
    return f"{number}{_DECIMAL_NAMES[exponent]}"


def _go_json_float(value: float) -> str:
    """encoding/json's float64 text: plain digits in [1e-6, 1e21), else an exponent like 1e+21 or 1e-7."""
    if value == 0:
        return "0"
    if 1e-6 <= abs(value) < 1e21:
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, _, exponent = repr(value).partition("e")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
