"""Removing a sandbox's cgroup directories, on a directory tree standing in for /sys/fs/cgroup (v1: one
directory per hierarchy). Plain directories cannot hold the kernel's control files, so only the tree's shape is
what is checked."""

from __future__ import annotations

from pathlib import Path

from podrun.runtime import cgroups

SANDBOX = "0123456789abcdef" + "0" * 48


def _hierarchies(root: Path, *names: str) -> list[Path]:
    made = [root / name for name in names]
    for hierarchy in made:
        (hierarchy / cgroups.TOP / SANDBOX[:16]).mkdir(parents=True)
    return made


def test_the_pods_directory_goes_in_every_hierarchy_and_the_parent_with_the_last_pod(tmp_path: Path) -> None:
    hierarchies = _hierarchies(tmp_path, "memory", "pids")

    cgroups.remove_sandbox_cgroups(SANDBOX, root=tmp_path)

    assert [h.exists() for h in hierarchies] == [True, True]
    assert [(h / cgroups.TOP).exists() for h in hierarchies] == [False, False]


def test_a_container_cgroup_the_oci_runtime_left_is_removed_with_the_pod(tmp_path: Path) -> None:
    [memory] = _hierarchies(tmp_path, "memory")
    (memory / cgroups.TOP / SANDBOX[:16] / "fedcba9876543210").mkdir()

    cgroups.remove_sandbox_cgroups(SANDBOX, root=tmp_path)

    assert not (memory / cgroups.TOP).exists()


def test_another_pods_directory_and_the_shared_parent_stay(tmp_path: Path) -> None:
    [memory] = _hierarchies(tmp_path, "memory")
    other = memory / cgroups.TOP / "ffffffffffffffff"
    other.mkdir()

    cgroups.remove_sandbox_cgroups(SANDBOX, root=tmp_path)

    assert not (memory / cgroups.TOP / SANDBOX[:16]).exists()
    assert other.exists()
