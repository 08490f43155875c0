"""`podrun ps`, `logs`, `exec`, `rm` and `prune` on a real root: a pod kept by `podrun run --keep`, a live run's
pod, and what a SIGKILLed run left; removed, they leave nothing behind."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
from leaks import processes_naming

from podrun.json_types import JSON
from podrun.network.config import NetworkConfig
from podrun.network.node import NodeNetwork
from podrun.runtime import linux
from podrun.runtime.sandbox import Sandboxes

pytestmark = pytest.mark.root

PODRUN = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "podrun"
# Longer than any step here takes; only reached when something is broken.
TIMEOUT = 60.0

Roots = tuple[Path, Path]


async def podrun(roots: Roots, command: str, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    """`podrun COMMAND --root R --run-root RR ARGS...` to its end (fed `stdin`): exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        str(PODRUN), command, "--root", str(roots[0]), "--run-root", str(roots[1]), *args,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def ps(roots: Roots) -> dict[str, JSON]:
    """The pods `podrun ps -o json` lists, by name."""
    code, out, err = await podrun(roots, "ps", "-o", "json")
    assert code == 0, err
    return {pod["name"]: pod for pod in json.loads(out)}


async def wait_for_pod(roots: Roots, name: str, owner: str, state: str) -> JSON:
    """Poll `podrun ps` until the pod is listed with this owner and its newest container in this state."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        pod = (await ps(roots)).get(name)
        if pod and pod["owner"] == owner and pod["containers"] and pod["containers"][-1]["state"] == state:
            return pod
        assert time.monotonic() < deadline, f"{name} never {owner}/{state}: {pod}"
        await asyncio.sleep(0.1)


def assert_nothing_left(root: Path, run_root: Path) -> None:
    """No pod directory, log, address, mount or process of the roots is left."""
    for d in (root / "containers", root / "sandboxes", root / "pods", root / "logs" / "pods", run_root / "sandboxes"):
        assert not d.exists() or not any(d.iterdir()), f"left in {d}: {list(d.iterdir())}"
    assert linux.mounts_under(root) == [] and linux.mounts_under(run_root) == []
    ipam = root / "network" / "ipam"
    assert not ipam.exists() or not any(ipam.rglob("*")), f"addresses left allocated: {list(ipam.rglob('*'))}"
    assert processes_naming(root, run_root) == {}
    assert not (root / "run-pods.json").exists()


# Prints, then runs until /tmp/stop exists in the container (`podrun exec ... touch /tmp/stop`), then says so.
UNTIL_STOPPED = "echo started; while [ ! -e /tmp/stop ]; do sleep 0.1; done; echo stopping"


async def start_run(roots: Roots, name: str) -> asyncio.subprocess.Process:
    """A `podrun run` of a busybox pod that runs until told to stop, in the background."""
    return await asyncio.create_subprocess_exec(
        str(PODRUN), "run", "--root", str(roots[0]), "--run-root", str(roots[1]), "-q", "--grace-period", "1",
        "--image", "busybox", "--name", name, "--restart", "Never", "--", "sh", "-c", UNTIL_STOPPED,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def test_a_pod_kept_by_podrun_run_keep_is_listed_as_kept(runtime_dirs: Roots) -> None:
    code, _, err = await podrun(runtime_dirs, "run", "--keep", "--image", "busybox", "--name", "kept", "-q",
                                "--restart", "Never", "--", "sh", "-c", "echo first; echo second >&2")  # fmt: skip
    assert code == 0, err

    pod = (await ps(runtime_dirs))["kept"]

    assert pod["owner"] == "kept" and pod["namespace"] == "default"
    assert [(c["name"], c["state"], c["exit_code"]) for c in pod["containers"]] == [("kept", "exited", 0)]
    code, table, _ = await podrun(runtime_dirs, "ps")
    assert table.splitlines()[1].split() == ["default", "kept", "0/1", "Completed", "0", *table.split()[-2:]]

    assert (await podrun(runtime_dirs, "logs", "kept"))[:2] == (0, "first\nsecond\n")
    assert (await podrun(runtime_dirs, "logs", "-n", "default", "kept", "--tail", "1"))[:2] == (0, "second\n")
    _, stamped, _ = await podrun(runtime_dirs, "logs", "default/kept", "--timestamps")
    assert [line.split(" ", 1)[1] for line in stamped.splitlines()] == ["first", "second"]
    assert (await podrun(runtime_dirs, "logs", "kept", "--previous"))[::2] == (
        1,
        'error: previous terminated container "kept" in pod "kept" not found\n',
    )

    code, out, err = await podrun(runtime_dirs, "rm", "default/kept")

    assert code == 0, err
    assert out == 'pod "kept" deleted from default namespace\n'
    assert_nothing_left(*runtime_dirs)


async def test_a_live_runs_pod_is_the_runs_and_after_sigkill_the_killed_runs(runtime_dirs: Roots) -> None:
    run = await start_run(runtime_dirs, "victim")
    try:
        await wait_for_pod(runtime_dirs, "victim", f"podrun run (pid {run.pid})", "running")
    finally:
        run.kill()
        await run.wait()

    pod = await wait_for_pod(runtime_dirs, "victim", "killed run", "running")

    assert [c["name"] for c in pod["containers"]] == ["victim"]
    assert (await podrun(runtime_dirs, "exec", "victim", "--", "sh", "-c", "echo inside; exit 7"))[:2] == (
        7,
        "inside\n",
    )
    code, out, _ = await podrun(runtime_dirs, "prune", "--dry-run")
    assert (code, out) == (0, "would remove pod/default/victim (killed run)\n")
    code, _, err = await podrun(runtime_dirs, "prune")
    assert code == 0, err
    assert await ps(runtime_dirs) == {}
    assert_nothing_left(*runtime_dirs)


async def test_prune_and_rm_refuse_to_touch_a_live_runs_pods(runtime_dirs: Roots) -> None:
    run = await start_run(runtime_dirs, "alive")
    try:
        await wait_for_pod(runtime_dirs, "alive", f"podrun run (pid {run.pid})", "running")

        pruned = await podrun(runtime_dirs, "prune")
        removed = await podrun(runtime_dirs, "rm", "-f", "alive")

        assert (await ps(runtime_dirs))["alive"]["containers"][-1]["state"] == "running"
    finally:
        run.send_signal(signal.SIGINT)
        await asyncio.wait_for(run.wait(), TIMEOUT)
    refusal = f"podrun run (pid {run.pid}) is using {runtime_dirs[1]} and owns its pods; stop it first"
    assert pruned[0] == 1 and pruned[2] == f"error: refusing to prune: {refusal}\n"
    assert removed[0] == 1 and removed[2] == f"error: refusing to remove pods: {refusal}\n"
    assert run.returncode == 130


async def test_prune_unmounts_and_removes_the_volumes_of_a_pod_that_is_gone(runtime_dirs: Roots) -> None:
    # What a serve stopped in the middle of deleting a pod leaves: the pod's token volume, mounted, and no sandbox.
    token = runtime_dirs[0] / "pods" / "uid-gone" / "volumes" / "kubernetes.io~projected" / "kube-api-access-x"
    token.mkdir(parents=True)
    mount = await asyncio.create_subprocess_exec("mount", "-t", "tmpfs", "tmpfs", str(token))
    assert await mount.wait() == 0

    code, out, err = await podrun(runtime_dirs, "prune")

    assert (code, out) == (0, "removed the volumes and logs of gone pod uid-gone\n"), err
    assert_nothing_left(*runtime_dirs)


async def test_prune_removes_a_killed_serve_s_spare_sandbox_with_the_node_network(runtime_dirs: Roots) -> None:
    # A serve killed between pods leaves the spare it made for the next pod: namespaces pinned, an address.
    network = NodeNetwork(NetworkConfig.for_roots(*runtime_dirs))
    await network.start(set())
    await Sandboxes(*runtime_dirs, network).make_spare()
    await network.stop(remove=False)

    code, out, err = await podrun(runtime_dirs, "prune")

    assert (code, out) == (0, "removed the node network, which no pod used\n"), err
    assert_nothing_left(*runtime_dirs)


async def test_prune_removes_a_node_network_no_pod_uses(runtime_dirs: Roots) -> None:
    # What a stopped serve keeps for its next start, once its last pod is gone.
    network = NodeNetwork(NetworkConfig.for_roots(*runtime_dirs))
    await network.start(set())
    await network.stop(remove=False)

    code, out, err = await podrun(runtime_dirs, "prune")

    assert (code, out) == (0, "removed the node network, which no pod used\n"), err
    assert not network.config.node_netns_path.exists()
    assert_nothing_left(*runtime_dirs)
