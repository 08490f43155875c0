"""The wire formats of Kubernetes timestamps and the one parser for them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podrun.timestamps import format_micro_time, format_nano_time, format_time, parse_time, parse_unix

MOMENT = 1764926229  # 2025-12-05T09:17:09Z


def test_time_is_seconds_in_utc_with_z() -> None:
    assert format_time(MOMENT + 0.999) == "2025-12-05T09:17:09Z"


def test_micro_time_has_six_digits() -> None:
    assert format_micro_time(MOMENT + 0.25) == "2025-12-05T09:17:09.250000Z"


def test_nano_time_is_go_rfc3339nano_with_z() -> None:
    assert format_nano_time(MOMENT * 10**9 + 16753597) == "2025-12-05T09:17:09.016753597Z"


def test_nano_time_drops_trailing_zeros_and_an_empty_fraction() -> None:
    assert format_nano_time(MOMENT * 10**9 + 500_000_000) == "2025-12-05T09:17:09.5Z"
    assert format_nano_time(MOMENT * 10**9) == "2025-12-05T09:17:09Z"


@pytest.mark.parametrize(
    "text",
    ["2025-12-05T09:17:09Z", "2025-12-05T09:17:09.000000000Z", "2025-12-05T10:17:09+01:00", "2025-12-05t09:17:09z"],
)
def test_parse_accepts_every_rfc3339_form(text: str) -> None:
    assert parse_unix(text) == MOMENT


def test_parse_truncates_nanoseconds_to_microseconds() -> None:
    assert parse_time("2025-12-05T09:17:09.016753597Z") == datetime(2025, 12, 5, 9, 17, 9, 16753, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "2025-12-05", "2025-12-05T09:17:09", ""])
def test_parse_refuses_what_is_not_rfc3339(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)
