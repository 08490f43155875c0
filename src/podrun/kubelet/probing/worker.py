"""The probe worker (`worker.go`): one probe type of one container, its loop and one tick.

`ProbeWorker.do_probe` maps outcomes to results as `prober.probe` does and records the `Unhealthy` and
`ProbeWarning` events.
"""

from __future__ import annotations

import asyncio
import logging
import random as random_module
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from podrun.kubelet.planner import ProbeResult
from podrun.kubelet.probing.outcome import ProbeOutcome

log = logging.getLogger(__name__)

ProbeType = Literal["liveness", "readiness", "startup"]

PROBE_KEYS: Mapping[ProbeType, str] = {
    "startup": "startupProbe",
    "readiness": "readinessProbe",
    "liveness": "livenessProbe",
}
# prober_manager.go probeType.String(), used in event messages.
PROBE_TITLES: Mapping[ProbeType, str] = {
    "liveness": "Liveness",
    "readiness": "Readiness",
    "startup": "Startup",
}

RecordEvent = Callable[[str, str, str, str], None]  # (type, reason, message, field_path)
OnResult = Callable[[str, str, ProbeType, ProbeResult | None], None]  # (name, container ID, type, result)
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class TargetStatus:
    """What a worker reads at each tick: the pod's phase and deletion, and its container's newest instance.

    `container_id` is "" until the container was created. `started` is the container's `Started` flag as
    the last status computed it (`ProbeManager.is_started`).
    """

    phase: str = ""
    deleting: bool = False
    container_id: str = ""
    sandbox_id: str = ""
    running: bool = False
    terminated: bool = False
    started_at: float = 0.0
    started: bool = False


# Runs one probe of a container against its current instance (retries included).
ProbeRunner = Callable[[Mapping[str, Any], Mapping[str, Any], TargetStatus], Awaitable[ProbeOutcome]]

# worker.go newWorker: the result set for a new container ID; None is results.Unknown ("not started").
INITIAL_RESULTS: Mapping[ProbeType, ProbeResult | None] = {
    "readiness": "failure",
    "liveness": "success",
    "startup": None,
}


