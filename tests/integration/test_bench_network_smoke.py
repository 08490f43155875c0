"""The pod network benchmarks still run: `bench/service_dns.py` and `bench/network_start.py` with `--quick` exit 0
and leave nothing behind.

Each writes its raw numbers with `--json`, including its temporary directory, the IDs of every sandbox its pods had
and what of the pod network was left once it stopped it, so the leak check is exact: no directory, mount or process
naming that directory, no cgroup of those sandboxes, no node namespace, address allocation, cached CNI result, veth
on the host or `podrun` table in the host's nftables. Only crashes and leaks fail these tests; the timings are never
judged here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from leaks import processes_naming, sandbox_cgroups

from podrun.runtime import linux

BENCH = Path(__file__).resolve().parents[2] / "bench"
NOTHING_OF_THE_NETWORK = {"node_netns": [], "ipam": [], "cni_results": [], "host_veths": [], "host_nft_tables": []}
Run = tuple[subprocess.CompletedProcess[str], dict[str, Any]]


def host_veths() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines() if ":" in line}


@dataclass
class QuickRuns:
    """Each benchmark run once with `--quick --json FILE`, and the veths that appeared on the host meanwhile."""

    runs: dict[str, Run]
    new_host_veths: set[str]


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> QuickRuns:
    out_dir = tmp_path_factory.mktemp("bench")
    veths_before = host_veths()
    runs = {}
    for script in ("service_dns.py", "network_start.py"):
        out = out_dir / f"{script}.json"
        result = subprocess.run(
            [sys.executable, str(BENCH / script), "--quick", "--json", str(out)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        runs[script] = (result, json.loads(out.read_text()) if out.exists() else {})
    return QuickRuns(runs, host_veths() - veths_before)


@pytest.mark.parametrize(
    ("script", "expected_lines"),
    [
        ("service_dns.py", ["Ready -> resolved + connected", "target median <= 100 ms"]),
        ("network_start.py", ["run_pod -> Ready, pod network", "CNI ADD", "target added median <= 15 ms"]),
    ],
)
def test_the_benchmark_exits_0_and_leaves_nothing_behind(
    quick: QuickRuns, script: str, expected_lines: list[str]
) -> None:
    result, doc = quick.runs[script]

    assert result.returncode == 0, result.stdout + result.stderr
    for line in expected_lines:
        assert line in result.stdout, result.stdout
    assert doc["leftovers"] == {"mounts": [], "processes": [], "cgroups": []}, "the sweep had to remove these"
    assert doc["network_leftovers"] == NOTHING_OF_THE_NETWORK
    work = Path(doc["work_dir"])
    assert work.parent == Path("/tmp") and work.name.startswith("podrun-bench-")
    assert not work.exists()
    assert linux.mounts_under(work) == []
    assert processes_naming(work) == {}
    assert doc["sandbox_ids"], "no sandbox reported: the cgroup check would prove nothing"
    assert sandbox_cgroups(doc["sandbox_ids"]) == []


def test_no_veth_appears_on_the_host(quick: QuickRuns) -> None:
    # podrun's veths end in its node namespace, never on the host, and go with it.
    assert quick.new_host_veths == set()


def test_the_quick_runs_record_their_raw_numbers(quick: QuickRuns) -> None:
    service_dns, network_start = quick.runs["service_dns.py"][1], quick.runs["network_start.py"][1]

    assert len(service_dns["ready_to_connected_ms"]) == 3
    assert all(len(stage) == 3 for stage in service_dns["stages_ms"].values())
    assert len(network_start["with_ms"]) == len(network_start["without_ms"]) == len(network_start["attach_ms"]) == 3
    assert all(x > 0 for x in service_dns["ready_to_connected_ms"] + network_start["attach_ms"])
