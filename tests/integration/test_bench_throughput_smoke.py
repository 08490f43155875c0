"""`bench/throughput.py` still runs: one round of 2 pods (this podrun alone) and the floor, every number recorded,
nothing left behind. The timings are never judged here, only crashes, missing numbers and leaks."""

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

BENCH = Path(__file__).resolve().parents[2] / "bench" / "throughput.py"
CGROUPS = Path("/sys/fs/cgroup")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One run of 1 round with 2 pods: its result and the JSON it wrote."""
    if shutil.which("kubectl") is None:
        pytest.skip("podrun serve is driven by kubectl, which is not installed")
    out = tmp_path_factory.mktemp("throughput") / "out.json"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--runs", "1", "--pods", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return result, json.loads(out.read_text()) if out.exists() else {}


def test_the_run_exits_0_and_leaves_nothing_behind(
    quick_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    result, doc = quick_run

    assert result.returncode == 0, result.stdout + result.stderr
    work = Path(doc["work_dir"])
    assert not work.exists()
    assert linux.mounts_under(work) == []
    assert processes_naming(work) == {}
    assert doc["sandbox_ids"], "no sandbox reported: the cgroup check would prove nothing"
    assert sandbox_cgroups(doc["sandbox_ids"]) == []
    assert list(CGROUPS.glob("*/podrun-floor")) + list(CGROUPS.glob("podrun-floor")) == []


def test_every_measure_and_the_floor_are_recorded(
    quick_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, doc = quick_run
    samples = doc["sides"]["this"]

    assert sorted(samples) == sorted([
        "many_running_ms", "many_apply_ms", "many_serve_cpu_s", "many_children_cpu_s", "many_deleted_ms",
        "many_run_running_ms", "many_run_cpu_s", "many_run_stopped_ms",
        "start_ms", "kubectl_get_ms", "teardown_ms", "run_start_ms", "run_teardown_ms",
    ])  # fmt: skip
    assert all(len(values) == 1 for values in samples.values())
    assert doc["floor"]["runc"]["create_and_start"]["count"] == 4
    assert doc["floor"]["network"]["cni_add"]["count"] == 2
