"""`bench/compare/own_goals.py`: case 8 reads each init hand-off from the pod's CRI logs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from compare import own_goals  # noqa: E402 (bench/ is not a package on the path)
from compare.common import BenchError  # noqa: E402


def _log(log_dir: Path, container: str, *seconds: str) -> None:
    path = log_dir / container / "0.log"
    path.parent.mkdir(parents=True)
    path.write_text("".join(f"2026-12-06T06:00:{s}Z stdout F {container}\n" for s in seconds))


def test_a_hand_off_runs_from_the_last_line_before_it_to_the_first_line_after_it(tmp_path: Path) -> None:
    _log(tmp_path, "init-0", "00.000000000", "00.010000000")
    _log(tmp_path, "init-1", "00.025000000")
    _log(tmp_path, "app", "00.032500000", "00.900000000")

    gaps = own_goals.handoff_gaps_ms(tmp_path, inits=2)

    assert gaps == pytest.approx([15.0, 7.5], abs=0.001)  # Unix seconds as floats: microseconds


def test_a_container_that_logged_nothing_fails_the_sample(tmp_path: Path) -> None:
    _log(tmp_path, "init-0", "00.000000000")
    _log(tmp_path, "app", "00.100000000")

    with pytest.raises(BenchError, match="init-1 logged nothing"):
        own_goals.handoff_gaps_ms(tmp_path, inits=2)
