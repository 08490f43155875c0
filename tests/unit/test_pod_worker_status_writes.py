"""A sync's status write runs beside its actions (a container's start) and is done before the sync returns, over
the in-memory runtime. No root needed."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fake_runtime import FakeRuntime
from node_fakes import NODE_NAME, MemoryHost, PresentImages, fake_node, simple_pod

from podrun.json_types import JSON
from podrun.kubelet.kubelet import Kubelet
from podrun.kubelet.node_facts import NodeFacts
from podrun.kubelet.worker import PodWorker


class StoreError(Exception):
    """The store refused a write."""


@dataclass
class SlowHost(MemoryHost):
    """A host whose status writes wait for `release` (when given), fail `failures` times, and let other tasks run
    before they are kept."""

    release: asyncio.Event | None = None
    failures: int = 0
    written_when_terminated: int = -1
    begun: list[str] = field(default_factory=list)

    async def update_pod_status(self, pod: JSON, status: JSON) -> None:
        self.begun.append(status.get("phase", ""))
        if self.release is not None:
            await self.release.wait()
        for _ in range(3):
            await asyncio.sleep(0)  # a write that takes a few turns of the loop, as a store's would
        if self.failures:
            self.failures -= 1
            raise StoreError("the store is read-only")
        await super().update_pod_status(pod, status)

    async def pod_terminated(self, pod: JSON) -> None:
        self.written_when_terminated = len(self.statuses)
        await super().pod_terminated(pod)


@contextlib.asynccontextmanager
async def lone_worker(tmp_path: Path, host: SlowHost) -> AsyncIterator[tuple[PodWorker, FakeRuntime]]:
    """A worker of a one-container pod whose syncs the test runs itself; the pod is removed on leaving."""
    runtime = FakeRuntime()
    facts = NodeFacts(node_name=NODE_NAME, memory=1 << 30, allocatable={"cpu": 1000, "memory": 1 << 30})
    kubelet = Kubelet(runtime, host, root=tmp_path, image_store=PresentImages(), node=facts)  # type: ignore[arg-type]
    worker = PodWorker(kubelet.deps, simple_pod("web", restart_policy="Always"))
    try:
        yield worker, runtime
    finally:
        host.release, host.failures = None, 0
        worker.terminate(grace_override=0)
        while not worker.finished.is_set():
            await worker.sync()
        kubelet.deps.probes.stop()


async def test_the_container_starts_while_the_status_is_being_written(tmp_path: Path) -> None:
    host = SlowHost(release=asyncio.Event())
    async with lone_worker(tmp_path, host) as (worker, runtime):
        syncing = asyncio.create_task(worker.sync())
        await runtime.called("start_container", "web")
        written_at_the_start = len(host.statuses)
        assert host.release is not None
        host.release.set()
        await syncing

    assert host.begun[0] == "Pending" and written_at_the_start == 0


async def test_a_sync_returns_only_once_its_status_is_written(tmp_path: Path) -> None:
    host = SlowHost()
    async with lone_worker(tmp_path, host) as (worker, _):
        await worker.sync()
        written = [s["phase"] for s in host.statuses]

    assert written == ["Pending"]


async def test_a_failed_status_write_fails_the_sync(tmp_path: Path) -> None:
    host = SlowHost(failures=1)
    async with lone_worker(tmp_path, host) as (worker, _):
        with pytest.raises(StoreError):
            await worker.sync()


async def test_a_failed_status_write_shows_as_a_failed_sync(tmp_path: Path) -> None:
    async with fake_node(tmp_path, host=SlowHost(failures=1)) as (node, _, host):
        worker = node.run_pod(simple_pod("web", restart_policy="Always"))
        await host.wait_until(lambda: "FailedSync" in host.reasons())
        worker.terminate(grace_override=0)
        await host.wait_until(host.terminated.is_set)

    [failed] = [e for e in host.events if e["reason"] == "FailedSync"]
    assert "the store is read-only" in failed["message"]


async def test_statuses_are_written_in_the_order_of_the_syncs_and_the_last_before_the_pod_ends(
    tmp_path: Path,
) -> None:
    async with fake_node(tmp_path, host=SlowHost()) as (node, runtime, host):
        node.run_pod(simple_pod("web", "log"))
        await host.wait_until(lambda: host.latest.get("phase") == "Running")
        runtime.exit("web", 0)
        runtime.exit("log", 0)
        await host.wait_until(host.terminated.is_set)

    assert isinstance(host, SlowHost)
    phases = [s["phase"] for s in host.statuses]
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == ["Pending", "Running", "Succeeded"]
    assert host.written_when_terminated == len(host.statuses)


async def test_publishing_a_status_leaves_the_pod_the_worker_was_given_as_it_was(tmp_path: Path) -> None:
    """The node agent hands workers the store's own decoded pod, which nothing may change."""
    given = simple_pod("web", restart_policy="Always")
    before = copy.deepcopy(given)
    host = SlowHost()
    runtime = FakeRuntime()
    facts = NodeFacts(node_name=NODE_NAME, memory=1 << 30, allocatable={"cpu": 1000, "memory": 1 << 30})
    kubelet = Kubelet(runtime, host, root=tmp_path, image_store=PresentImages(), node=facts)  # type: ignore[arg-type]
    worker = PodWorker(kubelet.deps, given)
    await worker.sync()
    published = worker.pod.get("status")
    worker.terminate(grace_override=0)
    while not worker.finished.is_set():
        await worker.sync()
    kubelet.deps.probes.stop()

    assert published and given == before
