"""Where containers' cgroups live, how an OOM kill is read from them, and how they are removed.

Containers get `/podrun/<sandbox>/<container>` in every hierarchy (cgroup v1) or in the unified
tree (v2). The OCI runtime creates the leaves and removes them on delete but leaves the parents,
so podrun removes those itself.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
TOP = "podrun"


def container_path(sandbox_id: str, container_id: str) -> str:
    """The OCI `cgroupsPath` of a container."""
    return f"/{TOP}/{sandbox_id[:16]}/{container_id[:16]}"


@functools.cache
def _hierarchies(root: Path = CGROUP_ROOT) -> tuple[Path, ...]:
    """The mounted hierarchies (the unified tree alone on v2); they do not change while podrun runs."""
    if (root / "cgroup.controllers").exists():
        return (root,)
    return tuple(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()) if root.exists() else ()


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
    """Remove the sandbox's cgroup directories (and `/podrun` when no other sandbox uses it).

    Once the OCI runtime deleted the containers, a pod's directory holds only the kernel's control files and one
    rmdir per hierarchy removes it; only when that fails are its leaves looked for. (Listing it first and asking
    each of its ~30 control files whether it is a directory cost ~10 ms per pod on the event loop.)
    """
    for h in _hierarchies(root):
        pod_dir = h / TOP / sandbox_id[:16]
        try:
            pod_dir.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            _remove_leaves(pod_dir)
            with contextlib.suppress(OSError):
                pod_dir.rmdir()
        with contextlib.suppress(OSError):
            (h / TOP).rmdir()


def _remove_leaves(directory: Path) -> None:
    """rmdir every sub-directory (a container's cgroup the OCI runtime left), from the directory entries' types."""
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.rmdir(entry.path)
