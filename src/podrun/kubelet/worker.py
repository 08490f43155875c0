"""One pod worker per pod: observe the runtime, compute status, plan (pure), act.

This is the kubelet's syncPod/SyncPod loop with one change: it is woken by events (a container
started or exited, a probe result changed, a backoff expired, the pod was deleted), not by a 1 s
relist, so an init container's successor starts within milliseconds of its exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podrun.json_types import JSON
from podrun.kubelet import labels, volumes
from podrun.kubelet.backoff import backoff_event_message, crash_loop_message, stable_key
from podrun.kubelet.container_config import container_config
from podrun.kubelet.env import ContainerConfigError, resolve_env
from podrun.kubelet.hooks import run_hook
from podrun.kubelet.images import ImageError
from podrun.kubelet.lifecycle import FILE_NAME as LIFECYCLE_FILE
from podrun.kubelet.lifecycle import LifecycleLog
from podrun.kubelet.planner import KillInfo, PodActions, ProbeResults, compute_pod_actions
from podrun.kubelet.pod_changes import differs_semantically, external_conditions, with_external_conditions
from podrun.kubelet.podspec import all_containers, every_container, field_path, is_sidecar
from podrun.kubelet.status import ProbeState, compute_pod_status
from podrun.kubelet.termination import kill_containers
from podrun.kubelet.volumes.etc_hosts import CONTAINER_PATH as ETC_HOSTS
from podrun.kubelet.volumes.etc_hosts import etc_hosts_mount
from podrun.kubelet.worker_deps import WorkerDeps
from podrun.runtime.logs import tail_log_lines
from podrun.runtime.protocol import (
    ContainerState,
    ContainerStatus,
    PortMapping,
    RuntimeError_,
    SandboxConfig,
    SandboxStatus,
)
from podrun.timestamps import format_time

log = logging.getLogger(__name__)

DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
RESYNC_SECONDS = 10.0
# Marks a container created ahead of its start: hidden from the planner and status while `created`.
PREPARED_ANNOTATION = "io.podrun.prepared"
EVICTION_MONITORING_SECONDS = 10.0  # the eviction manager's evictionMonitoringPeriod
TERMINATION_LOG_LINES = 80
TERMINATION_LOG_BYTES = 2048


class SyncOutcome(enum.Enum):
    """What a sync asks of the loop that ran it."""

    DONE = "done"  # wait for the next event, timer or periodic resync
    RESYNC = "resync"  # sync again at once (containers were killed, a start failed and its reason must show)


class _StartFailure(Exception):
    """A start failed before the process ran: the waiting reason, its message, and the event text."""

    def __init__(self, reason: str, message: str, event: str = "") -> None:
        super().__init__(message)
        self.reason, self.message, self.event = reason, message, event


@dataclass
class _Built:
    """A created container, ready for the runtime's start."""

    container_id: str
    env: list[tuple[str, str]]
    termination_path: str
    events: list[tuple[str, str, str]]  # a prepared container's image events, recorded at its start
    hash: str


