"""The container start benchmark still runs: `bench/runtime_start.py --quick` exits 0 and cleans up, under the OCI
runtime podrun picks or the one it is given.

Only crashes fail this test; the timings it prints are never judged here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from podrun.runtime import linux
from podrun.runtime.oci_runtime import choose_runtime

BENCH = Path(__file__).resolve().parents[2] / "bench" / "runtime_start.py"


def test_the_start_benchmark_runs_and_leaves_nothing_behind() -> None:
    before = set(Path("/tmp").glob("podrun-bench-*"))

    result = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    oci = choose_runtime().name
    assert "podrun LocalRuntime" in result.stdout and f"raw {oci} run + delete" in result.stdout
    made = set(Path("/tmp").glob("podrun-bench-*")) - before
    assert made == set()
    assert [m for m in linux.mounts_under("/tmp") if "/podrun-bench-" in m] == []


def test_the_start_benchmark_runs_podrun_and_the_raw_run_under_the_runtime_it_is_given() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--oci-runtime", "runc"], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert "(runc via " in result.stdout and "raw runc run + delete" in result.stdout
