"""Case 6's goal for `podrun serve`'s memory (issue 12), and the floor under it.

The goal: serve's RSS, idle, at most `GOAL_MIB` when fresh, and no growth after the run's work (idle after the
cases at most `GROWTH_TOLERANCE_MIB` over fresh idle: a few pages of allocator pools and caches are noise, a
leak is not). The floor is what no change to podrun's own code can go under: a bare interpreter importing what
serve must import (the event loop, SQLite, TLS, ctypes for glibc's allocator, YAML for the kubeconfig, and
aiohttp the way serve imports it, `podrun.cli.serve_imports`). Beside it, serve's imports themselves (everything
`podrun.cli.serve` loads, nothing run): the gap between the two is podrun's own modules and what they import, the
gap between serve's imports and its idle RSS is what serve builds when it starts (store, kubelet, servers).
Growth after the work is split by serve's allocators' own figures (`compare/allocators.py`) into live objects and
the free space the allocators keep: memory no object holds, which pymalloc gives back only a whole arena at a time
(fewer live objects after a burst do not free it; fewer arenas filled at the burst's peak, or no survivor in them,
would).

Each figure is the median of `RUNS` fresh interpreters of the podrun under test (its `env`: PYTHONPATH included).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Mapping

from compare import allocators
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


# The readings after the work, in order: right after the cases, and once the store's windows have passed.
AFTER_READINGS = {"idle_after": "idle after the run", "idle_settled": "idle once the watch history has gone"}


def _growth(memory: JSON, key: str) -> JSON | None:
    """RSS growth from fresh idle to the reading `key`, and how it splits (`compare/allocators.py`)."""
    idle, after = memory.get("idle", {}), memory.get(key, {})
    idle_rss, after_rss = idle.get("podrun serve", {}).get("rss_mib"), after.get("podrun serve", {}).get("rss_mib")
    if idle_rss is None or after_rss is None:
        return None
    split = None
    if idle.get("allocators") and after.get("allocators"):
        split = allocators.growth(idle["allocators"], after["allocators"], after_rss - idle_rss)
    return {"label": AFTER_READINGS[key], "rss_mib": after_rss, "growth_mib": after_rss - idle_rss, "split": split}


def verdict(memory: JSON) -> JSON:
    """The goal against case 6's serve rows (`idle`, then `AFTER_READINGS`) and the floor in `memory["floor"]`.
    "No growth" is judged on the last reading there is: after the windows serve keeps by design (Kubernetes' too)."""
    idle = memory.get("idle", {}).get("podrun serve", {}).get("rss_mib")
    after = {key: growth for key in AFTER_READINGS if (growth := _growth(memory, key)) is not None}
    judged = list(after.values())[-1] if after else None
    return {
        "goal_mib": GOAL_MIB, "growth_tolerance_mib": GROWTH_TOLERANCE_MIB, "idle_mib": idle, "after": after,
        "floor_mib": memory.get("floor", {}).get("serve's must imports", {}).get("rss_mib"),
        "idle_holds": idle is not None and idle <= GOAL_MIB,
        "no_growth_holds": judged is not None and judged["growth_mib"] <= GROWTH_TOLERANCE_MIB,
    }  # fmt: skip


def print_verdict(memory: JSON) -> None:
    """The idle goal and whether it holds, each reading after the work with its growth and how that splits, the
    no-growth goal, then the floor."""
    judged = memory.get("verdict")
    if not judged or judged["idle_mib"] is None:
        return
    holds = "holds" if judged["idle_holds"] else "misses"
    print(f"  serve idle {judged['idle_mib']:.1f} MiB RSS (goal ≤ {GOAL_MIB:.0f} MiB: {holds})")
    for reading in judged["after"].values():
        print(f"  {reading['label']}: {reading['rss_mib']:.1f} MiB, growth {reading['growth_mib']:+.1f} MiB")
        split = reading["split"]
        if split:
            print(f"    live objects {split['live']:+.1f} MiB (pymalloc {split['pymalloc_live']:+.1f}, glibc "
                  f"{split['glibc_live']:+.1f}); free space pymalloc keeps {split['pymalloc_free']:+.1f} MiB "
                  f"({split['arenas']:+d} arenas, {split['pymalloc_unused_pools']:+.1f} of it in empty pools); "
                  f"glibc's free chunks and the rest {split['rest']:+.1f} MiB")  # fmt: skip
    if judged["after"]:
        holds = "holds" if judged["no_growth_holds"] else "misses"
        print(f"  no growth (≤ {GROWTH_TOLERANCE_MIB} MiB at the last reading): {holds}")
    parts = [f"{name} {doc['rss_mib']:.1f} MiB ({doc['modules']} modules)" for name, doc in memory["floor"].items()]
    print(f"  floor: {', '.join(parts)}")
