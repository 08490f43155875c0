"""The kubelet's prober manager (`prober_manager.go`): workers per pod, published results, started/ready."""

from __future__ import annotations

import asyncio
import random as random_module
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from podrun.json_types import JSON
from podrun.kubelet.planner import ProbeResult
from podrun.kubelet.probing.outcome import ProbeOutcome
from podrun.kubelet.probing.prober import probe_with_retries, run_probe, static_env
from podrun.kubelet.probing.worker import PROBE_KEYS, Clock, ProbeRunner, ProbeType, ProbeWorker, Sleep, TargetStatus
from podrun.runtime.protocol import Runtime

# The manager's callbacks carry the pod: (uid, container name, container ID, probe type, result) and
# (pod, type, reason, message, field_path).
OnPodResult = Callable[[str, str, str, ProbeType, ProbeResult | None], None]
RecordPodEvent = Callable[[JSON, str, str, str, str], None]


@dataclass(frozen=True)
class _ContainerView:
    container_id: str
    sandbox_id: str
    started_at: float
    running: bool
    terminated: bool


def runtime_runner(runtime: Runtime) -> ProbeRunner:
    """The production `ProbeRunner`: `run_probe` through the runtime, with the kubelet's retries."""

    async def run(
        container: Mapping[str, Any], probe: Mapping[str, Any], target: TargetStatus
    ) -> ProbeOutcome:
        env = static_env(container)
        timeout = float(probe.get("timeoutSeconds") or 1)
        return await probe_with_retries(
            lambda: run_probe(
                probe,
                runtime=runtime,
                container_id=target.container_id,
                sandbox_id=target.sandbox_id,
                container_env=env,
                timeout=timeout,
                container=container,
            )
        )

    return run


