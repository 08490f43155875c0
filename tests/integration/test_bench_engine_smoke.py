"""The kubelet benchmarks still run: `bench/init_handoff.py` and `bench/pod_start.py` with `--quick` exit 0 and
leave nothing behind.

Each writes its raw numbers with `--json`, including its temporary directory and the IDs of every sandbox its pods
had, so the leak check is exact: no directory, mount or process naming that directory, and no cgroup of those
sandboxes (a before/after diff of /sys/fs/cgroup would also catch other users' pods on this machine). Only crashes
and leaks fail these tests; the timings are never judged here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from leaks import processes_naming, sandbox_cgroups

from podrun.runtime import linux

BENCH = Path(__file__).resolve().parents[2] / "bench"
Run = tuple[subprocess.CompletedProcess[str], dict[str, Any]]


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Each benchmark run once with `--quick --json FILE`: {script: (result, the JSON it wrote)}."""
    out_dir = tmp_path_factory.mktemp("bench")
    runs = {}
    for script in ("init_handoff.py", "pod_start.py"):
        out = out_dir / f"{script}.json"
        result = subprocess.run(
            [sys.executable, str(BENCH / script), "--quick", "--json", str(out)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        runs[script] = (result, json.loads(out.read_text()) if out.exists() else {})
    return runs


@pytest.mark.parametrize(
    ("script", "expected_lines"),
    [
        ("init_handoff.py", ["hand-off gap", "target median <= 12 ms"]),
        ("pod_start.py", ["add_pod -> Ready True", "target median <= 300 ms", "process start -> exit"]),
    ],
)
def test_the_benchmark_exits_0_and_leaves_nothing_behind(
    quick_runs: dict[str, Run], script: str, expected_lines: list[str]
) -> None:
    result, doc = quick_runs[script]

    assert result.returncode == 0, result.stdout + result.stderr
    for line in expected_lines:
        assert line in result.stdout, result.stdout
    work = Path(doc["work_dir"])
    assert work.parent == Path("/tmp") and work.name.startswith("podrun-bench-")
    assert not work.exists()
    assert linux.mounts_under(work) == []
    assert processes_naming(work) == {}
    assert doc["sandbox_ids"], "no sandbox reported: the cgroup check would prove nothing"
    assert sandbox_cgroups(doc["sandbox_ids"]) == []


def test_the_quick_runs_record_their_raw_numbers(quick_runs: dict[str, Run]) -> None:
    handoff, start = quick_runs["init_handoff.py"][1], quick_runs["pod_start.py"][1]

    assert len(handoff["gap_ms"]) == 3 * 4  # 3 pods x 4 hand-offs
    assert all(len(stage) == 3 * 4 for stage in handoff["stages_ms"].values())
    assert len(start["ready_ms"]) == 3 and len(start["cli_ms"]) == 3
    assert all(x > 0 for x in handoff["gap_ms"] + start["ready_ms"] + start["cli_ms"])
