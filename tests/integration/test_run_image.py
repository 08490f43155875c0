"""`podrun run --image busybox -- CMD`: the one-off pod runs with real runc, its output and exit code come through,
and nothing is left behind."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from leaks import processes_naming

from podrun.runtime import linux

pytestmark = pytest.mark.root

PODRUN = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "podrun"
# Longer than any run here takes; only reached when something is broken.
TIMEOUT = 60.0


async def podrun_run(roots: tuple[Path, Path], *args: str) -> tuple[int, str, str]:
    """`podrun run --root R --run-root RR ARGS...` to its end: exit code, stdout, stderr."""
    root, run_root = roots
    process = await asyncio.create_subprocess_exec(
        str(PODRUN), "run", "--root", str(root), "--run-root", str(run_root), *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def assert_nothing_left(root: Path, run_root: Path) -> None:
    """No pod directory, mount or process of the roots is left."""
    for d in (root / "containers", root / "sandboxes", root / "pods", run_root / "sandboxes"):
        assert not d.exists() or not any(d.iterdir()), f"left in {d}: {list(d.iterdir())}"
    assert linux.mounts_under(root) == [] and linux.mounts_under(run_root) == []
    assert processes_naming(root, run_root) == {}


async def test_run_image_prints_the_command_output_and_exits_with_its_code(runtime_dirs: tuple[Path, Path]) -> None:
    code, out, err = await podrun_run(
        runtime_dirs, "--image", "busybox", "--restart", "Never", "--env", "GREETING=hello", "--",
        "sh", "-c", 'echo "$GREETING from $HOSTNAME"; exit 3',
    )  # fmt: skip

    assert code == 3, err
    assert "hello from busybox" in out
    assert_nothing_left(*runtime_dirs)


async def test_run_image_with_command_and_name_builds_the_pod_kubectl_run_builds(
    runtime_dirs: tuple[Path, Path],
) -> None:
    code, out, err = await podrun_run(
        runtime_dirs, "--image", "busybox", "--name", "once", "--restart", "Never", "-q", "-o", "json",
        "--command", "--", "true",
    )  # fmt: skip

    assert code == 0, err
    pod = json.loads(out)
    assert pod["metadata"]["labels"] == {"run": "once"}
    assert pod["spec"]["containers"][0]["command"] == ["true"] and pod["status"]["phase"] == "Succeeded"
    assert_nothing_left(*runtime_dirs)
