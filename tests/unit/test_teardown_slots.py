"""Deleted pods are torn down in the kubelet's teardown slots: a few at once, in the order they were deleted, and a
grace period is waited out without one. Over the in-memory runtime; no root needed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from fake_runtime import FakeRuntime
from node_fakes import WAIT_SECONDS, fake_node, simple_pod

from podrun.json_types import JSON
from podrun.kubelet.node import Node
from podrun.kubelet.teardown_slots import TeardownSlots


def _named(name: str, container: str = "app", grace: int = 30) -> JSON:
    pod = simple_pod(container, restart_policy="Always", grace=grace)
    return dict(pod, metadata=dict(pod["metadata"], name=name))


async def _until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT_SECONDS)


async def _running(node: Node, runtime: FakeRuntime, pods: list[JSON]) -> None:
    for pod in pods:
        node.run_pod(pod)
    await _until(lambda: sum(method == "start_container" for method, _ in runtime.calls) == len(pods))


async def test_no_more_pods_than_there_are_slots_are_torn_down_at_once(tmp_path: Path) -> None:
    slots = TeardownSlots(2)
    async with fake_node(tmp_path, teardowns=slots) as (node, runtime, _):
        pods = [_named(f"p{k}") for k in range(4)]
        await _running(node, runtime, pods)
        releases = [runtime.hold("remove_sandbox", pod["metadata"]["name"]) for pod in pods]
        forgetting = [asyncio.create_task(node.forget_pod(pod)) for pod in pods]
        await _until(lambda: runtime.removing == 2 and slots.waiting == 2)
        killed_meanwhile = sum(method == "stop_container" for method, _ in runtime.calls)
        for release in releases:
            release.set()
        await asyncio.gather(*forgetting)

    assert killed_meanwhile == 2
    assert runtime.most_removing == 2
    assert runtime.sandboxes == {}


async def test_pods_are_torn_down_in_the_order_they_were_forgotten(tmp_path: Path) -> None:
    async with fake_node(tmp_path, teardowns=TeardownSlots(1)) as (node, runtime, _):
        pods = [_named(name) for name in ("b", "c", "a")]
        await _running(node, runtime, pods)
        await asyncio.gather(*(node.forget_pod(pod) for pod in pods))

    assert runtime.removed_pods == ["b", "c", "a"]


async def test_a_grace_period_is_waited_out_without_a_teardown_slot(tmp_path: Path) -> None:
    async with fake_node(tmp_path, teardowns=TeardownSlots(1)) as (node, runtime, host):
        slow, quick = _named("slow", container="slow", grace=30), _named("quick", container="quick")
        await _running(node, runtime, [slow, quick])
        stopping = runtime.hold("stop_container", "slow")
        node.delete_pod(slow, grace=30)
        await runtime.called("stop_container", "slow")
        await node.forget_pod(quick)
        removed_while_slow_stops = list(runtime.removed_pods)
        stopping.set()
        await host.wait_until(lambda: "slow" in runtime.removed_pods)

    assert removed_while_slow_stops == ["quick"]
    assert runtime.stop_graces == {"slow": 30, "quick": 0}
