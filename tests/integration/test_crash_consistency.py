"""A podrun killed by SIGKILL at the worst moments: no container runs twice, and nothing is left behind.

The kubelet's guarantee: after a restart, what the OCI runtime says is true (`runc state`), so a container whose
start may have happened is found out before anything is started again, and every process is accounted for. And
its garbage collection: what belongs to a pod that no longer exists goes, however its podrun died.

Each container appends its name to a file in the pod's emptyDir (or a directory the test mounts), so "ran
exactly once" is read from that file. The deaths are real SIGKILLs that the dying process sends itself at an
exact point (a wrapper around the runtime's methods, in that process only): after the OCI runtime's `create`,
after `start` returned but before it was recorded, after a stop's `kill` was sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from conftest import OpenRuntime
from kubelet_harness import busybox, pod, run_pod
from leaks import processes_naming
from serve_harness import KUBECTL, ServeProcess, serving, wait_until

from podrun.runtime.local import LocalRuntime
from podrun.runtime.protocol import ContainerState

T = TypeVar("T")
TIMEOUT = 30.0
POLL_SECONDS = 0.05

# Another podrun process: one container in one sandbox, killed by SIGKILL at the point named in argv.
CRASHING_RUNTIME = """
import asyncio, os, signal, sys
from pathlib import Path
from podrun.runtime.local import LocalRuntime
from podrun.runtime.protocol import ContainerConfig, Mount, SandboxConfig

def die():
    os.kill(os.getpid(), signal.SIGKILL)

async def main():
    root, run_root, data, point = sys.argv[1:5]
    rt = LocalRuntime(Path(root), Path(run_root))
    await rt.recover()
    save, run_oci = rt._save, rt._run_oci
    def save_unless_started(rec):
        if point == "during-start" and rec.state == "running":
            die()  # `start` returned: the process runs, but podrun has not recorded it
        save(rec)
    async def run_oci_then_die_after_kill(*args):
        result = await run_oci(*args)
        if point == "during-stop" and args[0] == "kill":
            die()  # the container was sent SIGKILL; its exit is not recorded
        return result
    kill_pid_namespace = rt._kill_pid_namespace
    def kill_pid_namespace_then_die(container_id):
        killed = kill_pid_namespace(container_id)
        if killed and point == "during-stop":
            die()  # the same, through a pidfd
        return killed
    rt._save, rt._run_oci = save_unless_started, run_oci_then_die_after_kill
    rt._kill_pid_namespace = kill_pid_namespace_then_die
    sandbox = await rt.create_sandbox(SandboxConfig("web-0", "default", "1234-abcd", "web-0", "", ""))
    script = "echo app >> /data/runs; exec sleep 600"
    config = ContainerConfig(name="app", image="busybox", command=("sh", "-c", script), mounts=(Mount("/data", data),))
    container_id = await rt.create_container(sandbox.id, config)
    await rt.prepare_container(container_id)
    if point == "after-create":
        die()
    await rt.start_container(container_id)
    runs = Path(data) / "runs"
    while point == "during-stop" and not runs.exists():
        await asyncio.sleep(0.01)  # stopped once its process has run: a SIGKILL can come before `sh` ran a line
    await rt.stop_container(container_id, 0)

asyncio.run(main())
"""

# `podrun` (argv: the kill point, which call kills it, then podrun's own arguments), SIGKILLed by itself at the
# n-th conmon `create`, recorded start, or OCI `kill` (a stop) of any container.
CRASHING_SERVE = """
import os, signal, sys
from podrun.cli.main import main
from podrun.runtime.local import LocalRuntime

point, nth = sys.argv[1], int(sys.argv[2])
del sys.argv[1:3]
calls = 0

def count_then_maybe_die():
    global calls
    calls += 1
    if calls == nth:
        os.kill(os.getpid(), signal.SIGKILL)

save, oci_create, run_oci = LocalRuntime._save, LocalRuntime._oci_create, LocalRuntime._run_oci
kill_pid_namespace = LocalRuntime._kill_pid_namespace

def save_unless_started(self, rec):
    if point == "during-start" and rec.state == "running":
        count_then_maybe_die()
    save(self, rec)

async def oci_create_then_maybe_die(self, rec):
    await oci_create(self, rec)
    if point == "after-create":
        count_then_maybe_die()

async def run_oci_then_maybe_die(self, *args):
    result = await run_oci(self, *args)
    if point == "during-deletion" and args[0] == "kill":
        count_then_maybe_die()
    return result

def kill_pid_namespace_then_maybe_die(self, container_id):
    killed = kill_pid_namespace(self, container_id)
    if killed and point == "during-deletion":
        count_then_maybe_die()
    return killed

LocalRuntime._save, LocalRuntime._oci_create, LocalRuntime._run_oci = (
    save_unless_started, oci_create_then_maybe_die, run_oci_then_maybe_die)
