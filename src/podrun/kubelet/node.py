"""The node seam: one object for everything the API side and `podrun run` ask of this node.

In the spirit of virtual-kubelet's `PodLifecycleHandler`: admit, run, update, delete (with the API
server's grace rules), force-kill and forget pods; reach their containers for logs, exec, attach and
port-forward. It owns the kubelet and is typed against the `Runtime` protocol only; every lookup of
a pod's containers by the pod-UID label is here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from podrun.json_types import JSON
from podrun.kubelet import labels
from podrun.kubelet.admission import admit_pod, marked_for_deletion
from podrun.kubelet.backoff import Backoff
from podrun.kubelet.gc import Collected, collect_garbage
from podrun.kubelet.host import PodHost
from podrun.kubelet.kubelet import Kubelet
from podrun.kubelet.lifecycle import FILE_NAME as LIFECYCLE_FILE
from podrun.kubelet.lifecycle import LifecycleLog, load
from podrun.kubelet.node_facts import NodeFacts, PodPaths
from podrun.kubelet.teardown_slots import TeardownSlots
from podrun.runtime.images.progress import PullObserver
from podrun.runtime.images.store import ImageStore
from podrun.runtime.protocol import ContainerState, ContainerStatus, Runtime, SandboxStatus
from podrun.timestamps import parse_unix

if TYPE_CHECKING:
    from podrun.kubelet.worker import PodWorker


class Node:
    """This node's pods, over a `Runtime` and a `PodHost`."""

    def __init__(
        self, runtime: Runtime, host: PodHost, *, root: Path, image_store: ImageStore, strict_pull: bool = False,
        keep: bool = False, offline: bool = False, facts: NodeFacts | None = None, crash_backoff: Backoff | None = None,
        pull_observer: PullObserver | None = None, teardowns: TeardownSlots | None = None,
    ) -> None:  # fmt: skip
        """`keep` leaves sandboxes and volumes after a pod ends (`podrun run --keep`); `teardowns`: how many
        pods are torn down at once (default: a few per CPU)."""
        self.runtime = runtime
        self._kubelet = Kubelet(
            runtime, host, root=root, image_store=image_store, strict_pull=strict_pull, keep=keep, offline=offline,
            node=facts, crash_backoff=crash_backoff, pull_observer=pull_observer, teardowns=teardowns,
        )  # fmt: skip

    @property
    def name(self) -> str:
        """The node's name."""
        return self._kubelet.node.node_name

    @property
    def facts(self) -> NodeFacts:
        """The node's capacity and network facts."""
        return self._kubelet.node

    @property
    def paths(self) -> PodPaths:
        """Where pods' volumes and logs are."""
        return self._kubelet.paths

    async def start(self) -> None:
        """Start following the runtime's container events."""
        await self._kubelet.start()

    async def stop(self) -> None:
        """Stop every pod worker (containers keep running; the next start adopts them)."""
        await self._kubelet.stop()

    # -- the pod lifecycle ------------------------------------------------------------------------------

    def admit(self, pod: JSON) -> JSON:
        """A new pod as the API server stores it: uid, creation time, namespace, bound here, its QoS class."""
        return admit_pod(pod, self.name, now=time.time())

    def has_pod(self, uid: str) -> bool:
        """A worker runs the pod with this uid."""
        return uid in self._kubelet.workers

    def run_pod(self, pod: JSON) -> PodWorker:
        """Run an admitted pod bound to this node; a pod with a startTime is adopted (no new Scheduled event)."""
        start = (pod.get("status") or {}).get("startTime")
        return self._kubelet.add_pod(pod, scheduled=not start, started_at=parse_unix(start) if start else None)

    def update_pod(self, pod: JSON) -> None:
        """A new version of a running pod (deletion requested, image changed)."""
        self._kubelet.update_pod(pod)

    def delete_pod(self, pod: JSON, grace: int | None) -> JSON:
        """Delete gracefully as the API server does, without one (`podrun run`): the pod as marked."""
        marked = marked_for_deletion(pod, grace, now=time.time())
        self._kubelet.update_pod(marked)
        return marked

    async def force_kill(self, uid: str) -> None:
        """SIGKILL every running container of the pod now (a second Ctrl-C); the pod then terminates."""
        worker = self._kubelet.workers.get(uid)
        if worker is not None:
            await worker.kill_running_now()
            worker.terminate()

    async def forget_pod(self, pod: JSON) -> None:
        """The pod is gone from the API: stop what still runs at once, then drop its logs."""
        await self._kubelet.forget_pod(pod)

    async def collect_garbage(self, known_uids: set[str]) -> Collected:
        """Remove what belongs to no pod in `known_uids` nor run by a worker, and surplus dead containers."""
        return await collect_garbage(self.runtime, self.paths, lambda uid: uid in known_uids or self.has_pod(uid))

    # -- a pod's containers -----------------------------------------------------------------------------

    async def containers_of(self, uid: str) -> list[ContainerStatus]:
        """Every runtime container of the pod with this uid (the one pod-UID label lookup)."""
        return await labels.pod_containers(self.runtime, uid)

    async def running_container(self, uid: str, container: str) -> ContainerStatus | None:
        """The running instance of the pod's container named `container`, if there is one."""
        for c in await self.containers_of(uid):
            if c.labels.get(labels.CONTAINER_NAME) == container and c.state == ContainerState.RUNNING:
                return c
        return None

    async def ready_sandbox(self, uid: str) -> SandboxStatus | None:
        """The pod's ready sandbox (its network namespace), if there is one."""
        for sandbox in await self.runtime.list_sandboxes():
            if sandbox.config.uid == uid and sandbox.ready:
                return sandbox
        return None

    async def log_is_live(self, log_path: Path) -> bool:
        """A running container is writing the log file at `log_path`."""
        for c in await self.runtime.list_containers():
            if c.log_path == str(log_path) and c.state == ContainerState.RUNNING:
                return True
        return False

    def lifecycle_of(self, uid: str) -> LifecycleLog:
        """The pod's lifecycle history: its worker's, else what its pod directory holds (nothing once it is gone)."""
        worker = self._kubelet.workers.get(uid)
        if worker is not None:
            return worker.lifecycle
        return LifecycleLog(None, records=load(self.paths.pod_dir(uid) / LIFECYCLE_FILE))

    def container_log_dir(self, pod: JSON, container: str) -> Path:
        """`<logs>/<ns>_<pod>_<uid>/<container>`: one `<restartCount>.log` per instance."""
        return self.paths.pod_log_dir(pod) / container
