"""The kubelet's container garbage collection (`pkg/kubelet/kuberuntime/kuberuntime_gc.go`).

At start and every minute (`ContainerGCPeriod`), what belongs to no live pod is removed: sandboxes (with
their containers, cgroups and pod network address: the runtime's `remove_sandbox` does CNI DEL), containers
whose sandbox is gone, pod directories (volumes) and pod log directories. Pods die without their kubelet
noticing when `podrun serve` is killed around their deletion; this is how their remains go. Of a live pod's
exited containers, the newest per container name is kept (`--maximum-dead-containers-per-container`,
default 1: the instance the status shows as `lastState`) and older ones are removed.

Which pods are live is the caller's to say (the store's pods bound here, and every pod a worker runs), asked
again just before each removal, so a pod that arrives while the collection runs is never touched.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from podrun.kubelet import labels, volumes
from podrun.kubelet.node_facts import PodPaths
from podrun.runtime.protocol import ContainerState, ContainerStatus, Runtime, RuntimeError_

log = logging.getLogger(__name__)

GC_PERIOD_SECONDS = 60.0  # the kubelet's ContainerGCPeriod
MAX_DEAD_PER_CONTAINER = 1  # the kubelet's --maximum-dead-containers-per-container

IsLive = Callable[[str], bool]


@dataclass
class Collected:
    """What one collection removed: sandbox and container IDs, pod UIDs whose directories went."""

    sandboxes: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    pod_dirs: list[str] = field(default_factory=list)


def dead_beyond_limit(
    containers: Iterable[ContainerStatus], keep: int = MAX_DEAD_PER_CONTAINER
) -> list[ContainerStatus]:
    """The exited containers to prune: all but the `keep` newest per pod and container name."""
    units: dict[tuple[str, str], list[ContainerStatus]] = {}
    for c in containers:
        if c.state == ContainerState.EXITED and labels.POD_UID in c.labels:
            key = (c.labels[labels.POD_UID], c.labels.get(labels.CONTAINER_NAME, c.name))
            units.setdefault(key, []).append(c)
    doomed = []
    for unit in units.values():
        doomed += sorted(unit, key=lambda c: c.created_at, reverse=True)[keep:]
    return sorted(doomed, key=lambda c: c.created_at)


async def collect_garbage(runtime: Runtime, paths: PodPaths, is_live: IsLive) -> Collected:
    """Remove what belongs to no live pod, and exited containers beyond the limit; returns what went.

    A failure to remove one thing is logged and the rest goes on: the next collection tries again.
    """
    collected = Collected()
    dead_pods: set[str] = set()
    for sandbox in await runtime.list_sandboxes():
        if not is_live(sandbox.config.uid) and await _attempt(runtime.remove_sandbox(sandbox.id), sandbox.id):
            collected.sandboxes.append(sandbox.id)
            dead_pods.add(sandbox.config.uid)
    containers = await runtime.list_containers()
    orphans = [c for c in containers if labels.POD_UID in c.labels and not is_live(c.labels[labels.POD_UID])]
    dead_pods |= {c.labels[labels.POD_UID] for c in orphans}
    orphan_ids = {c.id for c in orphans}
    for c in [*orphans, *dead_beyond_limit(c for c in containers if c.id not in orphan_ids)]:
        if await _attempt(_stop_and_remove(runtime, c), c.id):
            collected.containers.append(c.id)
    collected.pod_dirs = await asyncio.to_thread(_remove_pod_dirs, paths, is_live)
    dead_pods.update(collected.pod_dirs)
    await asyncio.to_thread(_remove_log_dirs, paths, dead_pods)
    return collected


async def _stop_and_remove(runtime: Runtime, container: ContainerStatus) -> None:
    # The live check came first; the pod is gone, so there is no grace period to honour.
    await runtime.stop_container(container.id, 0)
    await runtime.remove_container(container.id)


async def _attempt(removal: Awaitable[None], what: str) -> bool:
    try:
        await removal
    except (RuntimeError_, OSError) as e:
        log.warning("garbage collection of %s failed: %s", what, e)
        return False
    return True


def _remove_pod_dirs(paths: PodPaths, is_live: IsLive) -> list[str]:
    """Tear down the volumes of dead pods (`<root>/pods/<uid>`); the UIDs whose directories went."""
    removed = []
    if paths.pods_dir.is_dir():
        for pod_dir in sorted(paths.pods_dir.iterdir()):
            if is_live(pod_dir.name):
                continue
            try:
                volumes.teardown_pod_volumes(pod_dir)
            except OSError as e:
                log.warning("garbage collection of pod directory %s failed: %s", pod_dir, e)
                continue
            removed.append(pod_dir.name)
    return removed


def _remove_log_dirs(paths: PodPaths, uids: set[str]) -> None:
    """Remove the log directories (`<namespace>_<name>_<uid>`) of the pods collected."""
    if not uids or not paths.logs_dir.is_dir():
        return
    for log_dir in paths.logs_dir.iterdir():
        # Neither a name nor a UID has an underscore.
        if log_dir.name.rsplit("_", 1)[-1] in uids:
            shutil.rmtree(log_dir, ignore_errors=True)
