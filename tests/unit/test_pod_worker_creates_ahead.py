"""A pod's app containers after the first are created while the first starts (once its bundle is written), and
still start one after another in order, over the in-memory runtime. No root needed."""

from __future__ import annotations

from pathlib import Path

from node_fakes import MemoryHost, admitted, fake_node, simple_pod

from podrun.json_types import JSON
from podrun.kubelet.worker import PodWorker
from podrun.runtime.protocol import ContainerState

HOOK = "touch /ready"


def _starts(calls: list[tuple[str, str]]) -> list[str]:
    return [name for method, name in calls if method == "start_container"]


async def _end(worker: PodWorker, host: MemoryHost) -> None:
    """Delete the pod at once and wait until the node has let it go."""
    worker.terminate(grace_override=0)
    await host.wait_until(host.terminated.is_set)


def _pod(*containers: JSON, init: tuple[str, ...] = ()) -> JSON:
    return admitted({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {
            "restartPolicy": "Never", "terminationGracePeriodSeconds": 30,
            "initContainers": [{"name": n, "image": "busybox:1.36"} for n in init],
            "containers": list(containers),
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    })  # fmt: skip


async def test_the_containers_after_the_first_are_created_while_the_first_starts(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        release = runtime.hold("start_container", "web")
        worker = node.run_pod(simple_pod("web", "log", "cache"))
        await runtime.called("prepare_container", "log")
        await runtime.called("prepare_container", "cache")
        started_while_held = _starts(runtime.calls)
        release.set()
        await runtime.called("start_container", "cache")
        await _end(worker, host)

    assert started_while_held == ["web"]


async def test_the_containers_start_in_their_order_each_created_once(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        worker = node.run_pod(simple_pod("web", "log", "cache"))
        await runtime.called("start_container", "cache")
        await _end(worker, host)

    assert _starts(runtime.calls) == ["web", "log", "cache"]
    assert [runtime.calls.count(("create_container", name)) for name in ("web", "log", "cache")] == [1, 1, 1]
    assert host.reasons().count("Started") == 3


async def test_a_post_start_hook_still_holds_back_the_next_start(tmp_path: Path) -> None:
    hooked = {"name": "web", "image": "busybox:1.36", "lifecycle": {"postStart": {"exec": {"command": HOOK.split()}}}}
    async with fake_node(tmp_path) as (node, runtime, host):
        release = runtime.hold("exec_sync", HOOK)
        worker = node.run_pod(_pod(hooked, {"name": "log", "image": "busybox:1.36"}))
        await runtime.called("exec_sync", HOOK)
        await runtime.called("prepare_container", "log")
        started_during_the_hook = _starts(runtime.calls)
        release.set()
        await runtime.called("start_container", "log")
        await _end(worker, host)

    assert started_during_the_hook == ["web"]


async def test_a_container_whose_creation_ahead_failed_is_created_again_at_its_start(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        runtime.fail_next("prepare_container", name="log")
        worker = node.run_pod(simple_pod("web", "log", "cache"))
        await runtime.called("start_container", "cache")
        await _end(worker, host)

    assert _starts(runtime.calls) == ["web", "log", "cache"]
    assert runtime.calls.count(("create_container", "log")) == 2
    assert not [c for c in runtime.containers.values() if c.state == ContainerState.CREATED]


async def test_a_failed_create_ahead_does_not_keep_the_others_from_being_removed_when_the_pod_goes(
    tmp_path: Path,
) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        release = runtime.hold("start_container", "web")
        runtime.fail_next("create_container", name="log")
        worker = node.run_pod(simple_pod("web", "log", "cache"))
        await runtime.called("prepare_container", "cache")
        worker.terminate(grace_override=0)
        release.set()
        await host.wait_until(host.terminated.is_set)

    assert ("remove_container", "cache") in runtime.calls
    assert _starts(runtime.calls) == ["web"]
    assert not [c for c in runtime.containers.values() if c.state == ContainerState.CREATED]


async def test_nothing_is_created_ahead_when_the_first_container_cannot_be_created(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        runtime.fail_next("create_container", "CreateContainerError", name="web")
        worker = node.run_pod(simple_pod("web", "log", "cache"))
        await runtime.called("start_container", "cache")
        await _end(worker, host)

    assert ("prepare_container", "log") not in runtime.calls
    assert ("prepare_container", "cache") not in runtime.calls
    assert _starts(runtime.calls) == ["log", "cache"]
    assert [runtime.calls.count(("create_container", name)) for name in ("log", "cache")] == [1, 1]


async def test_a_restart_is_not_created_ahead(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        worker = node.run_pod(simple_pod("web", "log", restart_policy="Always"))
        await runtime.called("start_container", "log")
        runtime.exit("web", 1)
        runtime.exit("log", 1)
        await host.wait_until(lambda: _starts(runtime.calls).count("log") == 2)
        await _end(worker, host)

    assert runtime.calls.count(("prepare_container", "log")) == 1
    assert _starts(runtime.calls) == ["web", "log", "web", "log"]


async def test_a_container_with_a_sub_path_mount_is_not_created_ahead(tmp_path: Path) -> None:
    mounted = {"name": "log", "image": "busybox:1.36", "volumeMounts": [{"name": "data", "mountPath": "/d",
                                                                         "subPath": "log"}]}  # fmt: skip
    async with fake_node(tmp_path) as (node, runtime, host):
        worker = node.run_pod(_pod({"name": "web", "image": "busybox:1.36"}, mounted))
        await runtime.called("start_container", "log")
        await _end(worker, host)

    assert ("prepare_container", "log") not in runtime.calls
    assert _starts(runtime.calls) == ["web", "log"]


async def test_app_containers_prepared_while_an_init_container_ran_are_not_created_again(tmp_path: Path) -> None:
    containers = [{"name": n, "image": "busybox:1.36"} for n in ("web", "log")]
    async with fake_node(tmp_path) as (node, runtime, host):
        worker = node.run_pod(_pod(*containers, init=("init",)))
        await runtime.called("prepare_container", "log")
        runtime.exit("init", 0)
        await runtime.called("start_container", "log")
        await _end(worker, host)

    assert [runtime.calls.count(("create_container", name)) for name in ("web", "log")] == [1, 1]
    assert _starts(runtime.calls) == ["init", "web", "log"]


async def test_only_regular_init_containers_are_started_as_hand_offs(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        worker = node.run_pod(_pod({"name": "web", "image": "nginx"}, {"name": "log", "image": "busybox"}, init=("i",)))
        await runtime.called("start_container", "i")
        runtime.exit("i", 0)
        await runtime.called("start_container", "log")
        await _end(worker, host)

    # App containers come up beside others: the OCI runtime's own start keeps the head start a cluster gives each.
    assert runtime.started_as_hand_off == {"i": True, "web": False, "log": False}
