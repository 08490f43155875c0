"""Fixtures for tests that run real containers through `LocalRuntime` on this machine.

Every test gets its own short state root and run root under /tmp (unix socket paths must stay under
108 characters) with the busybox image imported. On teardown everything the test made is removed
through the runtime, and then the machine is checked: no mount, no conmon (or other process)
naming the test's directories and no sandbox cgroup may be left behind.

Everything in this directory needs root, runc and conmon; it is marked `root` and skipped without them. Tests of
the API protocol alone (an in-process server, no containers) live in tests/protocol and run without root.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from leaks import processes_naming, sandbox_cgroups, sandbox_ids_on_disk

from podrun.runtime import linux
from podrun.runtime.images.importer import import_archive
from podrun.runtime.images.store import ImageStore
from podrun.runtime.local import LocalRuntime
from podrun.runtime.oci_runtime import MissingTool, choose_runtime, find_conmon

REPO = Path(__file__).resolve().parents[2]
BUILD_TEST_IMAGES = REPO / "scripts" / "build-test-images"
HERE = Path(__file__).resolve().parent
# Tests never contact anything outside 127.0.0.0/8: Docker Hub pulls fail at once as "unreachable".
NO_UPSTREAM_REGISTRIES = {"no_upstream": ["docker.io"]}

OpenRuntime = Callable[[], Awaitable[LocalRuntime]]


def missing_requirement() -> str | None:
    """Why real containers cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "runs real containers: needs root"
    try:
        choose_runtime("runc")
        find_conmon()
    except MissingTool as e:
        return str(e)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test of this directory `root`, and skip them all where containers cannot run."""
    reason = missing_requirement()
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.root)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def test_image_archives() -> dict[str, Path]:
    """The docker-save archives of the test images, built (or found in the cache) once per session."""
    out = subprocess.run(
        [sys.executable, str(BUILD_TEST_IMAGES)], check=True, capture_output=True, text=True, timeout=600
    ).stdout
    archives = {Path(line).name.rsplit("-", 1)[0]: Path(line) for line in out.split()}
    assert {"busybox", "nginx"} <= archives.keys(), out
    return archives


# -- leak checks -------------------------------------------------------------------------------------------


def mounts_under(*dirs: Path) -> list[str]:
    """Mount points in /proc/self/mountinfo at or below any of `dirs`."""
    return [target for d in dirs for target in linux.mounts_under(d)]


async def remove_everything(rt: LocalRuntime) -> None:
    """Kill and remove every container and sandbox `rt` knows, as the kubelet would on pod deletion."""
    for container in await rt.list_containers():
        await rt.stop_container(container.id, 0)
        await rt.remove_container(container.id)
    for sandbox in await rt.list_sandboxes():
        await rt.remove_sandbox(sandbox.id)


def clean_up_leftovers(root: Path, run_root: Path, sandbox_ids: set[str]) -> dict[str, object]:
    """What the runtime left behind; then kill those processes, unmount, and delete the directories.

    Cleaning up before the test fails keeps one broken test from leaking into the next.
    """
    processes = processes_naming(root, run_root)
    leftovers: dict[str, object] = {
        "mounts": mounts_under(root, run_root),
        "processes": processes,
        "cgroups": sandbox_cgroups(sandbox_ids),
    }
    for pid in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for d in (root, run_root):
        linux.unmount_all_under(d)
        if not mounts_under(d):  # never rm -rf through a mount
            shutil.rmtree(d, ignore_errors=True)
    return leftovers


# -- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture
async def runtime_dirs(test_image_archives: dict[str, Path]) -> AsyncIterator[tuple[Path, Path]]:
    """(state root, run root): fresh short directories under /tmp, with busybox imported into the root.

    The root's `registries.json` says docker.io has no upstream, so a pull of `busybox` (policy Always)
    fails at once as "unreachable", without any network traffic, and the kubelet uses the local image.

    Teardown recovers whatever is left on disk (including containers made by helper processes), removes
    it through a fresh `LocalRuntime`, and fails the test if any mount, process or cgroup is left behind.
    """
    root = Path(tempfile.mkdtemp(prefix="podrun-", dir="/tmp"))
    run_root = Path(tempfile.mkdtemp(prefix="podrun-", dir="/tmp"))
    import_archive(ImageStore(root), test_image_archives["busybox"])
    (root / "registries.json").write_text(json.dumps(NO_UPSTREAM_REGISTRIES))
    yield root, run_root

    sandbox_ids = sandbox_ids_on_disk(root, run_root)
    janitor = LocalRuntime(root, run_root)
    try:
        await janitor.recover()
        await remove_everything(janitor)
    finally:
        await janitor.close()
        leftovers = clean_up_leftovers(root, run_root, sandbox_ids)
    assert not any(leftovers.values()), f"left behind: {leftovers}"


@pytest.fixture
async def open_runtime(runtime_dirs: tuple[Path, Path]) -> AsyncIterator[OpenRuntime]:
    """A factory: each call makes a new `LocalRuntime` on the test's directories and `recover()`s it.

    Teardown removes every sandbox and container each runtime still knows, then closes it.
    """
    opened: list[LocalRuntime] = []

    async def open_one() -> LocalRuntime:
        rt = LocalRuntime(*runtime_dirs)
        opened.append(rt)
        await rt.recover()
        return rt

    yield open_one
    for rt in reversed(opened):
        try:
            await remove_everything(rt)
        finally:
            await rt.close()


@pytest.fixture
async def runtime(open_runtime: OpenRuntime) -> LocalRuntime:
    """A recovered `LocalRuntime` on fresh directories with the busybox image."""
    return await open_runtime()


@pytest.fixture
def nginx_runtime(runtime: LocalRuntime, test_image_archives: dict[str, Path]) -> LocalRuntime:
    """`runtime` with the nginx image imported too (about a second)."""
    import_archive(runtime.images, test_image_archives["nginx"])
    return runtime
