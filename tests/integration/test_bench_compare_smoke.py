"""The podrun/Podman comparison still runs: `bench/compare.py --quick --podrun-only` exits 0, prints its tables,
writes its raw numbers, and leaves nothing behind.

Podman is neither installed nor run here (`--podrun-only`): the test keeps the script from rotting, it does not
compare anything. The JSON names the run's work directory and every sandbox its pods had, so the leak check is
exact: no directory, mount or process naming that directory, and no cgroup of those sandboxes. Only crashes and
leaks fail this test; the timings and the feature verdicts are never judged here.
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
# case -> samples per variant (--quick: 2 rounds; case 8's hand-off samples all 6 hand-offs of each pod)
CASES = {"start": 2, "teardown": 2, "handoff": 2, "seed": 2, "many": 1, "run_exit": 2, "handoff6": 12}
FLOORS = {"create_start", "start", "handoff_start", "delete", "cni_add", "cni_del", "python", "imports", "kubectl"}
MEMORY_FLOOR = {"bare interpreter", "serve's must imports", "serve's imports"}
FEATURES = {"sidecar", "probes", "hooks", "failing_init", "crashloop", "init_always"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One `--quick --podrun-only` run: its result and the JSON it wrote."""
    if shutil.which("kubectl") is None:
        pytest.skip("podrun serve is driven by kubectl, which is not installed")
    results = tmp_path_factory.mktemp("compare")
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--podrun-only", "--no-chart", "--results", str(results)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    written = sorted(results.glob("compare-*.json"))
    return result, json.loads(written[-1].read_text()) if written else {}


def test_the_comparison_exits_0_and_leaves_nothing_behind(
    quick_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    result, doc = quick_run

    assert result.returncode == 0, result.stdout + result.stderr
    for line in ("1 pod start", "5 teardown", "6 memory, idle", "serve idle", "live objects", "floor: bare interpreter",
                 "features (the same manifests, observed)", "CrashLoopBackOff", "raw numbers:"):  # fmt: skip
        assert line in result.stdout, result.stdout
    work = Path(doc["work_dir"])
    assert work.parent == Path("/tmp") and work.name.startswith("podrun-cmp-")
    assert not work.exists()
    assert linux.mounts_under(work) == []
    assert processes_naming(work) == {}
    assert doc["sandbox_ids"], "no sandbox reported: the cgroup check would prove nothing"
    assert sandbox_cgroups(doc["sandbox_ids"]) == []


def test_the_quick_run_records_its_raw_numbers_for_podrun_only(
    quick_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, doc = quick_run

    assert set(doc["cases"]) == set(CASES)
    for case, samples in CASES.items():
        variants = doc["cases"][case]["variants"]
        assert variants and all(v["tool"] == "podrun" for v in variants.values())
        assert all(len(v["samples_ms"]) == samples and min(v["samples_ms"]) > 0 for v in variants.values())
    assert doc["memory"]["idle"]["podrun serve"]["rss_mib"] > 0
    assert doc["memory"]["many"]["podrun serve"]["groups"]["conmon"]["processes"] >= 3
    assert set(doc["memory"]["floor"]) == MEMORY_FLOOR
    assert all(floor["rss_mib"] > 0 and floor["modules"] > 0 for floor in doc["memory"]["floor"].values())
    after = doc["memory"]["verdict"]["after"]["idle_after"]
    assert after["growth_mib"] is not None
    assert after["split"] is not None, "serve's allocators were not read"
    assert set(doc["features"]) == FEATURES
    assert all(set(cells) == {"podrun"} for cells in doc["features"].values())
    assert all(cell["podrun"]["status"] != "error" for cell in doc["features"].values()), doc["features"]
    assert doc["environment"]["podman"] is None
    assert doc["failures"] == {}


def test_the_quick_run_measures_every_floor_and_puts_one_beside_each_podrun_variant(
    quick_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    result, doc = quick_run
    floors = doc["floors"]

    assert floors["errors"] == {}
    assert set(floors["components"]) == FLOORS
    assert all(c["median_ms"] > 0 for c in floors["components"].values())
    assert {(row["case"], row["variant"]) for row in floors["goals"]} >= {("start", "run"), ("seed", "hostport")}
    assert all(row["floor_ms"] > 0 for row in floors["goals"])
    # Without Podman only podrun's own goals (case 8, in milliseconds) have a goal.
    assert {row["case"] for row in floors["goals"] if row["goal_ms"] is not None} == {"run_exit", "handoff6"}
    assert "floors: what the parts cost alone" in result.stdout