class PodWorker:
    """Drives one pod to its desired state, one sync per wake-up."""

    def __init__(self, deps: WorkerDeps, pod: JSON, *, started_at: float | None = None) -> None:
        """`started_at` is the pod's startTime (Unix seconds) when it is adopted after a restart."""
        self.deps = deps
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.started_at = started_at
        self.reason_cache: dict[str, tuple[str, str]] = {}
        self.termination_messages: dict[str, str] = {}
        self._termination_paths: dict[str, str] = {}
        self.pod_dir = deps.paths.pod_dir(self.uid)
        self.lifecycle = LifecycleLog(self.pod_dir / LIFECYCLE_FILE)
        # The addresses of the pod's newest sandbox; an adopted pod starts with those it reported.
        self.pod_ips: list[str] = [p["ip"] for p in (pod.get("status") or {}).get("podIPs") or [] if p.get("ip")]
        self.volume_paths: dict[str, Path] | None = None
        self.finished = asyncio.Event()
        self._wake = asyncio.Event()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.kill_override: float | None = None
        self._deadline_exceeded = False
        self._eviction: tuple[str, str] | None = None
        self._next_size_check = 0.0
        self.prepared: dict[str, asyncio.Task[_Built | None]] = {}
        self.task: asyncio.Task[None] | None = None
        self._holds_teardown_slot = False
        # Whether the worker waits in the teardown slots' queue, as a pair of events to await either change: the
        # kubelet's timeout for a forgotten pod's teardown counts only the time outside the queue.
        self.in_slot_queue = asyncio.Event()
        self.out_of_slot_queue = asyncio.Event()
        self.out_of_slot_queue.set()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin syncing the pod in the background."""
        self.task = asyncio.create_task(self._run(), name=f"pod-{self.pod['metadata']['name']}")
        self.wake()

    def wake(self) -> None:
        """Ask for a sync as soon as possible."""
        self._wake.set()

    def wake_at(self, when: float, purpose: str) -> None:
        """Ask for a sync at Unix time `when`; one timer per `purpose` (a backoff, the deadline), the newest wins."""
        previous = self._timers.pop(purpose, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._timers[purpose] = loop.call_later(max(0.0, when - time.time()), self.wake)

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def container_exited(self, status: ContainerStatus) -> None:
        """Record an exited container's run and read its termination message."""
        name = status.labels.get(labels.CONTAINER_NAME, status.name)
        run = int(status.annotations.get(labels.CONTAINER_RESTART_COUNT, "0"))
        self.lifecycle.exited(name, run, status.exit_code, status.reason, status.message)
        self._read_termination_message(status)

    def _read_termination_message(self, status: ContainerStatus) -> None:
        """The kubelet's getTerminationMessage, once per container: from the exit event or from the sync that
        observes the exit first, whichever comes first (a status must never show the exit without its message)."""
        if status.id not in self._termination_paths:
            return
        path = self._termination_paths.pop(status.id)
        message = volumes.read_termination_message(path) if path else ""
        name = status.labels.get(labels.CONTAINER_NAME, status.name)
        spec: JSON = next((c for c in every_container(self.pod) if c["name"] == name), {})
        if not message and spec.get("terminationMessagePolicy") == "FallbackToLogsOnError" and status.exit_code:
            message = tail_log_lines(status.log_path, TERMINATION_LOG_LINES, TERMINATION_LOG_BYTES)
        if message:
            self.termination_messages[status.id] = message

    def update(self, pod: JSON) -> None:
        """A new version of the pod from the API (deletion, image change); a change of its status alone (the
        worker's own writes coming back) is kept without a sync, as the kubelet's config source does, except for
        conditions others own: a readiness gate's condition set through pods/status syncs the pod
        (`NeedToReconcilePodReadiness`)."""
        own: JSON = self.pod.get("status") or {}
        api: JSON = pod.get("status") or {}
        changed = differs_semantically(self.pod, pod)
        status = with_external_conditions(own, api) if own else api
        if external_conditions(own) != external_conditions(status) and (pod.get("spec") or {}).get("readinessGates"):
            changed = True
        self.pod = dict(pod, status=status)
        if changed:
            self.wake()

    def terminate(self, *, grace_override: float | None = None) -> None:
        """Stop the pod; `grace_override` replaces every grace period (0: SIGKILL now, no preStop hooks)."""
        if grace_override is not None:
            self.kill_override = grace_override
        if not self.pod["metadata"].get("deletionTimestamp"):
            meta = dict(self.pod["metadata"], deletionTimestamp=format_time(time.time()))
            self.pod = dict(self.pod, metadata=meta)
        self.wake()

    async def kill_running_now(self) -> None:
        """SIGKILL every running container of the pod at once, without waiting for a sync in progress."""
        self.kill_override = 0
        for c in await labels.pod_containers(self.deps.runtime, self.uid):
            if c.state == ContainerState.RUNNING:
                await self.deps.runtime.stop_container(c.id, 0)
        self.wake()

    async def _run(self) -> None:
        failures = 0
        shown: dict[str, tuple[str, str]] = {}  # the waiting reasons the last failed sync set
        try:
            while not self.finished.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), RESYNC_SECONDS)
                self._wake.clear()
                try:
                    outcome = await self.sync()
                except Exception as error:
                    # A teardown that failed is retried after a backoff; the pods waiting for a slot go first.
                    self._give_back_teardown_slot()
                    failures += 1
                    shown = self._show_sync_failure(error)
                    # Retries back off (1 s, 2 s, ... the resync period), which rate-limits the events as well.
                    self.wake_at(time.time() + min(RESYNC_SECONDS, 2.0 ** (failures - 1)), "retry")
                    continue
                failures = 0
                for name, reason in shown.items():
                    if self.reason_cache.get(name) == reason:
                        del self.reason_cache[name]
                shown = {}
                if outcome is SyncOutcome.RESYNC:
                    self.wake()
        finally:
            self._cancel_timers()
            self._give_back_teardown_slot()

    def _show_sync_failure(self, error: Exception) -> dict[str, tuple[str, str]]:
        """An unexpected failure of a sync as the kubelet shows one: a `FailedSync` Warning on the pod, and the
        waiting reason `CreateContainerError` of each container that is not running and shows no other reason."""
        log.exception("sync of pod %s failed", self.pod["metadata"]["name"])
        message = f"error syncing pod: {error}"
        self.record("Warning", "FailedSync", message)
        status = self.pod.get("status") or {}
        published = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
        running = {c["name"] for c in published if "running" in (c.get("state") or {})}
        shown = {
            c["name"]: ("CreateContainerError", message)
            for c in all_containers(self.pod)
            if c["name"] not in running and c["name"] not in self.reason_cache
        }
        self.reason_cache.update(shown)
        return shown

    # -- observing ------------------------------------------------------------------------------

    async def _observe(self) -> tuple[list[SandboxStatus], list[ContainerStatus]]:
        runtime = self.deps.runtime
        sandboxes = await runtime.list_sandboxes(self.uid)
        containers = []
        for c in await labels.pod_containers(runtime, self.uid):
            if c.state == ContainerState.CREATED and PREPARED_ANNOTATION in c.annotations:
                if c.labels.get(labels.CONTAINER_NAME) not in self.prepared:
                    await runtime.remove_container(c.id)  # left from before a restart of podrun
                continue
            if c.state == ContainerState.EXITED:
                self._read_termination_message(c)
            containers.append(c)
        containers = [
            dataclasses.replace(c, message=self.termination_messages.get(c.id, c.message)) for c in containers
        ]
        return sandboxes, containers

    def _probe_state(self, containers: list[ContainerStatus]) -> tuple[dict[str, ProbeState], ProbeResults]:
        probes = self.deps.probes
        state: dict[str, ProbeState] = {}
        startup: dict[str, Any] = {}
        liveness: dict[str, Any] = {}
        for c in containers:
            if c.state != ContainerState.RUNNING:
                continue
            name = c.labels.get(labels.CONTAINER_NAME, c.name)
            state[c.id] = ProbeState(
                started=probes.is_started(self.uid, name, c.id), ready=probes.is_ready(self.uid, name, c.id)
            )
            s, li, _ = probes.results(c.id)
            startup[c.id], liveness[c.id] = s, li
        return state, ProbeResults(startup=startup, liveness=liveness)

    # -- the sync ---------------------------------------------------------------------------------

    async def sync(self) -> SyncOutcome:
        """One kubelet sync: status from the current state, then the actions the planner chose."""
        sandboxes, containers = await self._observe()
        probe_state, probe_results = self._probe_state(containers)
        ready_sandboxes = [s for s in sandboxes if s.ready]
        deleting = bool(self.pod["metadata"].get("deletionTimestamp"))
        # A deleted pod whose containers have all stopped gets its terminal phase (kubelet >= 1.27).
        stopped = deleting and not any(c.state == ContainerState.RUNNING for c in containers)
        self._check_deadline()
        if not deleting:
            # A pod whose termination was requested is no longer active (the kubelet's filterOutInactivePods): the
            # eviction manager does not check it nor does the volume manager remount it. The check reads every
            # mount of the node, which made each of many deleted pods' teardown cost more with every pod.
            self._check_volumes()
        if ready_sandboxes:
            self.pod_ips = list(ready_sandboxes[-1].ips)
        # Without a ready sandbox the last addresses stay, as the kubelet keeps a stopped pod's podIPs.
        status = compute_pod_status(
            self.pod, containers, probe_state=probe_state, reason_cache=self.reason_cache,
            sandbox_ready=bool(ready_sandboxes), now=format_time(time.time()),
            host_ip=self.deps.node.host_ip, pod_ips=self.pod_ips,
            runtime_name=self.deps.runtime.name, pod_is_terminal=stopped,
            eviction=self._eviction,
            active_sandbox_id=ready_sandboxes[-1].id if ready_sandboxes else None,
        )  # fmt: skip
        writing = self._publish(status)
        terminal = status.get("phase") in ("Succeeded", "Failed")
        if terminal or deleting:
            # The host hears of the termination after the last status, not while it is being written.
            if writing is not None:
                await writing
            return await self._terminate(sandboxes, containers)
        try:
            return await self._act(sandboxes, containers, probe_results)
        finally:
            # Written while the actions ran (a store write beside a container's start), done before the sync ends:
            # the next sync's status is written after this one, and a failed write fails this sync.
            if writing is not None:
                await writing

    async def _act(
        self, sandboxes: list[SandboxStatus], containers: list[ContainerStatus], probe_results: ProbeResults
    ) -> SyncOutcome:
        """Set up the volumes, then do what the planner chose."""
        if self.volume_paths is None and not await self._setup_volumes():
            return SyncOutcome.DONE
        if self.prepared and _an_init_container_failed(self.pod, containers):
            # What was prepared to follow it waits for a restart that may never come (or come after a backoff):
            # it is removed, and prepared again when the failed one restarts.
            await self._discard_prepared()
        actions = compute_pod_actions(self.pod, sandboxes, containers, probe_results)
        reasons_before = dict(self.reason_cache)
        outcome = await self._execute(actions, containers)
        if self.reason_cache != reasons_before:
            # A start failed (backoff, image, config): show its waiting reason now, not at the retry.
            return SyncOutcome.RESYNC
        return outcome

    def _publish(self, status: JSON) -> asyncio.Task[None] | None:
        """Take a changed status as the pod's own at once; its write to the host runs as the returned task."""
        if status == self.pod.get("status"):
            return None
        # A new dict: the pod the worker was given may be the store's own version (the node agent's shared watch).
        self.pod = dict(self.pod, status=status)
        self.deps.probes.update_pod(self.pod)
        return asyncio.create_task(self.deps.host.update_pod_status(self.pod, status))

    def _check_deadline(self) -> None:
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        started = self.started_at
        if deadline is None or started is None or self._deadline_exceeded:
            return
        if time.time() - started >= float(deadline):
            self._deadline_exceeded = True
            self._eviction = self._eviction or ("DeadlineExceeded", DEADLINE_MESSAGE)
            self.record("Warning", "DeadlineExceeded", DEADLINE_MESSAGE)
        else:
            self.wake_at(started + float(deadline), "deadline")

    def _check_volumes(self) -> None:
        """Every 10 s: the eviction manager's emptyDir sizeLimit check, and the kubelet's remount of
        configMap, secret, downwardAPI and projected volumes whose source changed."""
        if self._eviction is not None or not self.volume_paths or time.monotonic() < self._next_size_check:
            return
        self._next_size_check = time.monotonic() + EVICTION_MONITORING_SECONDS
        host, ns = self.deps.host, self.pod["metadata"].get("namespace", "default")
        update = volumes.update_pod_volumes(
            self.pod, self.pod_dir, get_configmap=lambda name: host.get_configmap(ns, name),
            get_secret=lambda name: host.get_secret(ns, name), node_allocatable_memory=self.deps.node.memory,
            node_allocatable=self.deps.node.allocatable,
            get_token=lambda aud, ttl: host.service_account_token(self.pod, aud, ttl),
        )  # fmt: skip
        for error in update.errors:
            self._failed_mount(error)
        exceeded = volumes.size_limit_exceeded(self.pod, self.volume_paths)
        if exceeded is not None:
            message = volumes.EMPTY_DIR_EVICTION_MESSAGE.format(*exceeded)
            self._eviction = ("Evicted", message)
            self.record("Warning", "Evicted", message)

    def _failed_mount(self, error: volumes.VolumeSetupError) -> None:
        self.record("Warning", "FailedMount", f'MountVolume.SetUp failed for volume "{error.volume}" : {error.message}')

    async def _setup_volumes(self) -> bool:
        host, ns = self.deps.host, self.pod["metadata"].get("namespace", "default")
        try:
            self.volume_paths = await asyncio.to_thread(
                volumes.setup_pod_volumes, self.pod, self.pod_dir,
                get_configmap=lambda name: host.get_configmap(ns, name),
                get_secret=lambda name: host.get_secret(ns, name),
                get_token=lambda aud, ttl: host.service_account_token(self.pod, aud, ttl),
                node_allocatable_memory=self.deps.node.memory, node_allocatable=self.deps.node.allocatable,
            )  # fmt: skip
        except volumes.VolumeSetupError as e:
            self._failed_mount(e)
            self.wake_at(time.time() + 2, "volumes")
            return False
        # Just set up from their sources: the first size check and remount are due one period from now, not at the
        # next sync (which read every mount of the node again for each new pod).
        self._next_size_check = time.monotonic() + EVICTION_MONITORING_SECONDS
        self.lifecycle.add("VolumesReady")
        return True

    # -- acting -----------------------------------------------------------------------------------

    async def _kill(self, running: list[ContainerStatus], infos: dict[str, KillInfo]) -> None:
        await kill_containers(
            self.deps.runtime, self.pod, running, infos, record=self.record, kill_override=self.kill_override,
            on_hook=self.lifecycle.hook,
        )

    async def _execute(self, actions: PodActions, containers: list[ContainerStatus]) -> SyncOutcome:
        if actions.kill_pod:
            await self._discard_prepared()
            await self._kill([c for c in containers if c.state == ContainerState.RUNNING], {})
            if not actions.create_sandbox:
                return SyncOutcome.RESYNC
        elif actions.containers_to_kill:
            running = [c for c in containers if c.id in actions.containers_to_kill]
            await self._kill(running, dict(actions.containers_to_kill))
        sandbox_id = actions.sandbox_id
        if actions.create_sandbox:
            sandbox_id = await self._create_sandbox(containers)
            if not sandbox_id:
                return SyncOutcome.DONE
        # Ephemeral containers first, as SyncPod does, so that a failing init container cannot hold them back.
        ephemeral_specs = self.pod["spec"].get("ephemeralContainers") or []
        for index in actions.ephemeral_containers_to_start:
            if self._deleting():
                return SyncOutcome.RESYNC
            await self._start_container(sandbox_id, ephemeral_specs[index], containers)
        init_specs = self.pod["spec"].get("initContainers") or []
        for index in actions.init_containers_to_start:
            spec = init_specs[index]
            # A regular init container comes up alone: the runtime may start it at its fastest.
            ok = await self._start_container(sandbox_id, spec, containers, hand_off=not is_sidecar(spec))
            if not ok and not is_sidecar(spec):
                return SyncOutcome.DONE
        specs = self.pod["spec"]["containers"]
        to_start = [specs[i] for i in actions.containers_to_start]
        for position, spec in enumerate(to_start):
            if self._deleting():
                return SyncOutcome.RESYNC
            # The first one's `Created` prepares the others; one that failed before it prepares none.
            created = (lambda: self._prepare_after_first(sandbox_id, to_start, containers)) if position == 0 else None
            await self._start_container(sandbox_id, spec, containers, created=created)
        return SyncOutcome.DONE

    def _deleting(self) -> bool:
        """The pod was deleted (or is being force-killed) since this sync began."""
        return bool(self.pod["metadata"].get("deletionTimestamp")) or self.kill_override is not None

    def _pod_ips_or_host(self) -> list[str]:
        """`status.podIPs` as the downward API sees them: a host-network pod has the node's address."""
        if self.pod["spec"].get("hostNetwork") and not self.pod_ips:
            return [self.deps.node.host_ip]
        return self.pod_ips

    async def _create_sandbox(self, containers: list[ContainerStatus]) -> str:
        runtime = self.deps.runtime
        for c in containers:
            if labels.CONTAINER_NAME in c.labels and c.state != ContainerState.RUNNING:
                init_names = {s["name"] for s in self.pod["spec"].get("initContainers") or []}
                if c.labels[labels.CONTAINER_NAME] in init_names:
                    await runtime.remove_container(c.id)  # purgeInitContainers: the chain runs again
        meta, spec = self.pod["metadata"], self.pod["spec"]
        node = self.deps.node
        host_network = bool(spec.get("hostNetwork")) and node.pod_network
        # A host-network pod shares the node's namespaces, and so its name.
        hostname = node.node_name if host_network else (spec.get("hostname") or meta["name"])[:63].rstrip("-.")
        try:
            sandbox = await runtime.create_sandbox(
                SandboxConfig(
                    name=meta["name"], namespace=meta.get("namespace", "default"), uid=self.uid,
                    hostname=hostname, hosts_file=node.hosts_file(self.pod, hostname),
                    resolv_conf=node.pod_resolv_conf(self.pod), labels=dict(meta.get("labels") or {}),
                    network=node.pod_network and not host_network, host_network=host_network,
                    port_mappings=port_mappings(self.pod) if node.pod_network else (),
                )
            )  # fmt: skip
        except RuntimeError_ as e:
            self.record("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e.message}")
            self.wake_at(time.time() + 1, "sandbox")
            return ""
        if self.started_at is None:
            self.started_at = time.time()
        self.pod_ips = list(sandbox.ips) or self.pod_ips
        self.lifecycle.add("SandboxReady", ips=list(sandbox.ips))
        return sandbox.id

    async def _start_container(
        self, sandbox_id: str, spec: JSON, containers: list[ContainerStatus], *, hand_off: bool = False,
        created: Callable[[], None] | None = None,
    ) -> bool:  # fmt: skip
        """The kubelet's startContainer, after doBackOff. Returns False when the container did not start.

        `hand_off`: a regular init container, started by the runtime at its fastest (`Runtime.start_container`);
        `created`: called once the container is made, before its start."""
        name = spec["name"]
        ref = field_path(self.pod, name)
        previous = sorted(
            (c for c in containers if c.labels.get(labels.CONTAINER_NAME, c.name) == name),
            key=lambda c: c.created_at, reverse=True,
        )  # fmt: skip
        exited = [c for c in previous if c.state == ContainerState.EXITED]
        if exited and not self._backoff_allows(spec, exited[0]):
            return False
        restart_count = 0
        if previous:
            restart_count = int(previous[0].annotations.get(labels.CONTAINER_RESTART_COUNT, "0")) + 1

        def record(kind: str, reason: str, message: str) -> None:
            self.record(kind, reason, message, ref)

        built = await self._take_prepared(spec, restart_count)
        if built is None:
            try:
                target = _target_container_id(spec, containers)
                built = await self._build(sandbox_id, spec, restart_count, record, target=target)
            except _StartFailure as f:
                return self._start_failed(name, f.reason, f.message, ref, f.event)
        else:
            for event in built.events:
                record(*event)
        if self._deleting():
            # Deleted while this start was being prepared: the kubelet starts nothing of a pod being deleted.
            await self.deps.runtime.remove_container(built.container_id)
            return False
        self._termination_paths[built.container_id] = built.termination_path
        record("Normal", "Created", f"Created container: {name}")
        # The next containers' creates (conmon and the OCI runtime's `create`, tens of ms each) overlap with this
        # one's, which `start_container` runs unless it was prepared.
        self._prepare_next(sandbox_id, spec)
        if created is not None:
            created()
        try:
            await self.deps.runtime.start_container(built.container_id, hand_off=hand_off)
        except RuntimeError_ as e:
            return self._start_failed(name, "RunContainerError", e.message, ref)
        record("Normal", "Started", f"Started container {name}")
        self.reason_cache.pop(name, None)
        return await self._post_start(sandbox_id, spec, built)

    async def _post_start(self, sandbox_id: str, spec: JSON, built: _Built) -> bool:
        """Run the postStart hook, blocking as the kubelet does; kill the container when it fails."""
        post_start = (spec.get("lifecycle") or {}).get("postStart")
        if not post_start:
            return True
        name, container_id = spec["name"], built.container_id
        began = time.monotonic()
        failure = await run_hook(
            post_start, kind="PostStart", runtime=self.deps.runtime, container_id=container_id,
            sandbox_id=sandbox_id, container=spec, pod=self.pod, container_env=dict(built.env),
        )  # fmt: skip
        self.lifecycle.hook(name, "postStart", time.monotonic() - began, failure)
        if failure is None:
            return True
        self.record("Warning", "FailedPostStartHook", "PostStartHook failed", field_path(self.pod, name))
        status = await self.deps.runtime.container_status(container_id)
        info = KillInfo(name=name, container=spec, reason="FailedPostStartHook", message="FailedPostStartHook")
        await self._kill([status], {container_id: info})
        self.reason_cache[name] = ("PostStartHookError", failure)
        return False

    async def _build(
        self, sandbox_id: str, spec: JSON, restart_count: int, record: Callable[[str, str, str], None],
        *, prepared: bool = False, target: str = "",
    ) -> _Built:  # fmt: skip
        """Image, env, mounts and the runtime's create: everything of a start before the process runs.

        `target` is the runtime ID of the container whose process namespace an ephemeral container joins.
        """
        name = spec["name"]
        host, ns = self.deps.host, self.pod["metadata"].get("namespace", "default")
        try:
            image_id = await self.deps.images.ensure(self.pod, spec, record, lambda n: host.get_secret(ns, n))
        except ImageError as e:
            raise _StartFailure(e.reason, e.message, f"Error: {e.reason}") from None
        try:
            env = resolve_env(
                self.pod, spec, get_configmap=lambda n: host.get_configmap(ns, n),
                get_secret=lambda n: host.get_secret(ns, n), pod_ip=next(iter(self._pod_ips_or_host()), ""),
                host_ip=self.deps.node.host_ip,
                node_name=host.node_name, node_allocatable=self.deps.node.allocatable, list_services=host.list_services,
            )  # fmt: skip
            mounts = volumes.container_mounts(
                self.pod, spec, self.volume_paths or {}, pod_dir=self.pod_dir, env=dict(env)
            )
            termination_log = volumes.termination_log_mount(self.pod_dir, spec)
            mounts.append(termination_log)
            if self.pod_ips and not any(m.container_path == ETC_HOSTS for m in mounts):
                hosts = self.deps.node.hosts_file(self.pod, "", self.pod_ips)
                mounts.append(etc_hosts_mount(self.pod_dir, hosts))
            config = container_config(
                self.pod, spec, image_id=image_id, env=env, mounts=mounts,
                log_path=str(self.deps.paths.log_path(self.pod, name, restart_count)), restart_count=restart_count,
                target_container_id=target,
            )  # fmt: skip
            if prepared:
                config = dataclasses.replace(config, annotations={**config.annotations, PREPARED_ANNOTATION: "true"})
            container_id = await self.deps.runtime.create_container(sandbox_id, config)
        except (ContainerConfigError, volumes.VolumeSetupError) as e:
            raise _StartFailure("CreateContainerConfigError", e.message) from None
        except RuntimeError_ as e:
            reason = e.reason if e.reason == "CreateContainerConfigError" else "CreateContainerError"
            raise _StartFailure(reason, e.message) from None
        return _Built(container_id, env, termination_log.host_path, [], config.annotations[labels.CONTAINER_HASH])

    # -- preparing the next start -------------------------------------------------------------------

    def _prepare_next(self, sandbox_id: str, started: JSON) -> None:
        """As a regular init container starts, prepare the containers that start after it.

        Creating a container (conmon and the OCI runtime's `create`) is most of a start; done
        ahead, the hand-off after the init container's exit is only the runtime's `start`. The
        prepared container is invisible to the planner and the status until it is started, its
        events are recorded when it starts, and it is discarded if never used. They are prepared
        all at once: one after another, each init container that runs shorter than a create would
        wait for its successor's (measured: most hand-offs then waited, under load).
        """
        init = self.pod["spec"].get("initContainers") or []
        index = next((i for i, c in enumerate(init) if c["name"] == started["name"]), None)
        if index is None or is_sidecar(started) or self._deleting():
            return
        for spec in [*init[index + 1 :], *self.pod["spec"]["containers"]]:
            # A subPath is made in the volume when the container is created: an init container that
            # is to put a file there must run first.
            if spec["name"] not in self.prepared and not _uses_sub_path(spec):
                self.prepared[spec["name"]] = asyncio.create_task(self._prepare(sandbox_id, spec))

    def _prepare_after_first(self, sandbox_id: str, to_start: list[JSON], containers: list[ContainerStatus]) -> None:
        """Create the app containers after the first of `to_start` concurrently with its start.

        They still start one after another, in order, each after the one before it (and its postStart hook):
        only the runtime's create moves ahead, and every container created ahead pays only its `start` on the way
        (a pod of nginx and a sidecar: the sidecar is created while nginx is). It runs once the first one's bundle
        is written (its `Created`), so the others' bundles and mounts do not delay the first one's: nginx of the
        seed's pod answered 6-8 ms sooner than with all of them prepared at once. When the first one does not get
        that far (its create failed, or it waits out a crash-loop back-off) the others are made at their turn. A
        restart is not created ahead (its backoff and restart count are decided at its start), nor a container
        with a subPath mount (creating it makes the subPath in a volume that a container before it, or its
        postStart hook, may fill).
        """
        ran = {c.labels.get(labels.CONTAINER_NAME, c.name) for c in containers}
        for spec in to_start[1:]:
            if spec["name"] not in self.prepared and spec["name"] not in ran and not _uses_sub_path(spec):
                self.prepared[spec["name"]] = asyncio.create_task(self._prepare(sandbox_id, spec))

    async def _prepare(self, sandbox_id: str, spec: JSON) -> _Built | None:
        events: list[tuple[str, str, str]] = []
        try:
            built = await self._build(sandbox_id, spec, 0, lambda *e: events.append(e), prepared=True)
        except _StartFailure:
            return None  # the real start will meet the same failure and report it
        built.events = events
        try:
            await self.deps.runtime.prepare_container(built.container_id)
        except RuntimeError_:
            await self.deps.runtime.remove_container(built.container_id)
            return None
        return built

    async def _take_prepared(self, spec: JSON, restart_count: int) -> _Built | None:
        """The prepared container for this start, if one was made for this very definition."""
        task = self.prepared.pop(spec["name"], None)
        if task is None:
            return None
        built = await task
        if built is None:
            return None
        if restart_count == 0 and built.hash == labels.container_hash(spec):
            return built
        await self.deps.runtime.remove_container(built.container_id)
        return None

    async def _discard_prepared(self) -> None:
        tasks, self.prepared = list(self.prepared.values()), {}
        for built in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(built, _Built):
                with contextlib.suppress(RuntimeError_):
                    await self.deps.runtime.remove_container(built.container_id)

    def _start_failed(self, name: str, reason: str, message: str, ref: str, event: str = "") -> bool:
        self.reason_cache[name] = (reason, message)
        self.record("Warning", "Failed", event or f"Error: {message}", ref)
        self.wake_at(time.time() + 10, f"start:{name}")
        return False

    def _backoff_allows(self, spec: JSON, last: ContainerStatus) -> bool:
        """The kubelet's doBackOff: hold a restart while the crash-loop backoff lasts."""
        backoff = self.deps.crash_backoff
        key = stable_key(self.pod, spec)
        if backoff.is_in_backoff_since(key, last.finished_at):
            delay = backoff.get(key)
            ref = field_path(self.pod, spec["name"])
            self.record("Warning", "BackOff", backoff_event_message(spec["name"], self.pod), ref)
            self.lifecycle.backoff(spec["name"], delay)
            self.reason_cache[spec["name"]] = ("CrashLoopBackOff", crash_loop_message(spec["name"], self.pod, delay))
            self.wake_at(last.finished_at + delay + 0.001, f"backoff:{spec['name']}")
            return False
        backoff.next(key, last.finished_at)
        return True

    async def _terminate(self, sandboxes: list[SandboxStatus], containers: list[ContainerStatus]) -> SyncOutcome:
        """Stop everything; once nothing runs, remove the sandbox and volumes and tell the host.

        The node's part (a kill without grace, then the removal) runs in one of the kubelet's teardown slots,
        taken once and kept until the pod is finished; a grace period is waited out without one.
        """
        await self._discard_prepared()
        running = [c for c in containers if c.state == ContainerState.RUNNING]
        if not running or self.kill_override == 0:
            await self._take_teardown_slot()
        if running:
            self.deps.probes.stop_liveness_and_startup(self.uid)
            await self._kill(running, {})
            return SyncOutcome.RESYNC
        self._cancel_timers()
        if not self.deps.keep:
            for s in sandboxes:
                await self.deps.runtime.remove_sandbox(s.id)
            await asyncio.to_thread(volumes.teardown_pod_volumes, self.pod_dir)
            self.deps.probes.remove_pod(self.uid)
        self.finished.set()
        self._give_back_teardown_slot()
        await self.deps.host.pod_terminated(self.pod)
        return SyncOutcome.DONE

    async def _take_teardown_slot(self) -> None:
        if not self._holds_teardown_slot:
            self.out_of_slot_queue.clear()
            self.in_slot_queue.set()
            try:
                await self.deps.teardowns.acquire()
            finally:
                self.in_slot_queue.clear()
                self.out_of_slot_queue.set()
            self._holds_teardown_slot = True

    def _give_back_teardown_slot(self) -> None:
        if self._holds_teardown_slot:
            self._holds_teardown_slot = False
            self.deps.teardowns.release()

    def record(self, kind: str, reason: str, message: str, ref: str = "") -> None:
        """Record an event on the pod (or on one of its containers, with `ref`)."""
        self.deps.record_event(self.pod, kind, reason, message, ref)


