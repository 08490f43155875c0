"""The kubelet: one worker per pod, fed by the runtime's container events and the probe results.

It owns what the kubelet shares between pods: the crash-loop backoff, the image manager, the
probe manager, the event recorder, and the node's own facts (name, memory, resolv.conf).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from podrun.kubelet import labels
from podrun.kubelet.backoff import crash_loop_backoff
from podrun.kubelet.events import EventRecorder, scheduled_event
from podrun.kubelet.host import PodHost
from podrun.kubelet.images import ImageManager, load_registry_config
from podrun.kubelet.podspec import all_containers
from podrun.kubelet.probing.manager import ProbeManager
from podrun.kubelet.volumes import read_termination_message
from podrun.kubelet.worker import PodWorker
from podrun.runtime.local import LocalRuntime
from podrun.runtime.logs import tail_log_lines
from podrun.runtime.protocol import ContainerEvent, ContainerState, EventKind

log = logging.getLogger(__name__)

JSON = dict[str, Any]
DEFAULT_ROOT = Path("/var/lib/podrun")
TERMINATION_LOG_LINES = 80
TERMINATION_LOG_BYTES = 2048
FORGET_TIMEOUT_SECONDS = 15.0

HOSTS_HEADER = """# Kubernetes-managed hosts file.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
fe00::0	ip6-mcastprefix
fe00::1	ip6-allnodes
fe00::2	ip6-allrouters
"""


def node_memory_bytes() -> int:
    """Total memory of this machine (the node's capacity and allocatable memory)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class Kubelet:
    """Runs pods on a `LocalRuntime`, reading from and writing to a `PodHost`."""

    def __init__(
        self, runtime: LocalRuntime, host: PodHost, *, root: Path, strict_pull: bool = False, keep: bool = False,
        offline: bool = False,
    ) -> None:
        self.runtime = runtime
        self.host = host
        self.keep = keep
        registries = load_registry_config(root)
        registries.offline = offline
        self.images = ImageManager(runtime.images, registries, strict_pull=strict_pull)
        self.crash_backoff = crash_loop_backoff()
        self.recorder = EventRecorder(node_name=host.node_name)
        self.probes = ProbeManager(
            runtime=runtime, on_result=self._probe_result, record_event=self._probe_event
        )
        self.pods_dir = root / "pods"
        self.logs_dir = Path("/var/log/pods") if root == DEFAULT_ROOT else root / "logs" / "pods"
        self.node_memory = node_memory_bytes()
        self.node_allocatable = {"cpu": (os.cpu_count() or 1) * 1000, "memory": self.node_memory,
                                 "ephemeral-storage": 0}  # fmt: skip
        self.resolv_conf = self._resolv_conf()
        self.started_at: dict[str, float] = {}
        self.workers: dict[str, PodWorker] = {}
        self._termination_paths: dict[str, str] = {}
        self._pump: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[None]] = set()

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
        self.probes.stop()

    def add_pod(self, pod: JSON, *, scheduled: bool = True) -> PodWorker:
        """Start running a pod (already bound to this node, with a UID).

        `scheduled` records the scheduler's `Scheduled` event; a pod adopted after a restart has one.
        """
        uid = pod["metadata"]["uid"]
        worker = PodWorker(self, pod)
        self.workers[uid] = worker
        if scheduled:
            action, event = scheduled_event(pod, self.host.node_name)
            self._store_event(action, event)
        self.probes.add_pod(pod)
        worker.start()
        return worker

    def update_pod(self, pod: JSON) -> None:
        """A pod changed in the API (deletion requested, image changed)."""
        worker = self.workers.get(pod["metadata"]["uid"])
        if worker:
            self.probes.update_pod(pod)
            worker.update(pod)

    async def forget_pod(self, pod: JSON) -> None:
        """The pod is gone from the API: stop what still runs at once, then drop its logs."""
        worker = self.workers.pop(pod["metadata"]["uid"], None)
        if worker is not None and not worker.finished.is_set():
            worker.kill_override = 0
            meta = dict(pod["metadata"])
            meta.setdefault("deletionTimestamp", meta.get("creationTimestamp"))
            worker.update(dict(pod, metadata=meta))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.finished.wait(), FORGET_TIMEOUT_SECONDS)
        shutil.rmtree(self.pod_log_dir(pod), ignore_errors=True)

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
            message = self._termination_message(worker.pod, name, status)
            if message:
                worker.termination_messages[status.id] = message
        self.probes.update_container(
            uid, name, status.id, started_at=status.started_at, running=status.state == ContainerState.RUNNING,
            terminated=status.state == ContainerState.EXITED, sandbox_id=status.sandbox_id,
        )  # fmt: skip
        worker.wake()

    def _termination_message(self, pod: JSON, name: str, status: Any) -> str:
        """The kubelet's getTerminationMessage: the file, or the log tail for FallbackToLogsOnError."""
        path = self._termination_paths.pop(status.id, "")
        message = read_termination_message(path) if path else ""
        spec = next((c for c in all_containers(pod) if c["name"] == name), {})
        if not message and spec.get("terminationMessagePolicy") == "FallbackToLogsOnError" and status.exit_code:
            message = tail_log_lines(status.log_path, TERMINATION_LOG_LINES, TERMINATION_LOG_BYTES)
        return message

    def remember_termination_path(self, container_id: str, host_path: str) -> None:
        """Where a container's termination-log file is, to read it when the container exits."""
        self._termination_paths[container_id] = host_path

    def runtime_kill_all(self, uid: str) -> None:
        """SIGKILL every running container of a pod now (the second Ctrl-C)."""

        async def kill() -> None:
            for c in await self.runtime.list_containers():
                if c.labels.get(labels.POD_UID) == uid and c.state == ContainerState.RUNNING:
                    await self.runtime.stop_container(c.id, 0)

        self._spawn(kill())

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
            worker.wake()

    def _probe_event(self, pod: JSON, kind: str, reason: str, message: str, ref: str) -> None:
        self.record(pod, kind, reason, message, ref)

    # -- events to the host -----------------------------------------------------------------------

    def record(self, pod: JSON, kind: str, reason: str, message: str, ref: str = "") -> None:
        """Record an event through the correlator (deduplicated, aggregated, rate-limited)."""
        outcome = self.recorder.record(pod, kind, reason, message, ref)
        if outcome is not None:
            self._store_event(*outcome)

    def _store_event(self, action: str, event: JSON) -> None:
        self._spawn(self.host.record_event(action, event))  # type: ignore[arg-type]

    # -- node facts -------------------------------------------------------------------------------

    def hosts_file(self, pod: JSON, hostname: str) -> str:
        """The kubelet's managed /etc/hosts; the pod's own name maps to loopback (pods have no IP here)."""
        text = HOSTS_HEADER + f"127.0.1.1\t{hostname}\n"
        aliases = pod["spec"].get("hostAliases") or []
        if aliases:
            text += "\n# Entries added by HostAliases.\n"
            for alias in aliases:
                text += f"{alias.get('ip', '')}\t" + "\t".join(alias.get("hostnames") or []) + "\n"
        return text

    @staticmethod
    def _resolv_conf() -> str:
        try:
            return Path("/etc/resolv.conf").read_text()
        except OSError:
            return ""

    def pod_log_dir(self, pod: JSON) -> Path:
        """`<logs>/<ns>_<pod>_<uid>`, as the kubelet lays logs out."""
        meta = pod["metadata"]
        return self.logs_dir / f"{meta.get('namespace', 'default')}_{meta['name']}_{meta['uid']}"

    def log_path(self, pod: JSON, container: str, restart_count: int) -> Path:
        """`<logs>/<ns>_<pod>_<uid>/<container>/<restartCount>.log`."""
        return self.pod_log_dir(pod) / container / f"{restart_count}.log"
