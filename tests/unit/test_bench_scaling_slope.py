"""The scaling curve's cost per pod: a least-squares slope over the counts measured."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from compare.scaling import slope  # noqa: E402


def test_a_straight_line_has_its_own_slope() -> None:
    assert slope([1, 10, 50, 100], [30 + 12 * n for n in (1, 10, 50, 100)]) == pytest.approx(12)


def test_one_count_has_no_slope() -> None:
    assert slope([10], [5.0]) is None
    assert slope([10, 10], [5.0, 7.0]) is None
