"""The scaling curve still runs: `bench/compare.py --quick --podrun-only --scaling-only` exits 0, prints the curve
and podrun's cost per pod, writes its raw numbers and its chart, and leaves nothing behind.

Podman is neither installed nor run (`--podrun-only`), and the counts are tiny (1 and 3 pods): the test keeps the
case from rotting; the timings are never judged here, only crashes, missing numbers and leaks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from leaks import processes_naming, sandbox_cgroups

from podrun.runtime import linux

BENCH = Path(__file__).resolve().parents[2] / "bench" / "compare.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One `--quick --podrun-only --scaling-only` run: its result and its results directory."""
    if shutil.which("kubectl") is None:
        pytest.skip("podrun serve is driven by kubectl, which is not installed")
    results = tmp_path_factory.mktemp("scaling")
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--podrun-only", "--scaling-only", "--results", str(results)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return result, results


def written(results: Path) -> dict[str, Any]:
    """The JSON the run wrote."""
    files = sorted(results.glob("compare-*.json"))
    return json.loads(files[-1].read_text()) if files else {}


def test_the_scaling_run_exits_0_and_leaves_nothing_behind(
    quick_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, results = quick_run
    doc = written(results)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 scaling" in result.stdout and "per extra pod" in result.stdout, result.stdout
    work = Path(doc["work_dir"])
    assert not work.exists()
    assert linux.mounts_under(work) == []
    assert processes_naming(work) == {}
    assert doc["sandbox_ids"], "no sandbox reported: the cgroup check would prove nothing"
    assert sandbox_cgroups(doc["sandbox_ids"]) == []


def test_the_scaling_run_records_every_count_and_the_slope(
    quick_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, results = quick_run
    doc = written(results)

    podrun = doc["scaling"]["tools"]["podrun serve"]
    assert [p["pods"] for p in podrun["points"]] == [1, 3]
    assert all(p["running_ms"] > 0 and p["deleted_ms"] > 0 for p in podrun["points"])
    assert podrun["points"][-1]["memory"]["groups"]["conmon"]["processes"] >= 3
    assert podrun["slopes"]["running_ms_per_pod"] is not None
    assert set(doc["scaling"]["tools"]) == {"podrun serve"}
    assert doc["failures"] == {}


def test_the_scaling_run_draws_its_chart(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, results = quick_run

    assert [p.name.startswith("scaling-") for p in results.glob("*.png")] == [True]
