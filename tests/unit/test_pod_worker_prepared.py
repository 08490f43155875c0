"""The containers after a regular init container are prepared while it runs (the fast hand-off), over the
in-memory runtime: what is prepared, when it starts, and when it is thrown away. No root needed."""

from __future__ import annotations

from pathlib import Path

from node_fakes import admitted, fake_node

from podrun.json_types import JSON
from podrun.runtime.protocol import ContainerState


def init_pod(*inits: str, restart_policy: str = "Never") -> JSON:
    """A pod of busybox init containers `inits` and one app container."""
    return admitted({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {
            "restartPolicy": restart_policy, "terminationGracePeriodSeconds": 30,
            "initContainers": [{"name": n, "image": "busybox:1.36"} for n in inits],
            "containers": [{"name": "app", "image": "busybox:1.36"}],
        },
    })  # fmt: skip


def _init_waiting_reason(status: JSON, name: str) -> str:
    for s in status.get("initContainerStatuses") or []:
        if s["name"] == name:
            return ((s.get("state") or {}).get("waiting") or {}).get("reason", "")
    return ""


async def test_every_container_after_the_first_init_container_is_prepared_while_it_runs(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        worker = node.run_pod(init_pod("init-0", "init-1"))
        await host.wait_until(
            lambda: {("prepare_container", "init-1"), ("prepare_container", "app")} <= set(runtime.calls)
        )
        await host.wait_until(lambda: _init_waiting_reason(host.latest, "init-1") == "PodInitializing")
        worker.terminate(grace_override=0)
        await host.wait_until(host.terminated.is_set)

    assert ("start_container", "init-1") not in runtime.calls


async def test_the_next_init_container_starts_from_its_prepared_container_after_a_successful_exit(
    tmp_path: Path,
) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        node.run_pod(init_pod("init-0", "init-1"))
        await host.wait_until(lambda: ("prepare_container", "init-1") in runtime.calls)
        runtime.exit("init-0", 0)
        await host.wait_until(lambda: ("start_container", "init-1") in runtime.calls)
        runtime.exit("init-1", 0)
        await host.wait_until(lambda: ("start_container", "app") in runtime.calls)
        runtime.exit("app", 0)
        await host.wait_until(host.terminated.is_set)

    assert runtime.calls.count(("create_container", "init-1")) == 1
    assert runtime.calls.count(("create_container", "app")) == 1
    assert host.latest["phase"] == "Succeeded"
    assert host.reasons().count("Started") == 3


async def test_a_failed_init_container_under_restart_policy_never_fails_the_pod_and_removes_what_was_prepared(
    tmp_path: Path,
) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        node.run_pod(init_pod("init-0", "init-1"))
        await host.wait_until(lambda: ("prepare_container", "app") in runtime.calls)
        runtime.exit("init-0", 1)
        await host.wait_until(host.terminated.is_set)

    assert host.latest["phase"] == "Failed"
    assert ("start_container", "init-1") not in runtime.calls
    assert {("remove_container", "init-1"), ("remove_container", "app")} <= set(runtime.calls)


async def test_a_failed_init_container_that_will_restart_removes_what_was_prepared_after_it(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        worker = node.run_pod(init_pod("init-0", "init-1", restart_policy="OnFailure"))
        await host.wait_until(lambda: ("prepare_container", "app") in runtime.calls)
        prepared = {c.id for c in runtime.containers.values() if c.state == ContainerState.CREATED}
        runtime.exit("init-0", 1)
        await host.wait_until(
            lambda: {("remove_container", "init-1"), ("remove_container", "app")} <= set(runtime.calls)
        )
        left = prepared & set(runtime.containers)
        worker.terminate(grace_override=0)
        await host.wait_until(host.terminated.is_set)

    assert len(prepared) == 2 and left == set()
    assert ("start_container", "init-1") not in runtime.calls


async def test_deleting_the_pod_while_an_init_container_runs_removes_what_was_prepared(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        worker = node.run_pod(init_pod("init-0", "init-1"))
        await host.wait_until(lambda: ("prepare_container", "app") in runtime.calls)
        worker.terminate(grace_override=0)
        await host.wait_until(host.terminated.is_set)

    assert {("remove_container", "init-1"), ("remove_container", "app")} <= set(runtime.calls)
    assert not any(("start_container", name) in runtime.calls for name in ("init-1", "app"))
