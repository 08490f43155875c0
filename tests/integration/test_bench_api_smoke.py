"""The API server benchmark still runs: `bench/api_server.py --quick` exits 0 and leaves nothing behind.

It writes its raw numbers with `--json`, including its temporary directory and the ID of every sandbox its pods
had, so the leak check is exact: no directory, mount or process naming that directory, and no cgroup of those
sandboxes. Only crashes and leaks fail this test; the timings are never judged here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serve_harness import processes_naming, sandbox_cgroups

from podrun.runtime import linux

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api_server.py"

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")


def test_the_api_benchmark_exits_0_and_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "api_server.json"

    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)], capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stdout + result.stderr
    for line in ("memory: idle podrun serve", "kubectl apply -> Ready", "port-forward", "what podrun's server adds"):
        assert line in result.stdout, result.stdout
    doc = json.loads(out.read_text())
    assert doc["leftovers"] == {"mounts": [], "processes": [], "cgroups": []}, "the server itself left these"
    work = Path(doc["work_dir"])
    assert work.parent == Path("/tmp") and work.name.startswith("podrun-bench-")
    assert not work.exists()
    assert linux.mounts_under(work) == []
    assert processes_naming(work) == {}
    assert doc["sandbox_ids"], "no sandbox reported: the cgroup check would prove nothing"
    assert sandbox_cgroups(set(doc["sandbox_ids"])) == []
    assert len(doc["get_pods_podrun_ms"]) == len(doc["get_pods_replay_ms"]) == 3