LocalRuntime._kill_pid_namespace = kill_pid_namespace_then_maybe_die
sys.exit(main())
"""

INIT_NAMES, MAIN_NAMES = ("init1", "init2"), ("main1", "main2")
PODS = ("runs-a", "runs-b", "runs-c")


def conmons_naming(root: Path, run_root: Path) -> set[int]:
    """PIDs of the conmon processes of containers under the roots."""
    return {pid for pid, cmdline in processes_naming(root, run_root).items() if cmdline.split()[0].endswith("conmon")}


# -- the runtime: recovery from what the OCI runtime says ---------------------------------------------------------


async def crash_runtime(root: Path, run_root: Path, data: Path, point: str) -> None:
    """Run the crashing podrun to `point`; it must die of its own SIGKILL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_RUNTIME, str(root), str(run_root), str(data), point,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == -signal.SIGKILL, f"the helper did not die at {point}: {err.decode(errors='replace')}"


async def until(condition: Callable[[], Awaitable[T]], what: str) -> T:
    """Poll `condition` on the loop (so the runtime records exits meanwhile) until it is true; its value."""
    for _ in range(int(TIMEOUT / POLL_SECONDS)):
        result = await condition()
        if result:
            return result
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"not met within {TIMEOUT:.0f} s: {what}")


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.mark.parametrize(
    ("point", "after_recovery", "runs"),
    [
        ("after-create", [], []),
        ("during-start", [ContainerState.RUNNING], ["app"]),
        ("during-stop", [ContainerState.EXITED], ["app"]),
    ],
)
async def test_recovery_lists_a_container_exactly_when_its_process_ran(
    runtime_dirs: tuple[Path, Path], open_runtime: OpenRuntime, tmp_path: Path, point: str,
    after_recovery: list[ContainerState], runs: list[str],
) -> None:  # fmt: skip
    """A created-only container is removed (its process never ran); a started one is adopted, never made again."""
    root, run_root = runtime_dirs
    data = tmp_path / "data"
    data.mkdir()
    await crash_runtime(root, run_root, data, point)

    rt = await open_runtime()

    async def states() -> list[ContainerState]:
        return [c.state for c in await rt.list_containers()]

    async def settled() -> bool:
        return all(s != ContainerState.RUNNING for s in await states()) or after_recovery == await states()

    await until(settled, "every container running or exited as expected")
    assert await states() == after_recovery
    live = {int((root / "containers" / c.id / "conmon.pid").read_text()) for c in await rt.list_containers()
            if c.state == ContainerState.RUNNING}  # fmt: skip

    async def only_live_conmons() -> bool:
        return conmons_naming(root, run_root) == live

    await until(only_live_conmons, f"no conmon but those of running containers {live}")
    assert lines(data / "runs") == runs


# -- the kubelet: a pod deleted while its containers start ----------------------------------------------------------


async def test_a_pod_deleted_while_its_containers_start_starts_no_more_of_them(
    runtime: LocalRuntime, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    names = [f"c{i}" for i in range(10)]
    mounts = [{"name": "shared", "mountPath": "/shared"}]
    containers = [busybox(n, f"echo {n} >> /shared/runs; exec sleep 600", volumeMounts=mounts) for n in names]
    spec = pod("many", containers, volumes=[{"name": "shared", "hostPath": {"path": str(shared)}}])
    async with run_pod(runtime, spec) as under_test:
        await under_test.host.wait_until(lambda: under_test.starts("c0") or None, "the first container started")
        under_test.request_deletion(0)
        await under_test.wait_terminated()
        started = [n for n in names if under_test.starts(n)]

    assert started != names, "every container was started although the pod was being deleted"
    ran = lines(shared / "runs")
    assert sorted(ran) == sorted(set(ran)), f"a container ran twice: {ran}"


# -- podrun serve: SIGKILLed while pods start, and around their deletion ----------------------------------------


def counting_pod(name: str) -> str:
    """A pod of two init and two regular containers, each appending its name to `runs` in an emptyDir."""

    def container(n: str, then: str = "") -> dict[str, object]:
        script = f"echo {n} >> /data/runs{then}"
        return busybox(n, script, volumeMounts=[{"name": "data", "mountPath": "/data"}])

    idle = "; trap 'exit 0' TERM; while true; do sleep 0.2; done"
    body = pod(
        name, [container(n, idle) for n in MAIN_NAMES], init_containers=[container(n) for n in INIT_NAMES],
        volumes=[{"name": "data", "emptyDir": {}}], terminationGracePeriodSeconds=1,
    )  # fmt: skip
    return json.dumps(body)


def apply_pods(serve: ServeProcess, check: bool = True) -> None:
    for name in PODS:
        serve.kubectl("apply", "-f", "-", stdin=counting_pod(name), check=check)


def all_running(serve: ServeProcess) -> list[dict[str, object]] | None:
    items = json.loads(serve.kubectl("get", "pods", "-o", "json").stdout)["items"]
    running = [p for p in items if all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])]
    return items if len(running) == len(PODS) else None


def crash_at(serve: ServeProcess, point: str, nth: int) -> None:
    """Make the next start of `serve` a podrun that kills itself at the `nth` call of `point`."""
    serve.launcher = [sys.executable, "-c", CRASHING_SERVE, point, str(nth)]