class ProbeWorker:
    """One probe of one container, as `worker.go`'s worker: `run` loops, `do_probe` is one tick.

    Results go into `results` (container ID -> result; a present None is Unknown), the results manager
    of this probe type, and every change is published through `on_result`, as `results.Manager.Set`
    sends an update only when the value changes. Events go through `record_event`.
    `clock` (Unix seconds) and `sleep` are injectable so tests run the loop on a fake clock.
    """

    def __init__(
        self,
        pod: Mapping[str, Any],
        container: Mapping[str, Any],
        probe_type: ProbeType,
        *,
        runner: ProbeRunner,
        status: Callable[[], TargetStatus | None],
        results: dict[str, ProbeResult | None],
        on_result: OnResult,
        record_event: RecordEvent,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = random_module.random,
        kubelet_start: float | None = None,
    ) -> None:
        self.container_name = str(container.get("name", ""))
        self.probe_type: ProbeType = probe_type
        self._container = container
        self._spec: Mapping[str, Any] = container[PROBE_KEYS[probe_type]]
        spec = pod.get("spec") or {}
        self._init = any(c.get("name") == self.container_name for c in spec.get("initContainers") or [])
        # A container that exits stays worth probing if it will be restarted (sidecars always are).
        self._restartable = spec.get("restartPolicy") != "Never" or self._init
        self._field_path = f"spec.{'initContainers' if self._init else 'containers'}{{{self.container_name}}}"
        self._runner = runner
        self._status = status
        self._results = results
        self._on_result = on_result
        self._record_event = record_event
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._kubelet_start = kubelet_start
        self._period = float(self._spec.get("periodSeconds") or 10)
        self._container_id = ""
        # results.Result's zero value is Success, and neither is reset for a new container (worker.go).
        self._last_result: ProbeResult = "success"
        self._result_run = 0
        self._on_hold = False
        self._stop_requested = False
        self._trigger_requested = False
        self._wake = asyncio.Event()
        self._next_tick = 0.0

    def stop(self) -> None:
        """Ask the worker to exit after its current probe (worker.stop; safe to call more than once)."""
        self._stop_requested = True
        self._wake.set()

    def trigger(self) -> None:
        """Probe now and restart the period from now (manualTriggerCh, used for readiness)."""
        self._trigger_requested = True
        self._wake.set()

    async def run(self) -> None:
        """The probe loop (`worker.run`): probe at once, then at every tick or trigger, until told to stop."""
        try:
            # After a (podrun) kubelet restart, spread the first probes over a period.
            if self._kubelet_start is not None and self._period > self._clock() - self._kubelet_start:
                await self._sleep(self._random() * self._period)
            self._next_tick = self._clock() + self._period
            while await self._probe_guarded() and await self._wait_for_tick():
                pass
        finally:
            if self._container_id:
                self._results.pop(self._container_id, None)

    async def _probe_guarded(self) -> bool:
        try:
            return await self.do_probe()
        except Exception:
            # doProbe recovers from panics and keeps the worker going.
            log.exception("probe worker %s/%s failed", self.container_name, self.probe_type)
            return True

    async def _wait_for_tick(self) -> bool:
        """Wait for the next tick, a trigger or a stop; False when the worker must exit."""
        while not (self._stop_requested or self._trigger_requested):
            delay = self._next_tick - self._clock()
            if delay <= 0:
                # A tick is due (Go's ticker holds one; the ones missed meanwhile are dropped).
                now = self._clock()
                while self._next_tick <= now:
                    self._next_tick += self._period
                return True
            self._wake.clear()
            sleeper = asyncio.ensure_future(self._sleep(delay))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()
        if self._stop_requested:
            return False
        self._trigger_requested = False
        self._next_tick = self._clock() + self._period
        return True

    async def do_probe(self) -> bool:
        """One tick of `worker.doProbe`: probe if due, record the result; False when the worker must exit."""
        status = self._status()
        if status is None:
            return True
        if status.phase in ("Failed", "Succeeded"):
            return False
        if not status.container_id:
            return True  # not created yet: wait
        if status.container_id != self._container_id:
            if self._container_id:
                self._results.pop(self._container_id, None)
            self._container_id = status.container_id
            self._set(INITIAL_RESULTS[self.probe_type])
            self._on_hold = False
        if self._on_hold:
            return True
        if not status.running:
            self._set("failure")
            return not status.terminated or self._restartable
        if status.deleting and self.probe_type != "readiness":
            # Graceful shutdown: a last Success keeps the shutdown quiet; readiness keeps probing.
            self._set("success")
            return False
        if int(self._clock() - status.started_at) < int(self._spec.get("initialDelaySeconds") or 0):
            return True
        # Startup probes only until the container has started; the others only from then on.
        if status.started == (self.probe_type == "startup"):
            return True
        result = self._interpret(await self._runner(self._container, self._spec, status))
        if result is None:
            return True
        if result == self._last_result:
            self._result_run += 1
        else:
            self._last_result, self._result_run = result, 1
        threshold_key = "failureThreshold" if result == "failure" else "successThreshold"
        if self._result_run < int(self._spec.get(threshold_key) or (3 if result == "failure" else 1)):
            return True
        self._set(result)
        if (self.probe_type == "liveness" and result == "failure") or self.probe_type == "startup":
            # The container will be killed (or has started): probe again only for a new container ID.
            self._on_hold = True
            self._result_run = 0
        return True

    def _interpret(self, outcome: ProbeOutcome) -> ProbeResult | None:
        """`prober.probe`: the result to count (None when the run errored) and the event it records."""
        title = PROBE_TITLES[self.probe_type]
        if outcome.error is not None:
            self._event(
                "Unhealthy", f"{title} probe errored and resulted in {outcome.result} state: {outcome.error}"
            )
            return None
        if outcome.result == "success":
            return "success"
        if outcome.result == "warning":
            self._event("ProbeWarning", f"{title} probe warning: {outcome.output}")
            return "success"
        if outcome.result == "failure":
            self._event("Unhealthy", f"{title} probe failed: {outcome.output}")
        return "failure"

    def _event(self, reason: str, message: str) -> None:
        self._record_event("Warning", reason, message, self._field_path)

    def _set(self, result: ProbeResult | None) -> None:
        """results.Manager.Set: store, and publish only a change."""
        if self._container_id in self._results and self._results[self._container_id] == result:
            return
        self._results[self._container_id] = result
        self._on_result(self.container_name, self._container_id, self.probe_type, result)