class ProbeManager:
    """The kubelet's prober manager (`prober_manager.go`): workers, published results, started/ready.

    Feed it each pod (`add_pod`, then `update_pod` with every new version: `metadata.deletionTimestamp`
    and `status.phase` are read from it) and the runtime's view of each container (`update_container`).
    Results are published through `on_result(uid, container_name, container_id, probe_type, result)`
    (result None = Unknown) and events through `record_event(pod, type, reason, message, field_path)`.
    Probes run through `runner`, by default `runtime_runner(runtime)`. Workers are tasks on the running
    event loop; `clock` (Unix seconds), `sleep` and `random` are injectable for tests.
    """

    def __init__(
        self,
        *,
        on_result: OnPodResult,
        record_event: RecordPodEvent,
        runtime: Runtime | None = None,
        runner: ProbeRunner | None = None,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = random_module.random,
        kubelet_start: float | None = None,
    ) -> None:
        if runner is None:
            if runtime is None:
                raise ValueError("ProbeManager needs a runtime or a runner")
            runner = runtime_runner(runtime)
        self._runner = runner
        self._on_result = on_result
        self._record_event = record_event
        self._clock = clock
        self._sleep = sleep
        self._random = random
        # When the (podrun) kubelet started: workers created within a period of it stagger their first
        # probe. None means long ago, as for a pod added to a kubelet that has been running for a while.
        self._kubelet_start = kubelet_start
        self._pods: dict[str, JSON] = {}
        self._containers: dict[tuple[str, str], _ContainerView] = {}
        self._results: dict[ProbeType, dict[str, ProbeResult | None]] = {
            "startup": {},
            "liveness": {},
            "readiness": {},
        }
        self._workers: dict[tuple[str, str, ProbeType], ProbeWorker] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add_pod(self, pod: JSON) -> None:
        """`AddPod`: start a worker for each probe of each container and sidecar that has none yet."""
        uid = _uid(pod)
        self._pods[uid] = pod
        spec = pod.get("spec") or {}
        sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
        for container in [*(spec.get("containers") or []), *sidecars]:
            name = str(container.get("name", ""))
            for probe_type in cast(tuple[ProbeType, ...], ("startup", "readiness", "liveness")):
                key = (uid, name, probe_type)
                if container.get(PROBE_KEYS[probe_type]) is None or key in self._workers:
                    continue
                self._start_worker(key, pod, container)

    def update_pod(self, pod: JSON) -> None:
        """The newest version of a pod: workers read its deletion and `status.phase` at their next tick."""
        uid = _uid(pod)
        if uid in self._pods:
            self._pods[uid] = pod

    def update_container(
        self,
        uid: str,
        name: str,
        container_id: str,
        *,
        started_at: float,
        running: bool,
        terminated: bool = False,
        sandbox_id: str = "",
    ) -> None:
        """Record the runtime's newest instance of a container (what the status manager would hold).

        `started_at` is in Unix seconds. `terminated` tells an exited instance from one only created (an
        exited one ends its workers when it will not be restarted), and `sandbox_id` is the sandbox that
        TCP and HTTP probes dial into.
        """
        view = _ContainerView(container_id, sandbox_id, started_at, running, terminated)
        self._containers[(uid, name)] = view

    def stop_liveness_and_startup(self, uid: str) -> None:
        """`StopLivenessAndStartup` at pod termination: readiness keeps running (regular containers only)."""
        for container in (self._pods.get(uid, {}).get("spec") or {}).get("containers") or []:
            for probe_type in cast(tuple[ProbeType, ...], ("liveness", "startup")):
                worker = self._workers.get((uid, str(container.get("name", "")), probe_type))
                if worker is not None:
                    worker.stop()

    def remove_pod(self, uid: str) -> None:
        """`RemovePod`: stop the pod's workers (each drops its results as it exits) and forget the pod."""
        for (pod_uid, _, _), worker in list(self._workers.items()):
            if pod_uid == uid:
                worker.stop()
        self._pods.pop(uid, None)
        for view_key in [view_key for view_key in self._containers if view_key[0] == uid]:
            del self._containers[view_key]

    def holds_pod(self, uid: str) -> bool:
        """Whether anything of the pod is still kept: its spec, a container view or a probe worker."""
        return (
            uid in self._pods
            or any(key[0] == uid for key in self._containers)
            or any(key[0] == uid for key in self._workers)
        )

    def stop(self) -> None:
        """Stop every worker of every pod (kubelet shutdown); `join` waits for them."""
        for worker in list(self._workers.values()):
            worker.stop()

    async def join(self) -> None:
        """Wait until every worker that was stopped, or ended by itself, has exited."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def results(self, container_id: str) -> tuple[ProbeResult | None, ProbeResult | None, ProbeResult | None]:
        """The published (startup, liveness, readiness) results of one container instance; None if none."""
        return (
            self._results["startup"].get(container_id),
            self._results["liveness"].get(container_id),
            self._results["readiness"].get(container_id),
        )

    def is_started(self, uid: str, name: str, container_id: str) -> bool:
        """`isContainerStarted` for the *running* instance `container_id` of container `name`.

        Started when its startup result is Success; without a result, when the container has no startup
        probe (or its startup worker is gone). The caller checks that the instance runs, as
        `UpdatePodStatus` checks `State.Running`: an instance that is not running is never started.
        """
        startup = self._results["startup"]
        if container_id in startup:
            return startup[container_id] == "success"
        return (uid, name, "startup") not in self._workers

    def is_ready(self, uid: str, name: str, container_id: str) -> bool:
        """`UpdatePodStatus`'s ready for the *running* instance `container_id`: started, and readiness
        Success or no readiness probe.

        As in the kubelet, asking about a container whose readiness worker has no Success yet triggers an
        immediate readiness probe.
        """
        if not self.is_started(uid, name, container_id):
            return False
        if self._results["readiness"].get(container_id) == "success":
            return True
        worker = self._workers.get((uid, name, "readiness"))
        if worker is None:
            return True
        worker.trigger()
        return False

    def _start_worker(self, key: tuple[str, str, ProbeType], pod: JSON, container: Mapping[str, Any]) -> None:
        uid, name, probe_type = key

        def record(type: str, reason: str, message: str, field_path: str) -> None:
            # Events name the newest version of the pod (its resourceVersion), as the kubelet's do.
            self._record_event(self._pods.get(uid, pod), type, reason, message, field_path)

        def publish(container: str, container_id: str, kind: ProbeType, result: ProbeResult | None) -> None:
            self._on_result(uid, container, container_id, kind, result)

        worker = ProbeWorker(
            pod,
            container,
            probe_type,
            runner=self._runner,
            status=lambda: self._target(uid, name),
            results=self._results[probe_type],
            on_result=publish,
            record_event=record,
            clock=self._clock,
            sleep=self._sleep,
            random=self._random,
            kubelet_start=self._kubelet_start,
        )
        self._workers[key] = worker
        task = asyncio.get_running_loop().create_task(self._run(key, worker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _target(self, uid: str, name: str) -> TargetStatus | None:
        pod = self._pods.get(uid)
        if pod is None:
            return None  # removed: the worker waits for its stop
        phase = str((pod.get("status") or {}).get("phase") or "")
        deleting = (pod.get("metadata") or {}).get("deletionTimestamp") is not None
        view = self._containers.get((uid, name))
        if view is None:
            return TargetStatus(phase=phase, deleting=deleting)
        return TargetStatus(
            phase=phase,
            deleting=deleting,
            container_id=view.container_id,
            sandbox_id=view.sandbox_id,
            running=view.running,
            terminated=view.terminated,
            started_at=view.started_at,
            started=view.running and self.is_started(uid, name, view.container_id),
        )

    async def _run(self, key: tuple[str, str, ProbeType], worker: ProbeWorker) -> None:
        try:
            await worker.run()
        finally:
            # removeWorker: once gone, the container counts as having no such probe.
            if self._workers.get(key) is worker:
                del self._workers[key]


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid", ""))