def restart_after_crash(serve: ServeProcess) -> None:
    wait_until(lambda: not serve.running(), what="the server killed itself")
    assert serve.kill() == -signal.SIGKILL, serve.log()
    serve.launcher = [sys.executable, "-m", "podrun.cli.main"]
    serve.start()


def empty_dir_runs(serve: ServeProcess, uid: str) -> list[str]:
    return (serve.root / "pods" / uid / "volumes" / "kubernetes.io~empty-dir" / "data" / "runs").read_text().split()


@pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")
@pytest.mark.parametrize(("point", "nth"), [("after-create", 5), ("during-start", 4), ("during-start", 9)])
def test_a_server_killed_while_pods_start_runs_each_container_exactly_once(
    test_image_archives: dict[str, Path], tmp_path: Path, point: str, nth: int
) -> None:
    with serving([test_image_archives["busybox"]], tmp_path) as serve:
        serve.kill()
        crash_at(serve, point, nth)
        serve.start()
        apply_pods(serve, check=False)  # the server may die before every pod is stored
        restart_after_crash(serve)
        apply_pods(serve)

        pods = wait_until(lambda: all_running(serve), what="every pod running")

        for p in pods:
            runs = empty_dir_runs(serve, p["metadata"]["uid"])  # type: ignore[index]
            assert runs[:2] == list(INIT_NAMES) and sorted(runs[2:]) == list(MAIN_NAMES), (p, runs)
            statuses = [*p["status"]["initContainerStatuses"], *p["status"]["containerStatuses"]]  # type: ignore[index]
            assert [s["restartCount"] for s in statuses] == [0, 0, 0, 0], statuses
        conmons = conmons_naming(serve.root, serve.run_root)
        assert len(conmons) == len(PODS) * len(MAIN_NAMES), processes_naming(serve.root, serve.run_root)


def node_netns_leftovers(serve: ServeProcess) -> dict[str, list[str]]:
    """Pod addresses still allocated, CNI results still cached, veths still in the node namespace: those of no pod
    (the server's spare sandbox, made between pods, is the next pod's)."""
    spares = spare_sandboxes(serve)
    ipam = serve.root / "network" / "ipam"
    allocated = [
        p.name for p in ipam.rglob("*") if _is_address(p.name) and p.read_text().split()[0] not in spares
    ] if ipam.is_dir() else []  # fmt: skip
    results = serve.root / "network" / "cni" / "results"
    cached = [p.name for p in results.glob("*.json") if p.stem not in spares] if results.is_dir() else []
    netns = serve.run_root / "network" / "netns"
    spare_links = {peer_index(serve.run_root / "sandboxes" / spare / "ns" / "net") for spare in spares}
    links = [line for line in _veths(netns) if line.split(":")[0] not in spare_links] if netns.exists() else []
    # One run directory without a state directory is the spare; more are sandboxes a recovery left.
    return {"addresses": allocated, "cni results": cached, "veths": links, "half-made": sorted(spares)[1:]}


def spare_sandboxes(serve: ServeProcess) -> set[str]:
    """The sandboxes of the run root that no `sandbox.json` describes: after a restart, only the spare."""
    run = serve.run_root / "sandboxes"
    listed = {d.name for d in run.iterdir()} if run.is_dir() else set()
    return {s for s in listed if not (serve.root / "sandboxes" / s / "sandbox.json").exists()}


def peer_index(netns: Path) -> str:
    """The node-side interface index of a pod namespace's eth0 (`2: eth0@if7: ...` -> "7")."""
    line = _veths(netns)
    return line[0].split(":")[1].split("@if")[1] if line else ""


def _veths(netns: Path) -> list[str]:
    return subprocess.run(
        ["nsenter", f"--net={netns}", "ip", "-o", "link", "show", "type", "veth"],
        capture_output=True, text=True, timeout=10, check=False,
    ).stdout.splitlines()  # fmt: skip


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")
@pytest.mark.parametrize("nth", [1, 4])
def test_pods_force_deleted_around_a_server_kill_are_collected_after_its_restart(
    test_image_archives: dict[str, Path], tmp_path: Path, nth: int
) -> None:
    with serving([test_image_archives["busybox"]], tmp_path) as serve:
        serve.kill()
        crash_at(serve, "during-deletion", nth)
        serve.start()
        apply_pods(serve)
        pods = wait_until(lambda: all_running(serve), what="every pod running")
        uids = [p["metadata"]["uid"] for p in pods]  # type: ignore[index]
        serve.kubectl("delete", "pods", "--all", "--force", "--grace-period=0", "--wait=false", check=False)
        restart_after_crash(serve)
        # Pods the server did not get to delete before it died are deleted now, as usual.
        serve.kubectl("delete", "pods", "--all", "--force", "--grace-period=0", "--wait=false")

        def everything_collected() -> bool:
            return not (
                conmons_naming(serve.root, serve.run_root)
                or list((serve.root / "sandboxes").iterdir())
                or list((serve.root / "containers").iterdir())
                or [uid for uid in uids if (serve.root / "pods" / uid).exists()]
                or any(node_netns_leftovers(serve).values())
            )

        wait_until(everything_collected, what="the deleted pods' sandboxes, containers, volumes and addresses gone")
        assert serve.pod_names() == []
