"""Killing containers as the kubelet does: preStop hooks, grace periods, and sidecars stopped last.

`kill_containers` is killContainersWithSyncResult: every container is killed concurrently, but a
sidecar's SIGTERM waits (within its grace period) until every regular container and the sidecar
after it in spec order have stopped, so sidecars stop in reverse order after the main containers.
Their preStop hooks still start at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from podrun.json_types import JSON
from podrun.kubelet import labels
from podrun.kubelet.hooks import run_hook
from podrun.kubelet.planner import KillInfo
from podrun.kubelet.podspec import every_container, field_path
from podrun.runtime.protocol import ContainerStatus, Runtime

# (kind, reason, message, fieldPath): an event on the pod being killed.
RecordEvent = Callable[[str, str, str, str], None]
# (container, hook, seconds it ran, failure or None): told after each preStop hook, for the lifecycle history.
HookRan = Callable[[str, str, float, str | None], None]
PRE_STOP_CUT_SHORT = "the grace period ended before the hook did"
MINIMUM_GRACE_PERIOD_SECONDS = 2
DEFAULT_GRACE_PERIOD_SECONDS = 30


def grace_period_seconds(pod: JSON, container: JSON | None, reason: str, kill_override: float | None = None) -> float:
    """The kubelet's setTerminationGracePeriod; `kill_override` (a second Ctrl-C) wins over all."""
    if kill_override is not None:
        return kill_override
    deletion = pod["metadata"].get("deletionGracePeriodSeconds")
    if deletion is not None:
        return float(deletion)
    grace = float(pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_PERIOD_SECONDS))
    probe_key = {"LivenessProbe": "livenessProbe", "StartupProbe": "startupProbe"}.get(reason)
    if probe_key and container:
        probe_grace = (container.get(probe_key) or {}).get("terminationGracePeriodSeconds")
        if probe_grace is not None:
            grace = float(probe_grace)
    return grace


def _prerequisites(pod: JSON) -> dict[str, list[str]]:
    """newTerminationOrdering: each sidecar waits for all regular containers and the next sidecar."""
    regular = [c["name"] for c in pod["spec"]["containers"]]
    sidecars = [c["name"] for c in pod["spec"].get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    prereqs: dict[str, list[str]] = {}
    following: list[str] = []
    for name in reversed(sidecars):
        prereqs[name] = regular + following
        following = [name]
    return prereqs


async def kill_containers(
    runtime: Runtime, pod: JSON, running: list[ContainerStatus], infos: dict[str, KillInfo], *,
    record: RecordEvent, kill_override: float | None = None, on_hook: HookRan | None = None,
) -> None:  # fmt: skip
    """Kill `running` concurrently with the kubelet's ordering; `infos` says why, per container ID.

    `kill_override` replaces every grace period (0: kill at once, skipping preStop hooks).
    """
    specs = {c["name"]: c for c in every_container(pod)}
    names = {c.id: c.labels.get(labels.CONTAINER_NAME, c.name) for c in running}
    stopped = {name: asyncio.Event() for name in specs}
    for name, event in stopped.items():
        if name not in names.values():
            event.set()
    prereqs = _prerequisites(pod) if len(running) > 1 else {}

    async def kill_one(c: ContainerStatus) -> None:
        name = names[c.id]
        spec = specs.get(name)
        info = infos.get(c.id)
        grace = grace_period_seconds(pod, spec, info.reason if info else "", kill_override)
        ref = field_path(pod, name)
        record("Normal", "Killing", info.message if info and info.message else f"Stopping container {name}", ref)
        began = time.monotonic()
        pre_stop = ((spec or {}).get("lifecycle") or {}).get("preStop")
        if pre_stop and grace > 0:
            hook = run_hook(
                pre_stop, kind="PreStop", runtime=runtime, container_id=c.id,
                sandbox_id=c.sandbox_id, container=spec or {}, pod=pod,
            )  # fmt: skip
            failure: str | None = None
            finished = False
            with contextlib.suppress(TimeoutError):
                failure = await asyncio.wait_for(hook, grace)
                finished = True
            if failure is not None:
                record("Warning", "FailedPreStopHook", "PreStopHook failed", ref)
            if on_hook is not None:
                on_hook(name, "preStop", time.monotonic() - began, failure if finished else PRE_STOP_CUT_SHORT)
            grace -= int(time.monotonic() - began)
        before = [stopped[p] for p in prereqs.get(name, []) if p in stopped]
        if before and grace > 0:
            began = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(event.wait() for event in before)), grace)
            grace -= time.monotonic() - began
        # Always a short window for SIGTERM, unless the user asked to kill at once (a second Ctrl-C).
        grace = max(grace, MINIMUM_GRACE_PERIOD_SECONDS) if kill_override is None else kill_override
        await runtime.stop_container(c.id, grace)
        stopped[name].set()

    await asyncio.gather(*(kill_one(c) for c in running))
