"""Where containers' cgroups live, how an OOM kill is read from them, and how they are removed.

Containers get `/podrun/<sandbox>/<container>` in every hierarchy (cgroup v1) or in the unified
tree (v2). The OCI runtime creates the leaves and removes them on delete but leaves the parents,
so podrun removes those itself.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
TOP = "podrun"


def container_path(sandbox_id: str, container_id: str) -> str:
    """The OCI `cgroupsPath` of a container."""
    return f"/{TOP}/{sandbox_id[:16]}/{container_id[:16]}"


def _hierarchies(root: Path = CGROUP_ROOT) -> list[Path]:
    if (root / "cgroup.controllers").exists():
        return [root]
    return [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()] if root.exists() else []


def oom_killed(cgroups_path: str, root: Path = CGROUP_ROOT) -> bool:
    """True when the kernel OOM-killed a process in this cgroup.

    On v1 the reliable counter is `oom_kill` in `memory.oom_control` (`memory.failcnt` stays 0);
    on v2 it is `oom_kill` in `memory.events`. Read it before the runtime deletes the cgroup.
    """
    rel = cgroups_path.lstrip("/")
    for candidate in (root / "memory" / rel / "memory.oom_control", root / rel / "memory.events"):
        with contextlib.suppress(OSError):
            for line in candidate.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
    return False


def remove_sandbox_cgroups(sandbox_id: str, root: Path = CGROUP_ROOT) -> None:
    """Remove the sandbox's cgroup directories (and `/podrun` when no other sandbox uses it)."""
    for h in _hierarchies(root):
        pod_dir = h / TOP / sandbox_id[:16]
        if pod_dir.exists():
            for leaf in pod_dir.iterdir():
                if leaf.is_dir():
                    with contextlib.suppress(OSError):
                        leaf.rmdir()
            with contextlib.suppress(OSError):
                pod_dir.rmdir()
        with contextlib.suppress(OSError):
            (h / TOP).rmdir()
