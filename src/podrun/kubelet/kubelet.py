"""The kubelet: one worker per pod, fed by the runtime's container events and the probe results.

It owns what the kubelet shares between pods and hands to every worker in one frozen `WorkerDeps`:
the runtime, the crash-loop backoff, the image manager, the probe manager, the event recorder, the
node's facts and the pods' paths. Only its owners (`podrun run`, `podrun serve`) import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podrun.json_types import JSON
from podrun.kubelet import labels
from podrun.kubelet.backoff import Backoff, crash_loop_backoff
from podrun.kubelet.events import EventRecorder, scheduled_event
from podrun.kubelet.host import PodHost
from podrun.kubelet.images import ImageManager, load_registry_config
from podrun.kubelet.node_facts import NodeFacts, PodPaths
from podrun.kubelet.probing.manager import ProbeManager
from podrun.kubelet.teardown_slots import TeardownSlots
from podrun.kubelet.worker_deps import WorkerDeps
from podrun.runtime.images.progress import PullObserver
from podrun.runtime.images.store import ImageStore
from podrun.runtime.protocol import ContainerEvent, ContainerState, EventKind, Runtime, RuntimeError_

if TYPE_CHECKING:
    from podrun.kubelet.worker import PodWorker

log = logging.getLogger(__name__)

FORGET_TIMEOUT_SECONDS = 15.0


class Kubelet:
    """Runs pods on a `Runtime`, reading from and writing to a `PodHost`."""

    def __init__(
        self, runtime: Runtime, host: PodHost, *, root: Path, image_store: ImageStore, strict_pull: bool = False,
        keep: bool = False, offline: bool = False, node: NodeFacts | None = None, crash_backoff: Backoff | None = None,
        pull_observer: PullObserver | None = None, teardowns: TeardownSlots | None = None,
    ) -> None:  # fmt: skip
        """`node` defaults to this machine's facts; `crash_backoff` to the kubelet's 10 s .. 5 min; `teardowns`
        (how many pods are torn down at once) to a pool of `teardown_slots.default_limit()`."""
        self.runtime = runtime
        self.host = host
        registries = load_registry_config(root)
        registries.offline = offline
        self.recorder = EventRecorder(node_name=host.node_name)
        self.workers: dict[str, PodWorker] = {}
        self.deps = WorkerDeps(
            runtime=runtime, host=host,
            probes=ProbeManager(runtime=runtime, on_result=self._probe_result, record_event=self.record),
            images=ImageManager(image_store, registries, strict_pull=strict_pull, observer=pull_observer),
            crash_backoff=crash_backoff or crash_loop_backoff(), record_event=self.record,
            node=node or NodeFacts.of_this_machine(host.node_name), paths=PodPaths.under(root), keep=keep,
            teardowns=teardowns or TeardownSlots(),
        )  # fmt: skip
        self._pump: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[None]] = set()

    @property
    def node(self) -> NodeFacts:
        """The node's facts, as the workers see them."""
        return self.deps.node

    @property
    def paths(self) -> PodPaths:
        """Where pods' volumes and logs are."""
        return self.deps.paths

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening to the runtime's container events."""
        self._events = self.runtime.events()
        self._pump = asyncio.create_task(self._pump_events(), name="kubelet-events")

    async def stop(self) -> None:
        """Stop the event pump and every worker (containers keep running)."""
        if self._pump:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        self._events.close()
        tasks = [w.task for w in self.workers.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.deps.probes.stop()

    def add_pod(self, pod: JSON, *, scheduled: bool = True, started_at: float | None = None) -> PodWorker:
        """Start running a pod (already bound to this node, with a UID).

        `scheduled` records the scheduler's `Scheduled` event; a pod adopted after a restart has one,
        and its `started_at` (the status's startTime, Unix seconds) for activeDeadlineSeconds.
        """
        # An idle `podrun serve` runs no pod: the worker's modules load with its first pod, not at start.
        from podrun.kubelet.worker import PodWorker

        uid = pod["metadata"]["uid"]
        worker = PodWorker(self.deps, pod, started_at=started_at)
        self.workers[uid] = worker
        if scheduled:
            action, event = scheduled_event(pod, self.host.node_name)
            self._store_event(action, event)
        self.deps.probes.add_pod(pod)
        worker.start()
        return worker

    def update_pod(self, pod: JSON) -> None:
        """A pod changed in the API (deletion requested, image changed)."""
        worker = self.workers.get(pod["metadata"]["uid"])
        if worker:
            self.deps.probes.update_pod(pod)
            worker.update(pod)

    async def forget_pod(self, pod: JSON) -> None:
        """The pod is gone from the API: stop what still runs at once, then drop its logs.

        Many pods are forgotten at once (the node agent does not wait for one before the next); their workers take
        turns in the teardown slots. The worker stays known until it finished, so that the garbage collector
        leaves the pod's sandbox to it, and its containers' events still reach it. A worker not finished after
        `FORGET_TIMEOUT_SECONDS` of its own work (its turn in the queue does not count) is stopped, so that it does
        not race the garbage collector and the removal of the logs below; what still runs of the pod is killed
        (a stop already waiting out a grace period when the pod was force-deleted, or a hung start), and the
        garbage collector removes the rest.
        """
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if worker is not None and not worker.finished.is_set():
            worker.terminate(grace_override=0)
            if not await _finished_in_time(worker) and worker.task is not None:
                log.warning(
                    "pod %s: not torn down after %.0f s; its worker is stopped, what runs is killed, the garbage "
                    "collector removes the rest", pod["metadata"].get("name"), FORGET_TIMEOUT_SECONDS,
                )  # fmt: skip
                worker.task.cancel()
                await asyncio.wait({worker.task}, timeout=FORGET_TIMEOUT_SECONDS)
                with contextlib.suppress(TimeoutError, RuntimeError_):
                    await asyncio.wait_for(worker.kill_running_now(), FORGET_TIMEOUT_SECONDS)
        if worker is not None and self.workers.get(uid) is worker:
            del self.workers[uid]
        shutil.rmtree(self.paths.pod_log_dir(pod), ignore_errors=True)
        # The kubelet's housekeeping collects expired crash-loop back-offs: entries of pods long gone would
        # otherwise stay for good (one per container that ever restarted).
        self.deps.crash_backoff.gc()
        self.recorder.forget(pod["metadata"]["uid"])
        # The worker dropped the pod's probe state when it finished, but runtime events that came after (the
        # removal of its containers) recorded container views again.
        self.deps.probes.remove_pod(pod["metadata"]["uid"])

    # -- events from the runtime --------------------------------------------------------------------

    async def _pump_events(self) -> None:
        async for event in self._events:
            try:
                self._on_container_event(event)
            except Exception:
                log.exception("handling %s failed", event)

    def _on_container_event(self, event: ContainerEvent) -> None:
        status = event.status
        uid = status.labels.get(labels.POD_UID, "")
        worker = self.workers.get(uid)
        if worker is None:
            return
        name = status.labels.get(labels.CONTAINER_NAME, status.name)
        if event.kind == EventKind.EXITED:
            worker.container_exited(status)
        self.deps.probes.update_container(
            uid, name, status.id, started_at=status.started_at, running=status.state == ContainerState.RUNNING,
            terminated=status.state == ContainerState.EXITED, sandbox_id=status.sandbox_id,
        )  # fmt: skip
        worker.wake()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- probes -----------------------------------------------------------------------------------

    def _probe_result(
        self, uid: str, container_name: str, container_id: str, probe_type: str, result: str | None
    ) -> None:
        worker = self.workers.get(uid)
        if worker:
            worker.lifecycle.probe(container_name, probe_type, result)
            worker.wake()

    # -- events to the host -----------------------------------------------------------------------

    def record(self, pod: JSON, kind: str, reason: str, message: str, ref: str = "") -> None:
        """Record an event through the correlator (deduplicated, aggregated, rate-limited)."""
        if worker := self.workers.get(pod["metadata"].get("uid", "")):
            worker.lifecycle.from_event(reason, message, ref)
        outcome = self.recorder.record(pod, kind, reason, message, ref)
        if outcome is not None:
            self._store_event(*outcome)

    def _store_event(self, action: str, event: JSON) -> None:
        self._spawn(self.host.record_event(action, event))  # type: ignore[arg-type]


async def _finished_in_time(worker: PodWorker) -> bool:
    """Wait until the worker finished (True), or spent `FORGET_TIMEOUT_SECONDS` outside the teardown slots' queue
    without finishing (False). The time in the queue does not count: a thousand pods deleted at once wait there
    far longer than any one teardown takes."""
    clock = asyncio.get_running_loop().time
    left = FORGET_TIMEOUT_SECONDS
    while not worker.finished.is_set() and left > 0:
        await _either(worker.finished, worker.out_of_slot_queue)
        began = clock()
        await _either(worker.finished, worker.in_slot_queue, timeout=left)
        left -= clock() - began
    return worker.finished.is_set()


async def _either(first: asyncio.Event, second: asyncio.Event, timeout: float | None = None) -> None:
    """Return once one of the two events is set, or after `timeout` seconds."""
    waits = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
