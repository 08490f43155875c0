"""What a test must not leave behind, looked up on the machine: processes naming its directories,
sandboxes on disk, and sandboxes' cgroup directories."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from podrun.runtime import cgroups


def processes_naming(*dirs: Path) -> dict[int, str]:
    """Live processes (conmon, runc, helpers) whose command line mentions any of `dirs`: {pid: cmdline}."""
    needles = [str(d).encode() for d in dirs]
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            found[int(proc.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def sandbox_cgroups(sandbox_ids: Iterable[str]) -> list[Path]:
    """`/sys/fs/cgroup/[<hierarchy>/]podrun/<sandbox prefix>` directories that still exist."""
    prefixes = {s[:16] for s in sandbox_ids}
    found = [*cgroups.CGROUP_ROOT.glob(f"{cgroups.TOP}/*"), *cgroups.CGROUP_ROOT.glob(f"*/{cgroups.TOP}/*")]
    return sorted(p for p in found if p.name in prefixes)


def sandbox_ids_on_disk(root: Path, run_root: Path) -> set[str]:
    """IDs of every sandbox directory, complete or half-made, in the state and run roots."""
    return {p.name for d in (root / "sandboxes", run_root / "sandboxes") if d.is_dir() for p in d.iterdir()}


def pod_sandbox_ids(root: Path, run_root: Path) -> set[str]:
    """IDs of the pods' sandboxes on disk under a running `podrun serve`: those with a state directory, which a
    sandbox has from its start, and every run directory without one when there is more than the one spare sandbox
    the server keeps for the next pod (its namespaces and address, made ahead; no state directory)."""
    state = {p.name for p in (root / "sandboxes").iterdir()} if (root / "sandboxes").is_dir() else set()
    run_only = sandbox_ids_on_disk(root, run_root) - state
    return state | run_only if len(run_only) > 1 else state
