"""`bench/run_phases.py` still runs: it exits 0, prints `podrun run`'s time line and leaves nothing behind.

Its `--json` names its temporary directory and every sandbox its runs made, so the leak check is exact (as in
`test_bench_engine_smoke.py`). Only crashes and leaks fail this test; the timings are never judged.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from leaks import processes_naming, sandbox_cgroups

from podrun.runtime import linux

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_one_run_prints_the_time_line_and_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "phases.json"

    result = subprocess.run(
        [sys.executable, str(BENCH / "run_phases.py"), "--runs", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    for line in ("process start -> exit", "imports", "Sandboxes.create", "LocalRuntime.start_container"):
        assert line in result.stdout, result.stdout
    doc = json.loads(out.read_text())
    work = Path(doc["work_dir"])
    assert work.parent == Path("/tmp") and work.name.startswith("podrun-bench-")
    assert not work.exists()
    assert linux.mounts_under(work) == []
    assert processes_naming(work) == {}
    assert len(doc["sandbox_ids"]) == 2, "a warm-up and a timed run, one sandbox each"
    assert sandbox_cgroups(doc["sandbox_ids"]) == []
