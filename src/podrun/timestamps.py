"""Kubernetes timestamps on the wire: `metav1.Time` (RFC 3339, seconds), `metav1.MicroTime` (six
fractional digits), the CRI logs' RFC3339Nano, all in UTC with `Z`; and one parser for all of them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?(?P<zone>[Zz]|[+-]\d{2}:\d{2})$"
)


def format_time(unix_seconds: float) -> str:
    """A `metav1.Time`: RFC 3339 in UTC, fractions truncated (`2026-12-05T09:17:09Z`)."""
    return datetime.fromtimestamp(int(unix_seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(unix_seconds: float) -> str:
    """A `metav1.MicroTime`: RFC 3339 in UTC with six fractional digits."""
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_nano_time(unix_nanos: int) -> str:
    """Go's RFC3339Nano in UTC, as the CRI log format and `kubectl logs --timestamps` print it.

    Trailing zeros of the fraction are dropped, and so is the dot when nothing is left (Go's `.999999999`).
    """
    seconds, nanos = divmod(unix_nanos, 1_000_000_000)
    head = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{nanos:09d}".rstrip("0")
    return f"{head}.{frac}Z" if frac else f"{head}Z"


def now_time() -> str:
    """The current time as a `metav1.Time`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp, with any fraction (nanoseconds are truncated to microseconds) and zone,
    as an aware datetime. Raises ValueError for anything else."""
    match = _RFC3339.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp")
    micros = int((match["frac"] or "0")[:6].ljust(6, "0"))
    moment = datetime.fromisoformat(f"{match['date']}T{match['time']}").replace(tzinfo=UTC)
    zone = match["zone"].upper()
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return moment + timedelta(microseconds=micros)


def parse_unix(text: str) -> float:
    """An RFC 3339 timestamp as Unix seconds. Raises ValueError for anything else."""
    return parse_time(text).timestamp()
