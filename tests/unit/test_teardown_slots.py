"""Deleted pods are torn down in the kubelet's teardown slots: a few at once, in the order they were deleted, and a
grace period is waited out without one. Over the in-memory runtime; no root needed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_runtime import FakeRuntime
from node_fakes import WAIT_SECONDS, fake_node, simple_pod

from podrun.json_types import JSON
from podrun.kubelet import kubelet
from podrun.kubelet.node import Node
from podrun.kubelet.teardown_slots import TeardownSlots
from podrun.runtime.protocol import ContainerState


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


async def test_pods_waiting_for_a_slot_are_torn_down_in_the_order_they_were_forgotten(tmp_path: Path) -> None:
    slots = TeardownSlots(1)
    async with fake_node(tmp_path, teardowns=slots) as (node, runtime, _):
        first, *queued = [_named(name) for name in ("first", "b", "c", "a")]
        await _running(node, runtime, [first, *queued])
        release_first = runtime.hold("remove_sandbox", "first")
        forgetting = [asyncio.create_task(node.forget_pod(first))]
        await _until(lambda: runtime.removing == 1)
        # One at a time, each queued before the next is forgotten: a pod forgotten mid-sync reaches the queue
        # only when that sync ends, so forgetting them all at once would not fix their order.
        for queued_before, pod in enumerate(queued):
            forgetting.append(asyncio.create_task(node.forget_pod(pod)))
            await _until(lambda waiting=queued_before + 1: slots.waiting == waiting)
        release_first.set()
        await asyncio.gather(*forgetting)

    assert runtime.removed_pods == ["first", "b", "c", "a"]


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


async def test_the_teardown_timeout_does_not_count_the_wait_for_a_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kubelet, "FORGET_TIMEOUT_SECONDS", 0.05)
    slots = TeardownSlots(1)
    async with fake_node(tmp_path, teardowns=slots) as (node, runtime, _):
        queued, hung = _named("queued", container="queued"), _named("hung", container="hung")
        await _running(node, runtime, [queued])
        logs = node.paths.pod_log_dir(queued)
        logs.mkdir(parents=True)
        await slots.acquire()  # every slot busy with pods deleted before
        forgetting = asyncio.create_task(node.forget_pod(queued))
        await _until(lambda: slots.waiting == 1)
        # A pod forgotten after it, whose teardown hangs, is given up once the timeout passed: the queued pod has
        # waited longer than that.
        runtime.hold("start_container", "hung")
        node.run_pod(hung)
        await runtime.called("start_container", "hung")
        await node.forget_pod(hung)
        still_queued = not forgetting.done() and logs.exists() and node.has_pod(queued["metadata"]["uid"])
        slots.release()
        await asyncio.wait_for(forgetting, WAIT_SECONDS)

        assert still_queued
        assert runtime.removed_pods == ["queued"]
        assert not logs.exists()
        assert not node.has_pod(queued["metadata"]["uid"])


async def test_a_teardown_that_hangs_is_stopped_and_left_to_the_garbage_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kubelet, "FORGET_TIMEOUT_SECONDS", 0.05)
    async with fake_node(tmp_path, teardowns=TeardownSlots(1)) as (node, runtime, _):
        hung, next_ = _named("hung", container="hung"), _named("next", container="next")
        await _running(node, runtime, [hung, next_])
        runtime.hold("remove_sandbox", "hung")
        await node.forget_pod(hung)
        await node.forget_pod(next_)  # the hung pod's slot was given back
        torn_down = list(runtime.removed_pods)
        collected = await node.collect_garbage(set())

    assert torn_down == ["next"]
    assert len(collected.sandboxes) == 1
    assert runtime.removed_pods == ["next", "hung"]


async def test_a_pod_still_in_its_grace_period_when_the_timeout_passes_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kubelet, "FORGET_TIMEOUT_SECONDS", 0.05)
    async with fake_node(tmp_path, teardowns=TeardownSlots(1)) as (node, runtime, _):
        slow = _named("slow", container="slow", grace=30)
        await _running(node, runtime, [slow])
        runtime.hold("stop_container", "slow")  # its SIGTERM is ignored: the stop waits out the 30 s
        node.delete_pod(slow, grace=30)
        await runtime.called("stop_container", "slow")
        await node.forget_pod(slow)  # then `kubectl delete --force`

        assert runtime.stop_graces == {"slow": 0}
        assert not any(c.state == ContainerState.RUNNING for c in runtime.containers.values())
