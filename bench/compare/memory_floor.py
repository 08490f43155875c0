"""Case 6's goal for `podrun serve`'s memory (issue 12), and the floor under it.

The goal: serve's RSS, idle, at most `GOAL_MIB` when fresh, and no growth after the run's work (idle after the
cases at most `GROWTH_TOLERANCE_MIB` over fresh idle: a few pages of allocator pools and caches are noise, a
leak is not). The floor is what no change to podrun's own code can go under: a bare interpreter importing what
serve must import (the event loop, SQLite, TLS, ctypes for glibc's allocator, YAML for the kubeconfig, and
aiohttp the way serve imports it, `podrun.cli.serve_imports`). Beside it, serve's imports themselves (everything
`podrun.cli.serve` loads, nothing run): the gap between the two is podrun's own modules and what they import, the
gap between serve's imports and its idle RSS is what serve builds when it starts (store, kubelet, servers).

Each figure is the median of `RUNS` fresh interpreters of the podrun under test (its `env`: PYTHONPATH included).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Mapping

from compare.common import JSON, BenchError

GOAL_MIB = 45.0
GROWTH_TOLERANCE_MIB = 0.5
RUNS = 3

_REPORT = "import json, sys\n" + (
    "rss = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmRSS:'))\n"
    "print(json.dumps({'rss_mib': rss / 1024, 'modules': len(sys.modules)}))\n"
)
_AIOHTTP_AS_SERVE = "from podrun.cli.serve_imports import import_aiohttp\nimport_aiohttp()\n"
# What each interpreter imports before it reports.
PROGRAMS = {
    "bare interpreter": "",
    "serve's must imports": _AIOHTTP_AS_SERVE + "import asyncio, ctypes, json, sqlite3, ssl, yaml\n",
    "serve's imports": _AIOHTTP_AS_SERVE + "import podrun.cli.serve\n",
}


def _measure(program: str, env: Mapping[str, str]) -> JSON:
    samples = []
    for _ in range(RUNS):
        result = subprocess.run(
            [sys.executable, "-c", program + _REPORT], env=dict(env), capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise BenchError(f"measuring the memory floor failed: {result.stderr.strip()[-500:]}")
        samples.append(json.loads(result.stdout))
    return {"rss_mib": statistics.median(s["rss_mib"] for s in samples), "modules": samples[0]["modules"]}


def floor(env: Mapping[str, str]) -> JSON:
    """RSS (MiB, median) and module count of a fresh interpreter after each of `PROGRAMS`."""
    return {name: _measure(program, env) for name, program in PROGRAMS.items()}


def verdict(memory: JSON) -> JSON:
    """The goal against case 6's serve rows (`idle`, `idle_after`) and the floor in `memory["floor"]`."""
    idle = memory.get("idle", {}).get("podrun serve", {}).get("rss_mib")
    after = memory.get("idle_after", {}).get("podrun serve", {}).get("rss_mib")
    growth = after - idle if idle is not None and after is not None else None
    return {
        "goal_mib": GOAL_MIB, "growth_tolerance_mib": GROWTH_TOLERANCE_MIB,
        "idle_mib": idle, "idle_after_mib": after, "growth_mib": growth,
        "floor_mib": memory.get("floor", {}).get("serve's must imports", {}).get("rss_mib"),
        "idle_holds": idle is not None and idle <= GOAL_MIB,
        "no_growth_holds": growth is not None and growth <= GROWTH_TOLERANCE_MIB,
    }  # fmt: skip


def print_verdict(memory: JSON) -> None:
    """Two lines: the goal and whether it holds, then the floor."""
    judged = memory.get("verdict")
    if not judged or judged["idle_mib"] is None:
        return
    after = ""
    if judged["growth_mib"] is not None:
        holds = "holds" if judged["no_growth_holds"] else "misses"
        after = (f"; idle after the run {judged['idle_after_mib']:.1f} MiB, growth {judged['growth_mib']:+.1f} "
                 f"(no growth, ≤ {GROWTH_TOLERANCE_MIB} MiB: {holds})")  # fmt: skip
    holds = "holds" if judged["idle_holds"] else "misses"
    print(f"  serve idle {judged['idle_mib']:.1f} MiB RSS (goal ≤ {GOAL_MIB:.0f} MiB: {holds}){after}")
    parts = [f"{name} {doc['rss_mib']:.1f} MiB ({doc['modules']} modules)" for name, doc in memory["floor"].items()]
    print(f"  floor: {', '.join(parts)}")