def _an_init_container_failed(pod: JSON, containers: list[ContainerStatus]) -> bool:
    """The newest run of a regular init container exited with a failure."""
    regular = {c["name"] for c in pod["spec"].get("initContainers") or [] if not is_sidecar(c)}
    newest: dict[str, ContainerStatus] = {}
    for c in containers:
        name = c.labels.get(labels.CONTAINER_NAME, c.name)
        if name in regular and (name not in newest or c.created_at > newest[name].created_at):
            newest[name] = c
    return any(c.state == ContainerState.EXITED and c.exit_code != 0 for c in newest.values())


def _uses_sub_path(spec: JSON) -> bool:
    """The container mounts a subPath (made in its volume when the container is created)."""
    return any(m.get("subPath") or m.get("subPathExpr") for m in spec.get("volumeMounts") or [])


def _target_container_id(spec: JSON, containers: list[ContainerStatus]) -> str:
    """The running container an ephemeral container's `targetContainerName` names (the kubelet's getTargetID);
    a target that is not running fails the start with CreateContainerConfigError."""
    target = spec.get("targetContainerName") or ""
    if not target:
        return ""
    newest = max(
        (c for c in containers if c.labels.get(labels.CONTAINER_NAME, c.name) == target),
        key=lambda c: c.created_at, default=None,
    )  # fmt: skip
    if newest is None or newest.state != ContainerState.RUNNING:
        message = f"unable to find target container {target}"
        raise _StartFailure("CreateContainerConfigError", message, f"Error: {message}")
    return newest.id


def port_mappings(pod: JSON) -> tuple[PortMapping, ...]:
    """The hostPorts of the pod's containers (`MakePortMappings`), deduplicated as the kubelet does."""
    seen: set[tuple[int, str, str]] = set()
    result = []
    for container in pod["spec"]["containers"]:
        for port in container.get("ports") or []:
            host_port = int(port.get("hostPort") or 0)
            if not host_port:
                continue
            mapping = PortMapping(
                container_port=int(port["containerPort"]), host_port=host_port,
                protocol=str(port.get("protocol") or "TCP"), host_ip=str(port.get("hostIP") or ""),
            )  # fmt: skip
            key = (host_port, mapping.protocol, mapping.host_ip)
            if key not in seen:
                seen.add(key)
                result.append(mapping)
    return tuple(result)
