"""A real `Node` (the kubelet) on a real `LocalRuntime`, reporting to a `PodHost` that records everything it is told.

`run_pod` takes a pod as a user writes it, lets the model default and validate it as the API server
would, binds it to the node as `podrun run` does, and runs it through the kubelet. The test then awaits
what it expects to see: `wait_for(condition)` returns the first recorded status (from the very first
update on) that satisfies the condition, woken by each status update, never by polling. Every status
update and every event is kept in order, so a test can check invariants over the whole history, and so
are the runtime's container start and exit events (exact times, exit codes, log paths).

Leaving `run_pod` deletes the pod if it is still there (or kills it at once if the test failed) and
checks that the kubelet left none of the pod's containers or sandboxes behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from podrun.kubelet import labels
from podrun.kubelet.admission import admit_pod
from podrun.kubelet.backoff import CRASH_LOOP_RESET_AFTER, Backoff
from podrun.kubelet.node import Node
from podrun.kubelet.worker import PodWorker
from podrun.model.manifest import load_manifests
from podrun.runtime.local import LocalRuntime
from podrun.runtime.logs import read_lines
from podrun.runtime.protocol import ContainerEvent, ContainerStatus, EventKind
from podrun.timestamps import format_time

JSON = dict[str, Any]
T = TypeVar("T")

NODE_NAME = "podrun-test-node"
# How long a test waits for something that takes (milli)seconds; only reached when something is broken.
TIMEOUT = 15.0


# -- building pods -----------------------------------------------------------------------------------------


def pod(
    name: str,
    containers: Iterable[JSON],
    *,
    init_containers: Iterable[JSON] = (),
    restart_policy: Literal["Always", "OnFailure", "Never"] = "Always",
    volumes: Iterable[JSON] = (),
    **spec: Any,
) -> JSON:
    """A v1 Pod as a user writes it; `spec` adds other PodSpec fields (`terminationGracePeriodSeconds=1`)."""
    body: JSON = {"restartPolicy": restart_policy, "containers": list(containers), **spec}
    if init_containers:
        body["initContainers"] = list(init_containers)
    if volumes:
        body["volumes"] = list(volumes)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


def busybox(name: str, script: str, **fields: Any) -> JSON:
    """A busybox container running `sh -c script`; `fields` are other Container fields.

    `imagePullPolicy: IfNotPresent` spares each start the (failing, offline) pull that `busybox`'s
    default policy Always asks for, and the Warning event that comes with it.
    """
    return {"name": name, "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", script],
            **fields}  # fmt: skip


def sidecar(name: str, script: str, **fields: Any) -> JSON:
    """A native sidecar: an init container with `restartPolicy: Always`."""
    return busybox(name, script, restartPolicy="Always", **fields)


def exec_probe(*command: str, **fields: Any) -> JSON:
    """An exec probe run every second (`fields` override that or add thresholds)."""
    return {"exec": {"command": list(command)}, "periodSeconds": 1, **fields}


def empty_dir(name: str) -> JSON:
    """An emptyDir volume."""
    return {"name": name, "emptyDir": {}}


def mount(volume: str, path: str, **fields: Any) -> JSON:
    """A volumeMount of `volume` at `path`."""
    return {"name": volume, "mountPath": path, **fields}


def run_until_term(first: str = "") -> str:
    """A script that runs `first`, then idles until SIGTERM, and exits 0 on it.

    PID 1 of a container ignores SIGTERM unless it traps it: the trap comes before `first`, so the
    container stops at once (within a 0.1 s sleep) whenever it is told to.
    """
    return f"trap 'exit 0' TERM; {first + '; ' if first else ''}while true; do sleep 0.1; done"


RUN_UNTIL_TERM = run_until_term()


# -- reading statuses ------------------------------------------------------------------------------------


def container_status(status: JSON, name: str) -> JSON:
    """The init or regular container status called `name` (an empty dict when there is none)."""
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        if cs.get("name") == name:
            return dict(cs)
    return {}


def state(status: JSON, name: str) -> tuple[str, JSON]:
    """(`running` | `waiting` | `terminated` | ``, details) of a container's current state."""
    for kind, details in (container_status(status, name).get("state") or {}).items():
        return kind, details or {}
    return "", {}


def last_state(status: JSON, name: str) -> tuple[str, JSON]:
    """Like `state`, for the container's `lastState`."""
    for kind, details in (container_status(status, name).get("lastState") or {}).items():
        return kind, details or {}
    return "", {}


def is_running(status: JSON, name: str) -> bool:
    """The container's state is `running`."""
    return state(status, name)[0] == "running"


def restart_count(status: JSON, name: str) -> int:
    """The container's `restartCount` (0 when it has no status)."""
    return int(container_status(status, name).get("restartCount") or 0)


def condition(status: JSON, kind: str) -> JSON:
    """The pod condition of type `kind` (an empty dict when there is none)."""
    return next((dict(c) for c in status.get("conditions") or [] if c.get("type") == kind), {})


def phase_is(*phases: str) -> Callable[[JSON], bool]:
    """A condition for `wait_for`: the pod's phase is one of `phases`."""
    return lambda status: status.get("phase") in phases


# -- the recording host ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusUpdate:
    """One status the kubelet published, and when (Unix seconds) the host received it."""

    at: float
    status: JSON


class RecordingHost:
    """A `PodHost` that keeps every status update and event in order and lets tests await them."""

    def __init__(self, configmaps: Iterable[JSON] = (), secrets: Iterable[JSON] = (), node_name: str = NODE_NAME):
        self.node_name = node_name
        self._configmaps = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in configmaps}
        self._secrets = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in secrets}
        self.updates: list[StatusUpdate] = []
        self.events: list[JSON] = []  # every event created or updated, as sent, in order
        self.terminated = asyncio.Event()
        self._changed = asyncio.Condition()

    # PodHost

    def get_configmap(self, namespace: str, name: str) -> JSON | None:
        """A ConfigMap given to `run_pod`."""
        return self._configmaps.get((namespace, name))

    def get_secret(self, namespace: str, name: str) -> JSON | None:
        """A Secret given to `run_pod`."""
        return self._secrets.get((namespace, name))

    def list_services(self, namespace: str) -> list[JSON]:
        """No Services."""
        return []

    def service_account_token(self, pod: JSON, audience: str | None, expiration_seconds: int) -> str | None:
        """No tokens (pods admitted here have no service account volume)."""
        return None

    async def update_pod_status(self, pod: JSON, status: JSON) -> None:
        """Keep a copy of the status, stamped with the time it arrived."""
        self.updates.append(StatusUpdate(time.time(), copy.deepcopy(status)))
        await self.notify()

    async def record_event(self, action: Literal["create", "update"], event: JSON) -> None:
        """Keep a copy of the event (an update of a deduplicated event is kept again, with its count)."""
        self.events.append(copy.deepcopy(event))
        await self.notify()

    async def pod_terminated(self, pod: JSON) -> None:
        """The pod's containers and sandbox are gone."""
        self.terminated.set()
        await self.notify()

    async def notify(self) -> None:
        """Wake every `wait_until` to check again (called on each report, and for what else a test records)."""
        async with self._changed:
            self._changed.notify_all()

    # Reading

    @property
    def statuses(self) -> list[JSON]:
        """Every status published so far, oldest first."""
        return [u.status for u in self.updates]

    @property
    def latest(self) -> JSON:
        """The last status published (an empty dict before the first)."""
        return self.updates[-1].status if self.updates else {}

    def events_with(self, reason: str, message: str | re.Pattern[str] | None = None) -> list[JSON]:
        """Events with this reason (and message: equal to a string, or matching a pattern), in order."""
        return [e for e in self.events if e.get("reason") == reason and _matches(e.get("message", ""), message)]

    async def wait_until(self, find: Callable[[], T | None], what: str, timeout: float = TIMEOUT) -> T:
        """Wait until `find()` returns something other than None (re-checked after each report); return it."""
        found: list[T] = []

        def check() -> bool:
            result = find()
            if result is not None:
                found.append(result)
            return result is not None

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(check), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; the last status was\n"
                    f"{json.dumps(self.latest, indent=1)}\nevents: {[(e['reason'], e['message']) for e in self.events]}"
                ) from None
        return found[0]

    async def wait_for(
        self, condition: Callable[[JSON], bool], what: str, timeout: float = TIMEOUT, since: int = 0
    ) -> JSON:
        """The first status published (from update number `since` on) for which `condition` holds; waits for it."""
        return (await self.wait_for_update(condition, what, timeout, since)).status

    async def wait_for_update(
        self, condition: Callable[[JSON], bool], what: str, timeout: float = TIMEOUT, since: int = 0
    ) -> StatusUpdate:
        """Like `wait_for`, with the time the status arrived."""
        return await self.wait_until(
            lambda: next((u for u in self.updates[since:] if condition(u.status)), None), what, timeout
        )

    async def wait_for_event(
        self, reason: str, message: str | re.Pattern[str] | None = None, timeout: float = TIMEOUT
    ) -> JSON:
        """The first event with this reason (and message); waits for it."""

        def find() -> JSON | None:
            events = self.events_with(reason, message)
            return events[0] if events else None

        return await self.wait_until(find, f"a {reason} event {message or ''}", timeout)


def _matches(text: str, expected: str | re.Pattern[str] | None) -> bool:
    if expected is None:
        return True
    if isinstance(expected, str):
        return text == expected
    return expected.search(text) is not None


# -- running a pod ---------------------------------------------------------------------------------------


@dataclass
class PodUnderTest:
    """A pod running on a real kubelet, the host it reports to, and the runtime's record of its containers."""

    kubelet: Node
    host: RecordingHost
    worker: PodWorker
    runtime_events: list[ContainerEvent] = field(default_factory=list)

    @property
    def pod(self) -> JSON:
        """The pod as the kubelet knows it (with its latest status)."""
        return self.worker.pod

    @property
    def uid(self) -> str:
        """The pod's UID."""
        return str(self.worker.uid)

    @property
    def status(self) -> JSON:
        """The latest status published."""
        return self.host.latest

    async def wait_for(
        self, condition: Callable[[JSON], bool], what: str, timeout: float = TIMEOUT, since: int = 0
    ) -> JSON:
        """The first status for which `condition` holds (see `RecordingHost.wait_for`)."""
        return await self.host.wait_for(condition, what, timeout, since)

    async def exec(self, container: str, *command: str) -> str:
        """Run a command in the container's latest run (as `kubectl exec` would); its output. It must succeed."""
        result = await self.kubelet.runtime.exec_sync(self.starts(container)[-1].id, list(command), TIMEOUT)
        assert (result.exit_code, result.timed_out) == (0, False), result
        return result.stdout.decode()

    def starts(self, container: str) -> list[ContainerStatus]:
        """The runtime's status of each start of `container`, in order (exact `started_at`)."""
        return [e.status for e in self.runtime_events if e.kind == EventKind.STARTED and _name(e.status) == container]

    def exits(self, container: str) -> list[ContainerStatus]:
        """The runtime's status of each exit of `container`, in order (exact `finished_at`, exit code, reason)."""
        return [e.status for e in self.runtime_events if e.kind == EventKind.EXITED and _name(e.status) == container]

    def log(self, container: str, run: int = -1) -> list[str]:
        """The lines a container printed in one of its runs (the last by default), from its CRI log file."""
        return [line.text for line in read_lines(self.starts(container)[run].log_path)]

    def update(self, change: Callable[[JSON], None]) -> None:
        """Change the pod as an API update would (`change` edits a copy without status), and tell the kubelet."""
        new = copy.deepcopy({k: v for k, v in self.worker.pod.items() if k != "status"})
        change(new)
        self.kubelet.update_pod(new)

    def set_image(self, container: str, image: str) -> None:
        """`kubectl set image`: change one container's image."""

        def change(pod: JSON) -> None:
            for spec in [*(pod["spec"].get("initContainers") or []), *pod["spec"]["containers"]]:
                if spec["name"] == container:
                    spec["image"] = image

        self.update(change)

    def request_deletion(self, grace: int | None = None) -> None:
        """What `kubectl delete pod [--grace-period N]` asks for, as `podrun run` does on Ctrl-C or time-out."""
        if grace is None:
            grace = int(self.worker.pod["spec"].get("terminationGracePeriodSeconds", 30))

        def change(pod: JSON) -> None:
            pod["metadata"].update(deletionTimestamp=format_time(time.time() + grace),
                                   deletionGracePeriodSeconds=grace)  # fmt: skip

        self.update(change)

    async def delete(self, grace: int | None = None, timeout: float = TIMEOUT) -> JSON:
        """Delete the pod gracefully and wait until the kubelet says it terminated; its final status."""
        self.request_deletion(grace)
        return await self.wait_terminated(timeout)

    async def wait_terminated(self, timeout: float = TIMEOUT) -> JSON:
        """Wait until every container and the sandbox are gone (`pod_terminated`); the final status."""
        await self.host.wait_until(lambda: True if self.host.terminated.is_set() else None, "pod_terminated", timeout)
        return self.host.latest

    async def kill(self, timeout: float = TIMEOUT) -> None:
        """Delete the pod and kill its containers at once (a second Ctrl-C), then wait until it terminated."""
        self.request_deletion(0)
        await self.worker.kill_running_now()
        await self.wait_terminated(timeout)


def _name(status: ContainerStatus) -> str:
    return status.labels.get(labels.CONTAINER_NAME, status.name)


def admit(pod: JSON, *objects: JSON) -> tuple[JSON, list[JSON], list[JSON]]:
    """What the API server does on create: (the defaulted, validated pod bound to the node, configmaps, secrets)."""
    manifests = load_manifests([(f"object {i}", json.dumps(obj)) for i, obj in enumerate([pod, *objects])])
    [admitted] = manifests.pods
    return admit_pod(admitted, NODE_NAME, now=time.time()), manifests.configmaps, manifests.secrets


@contextlib.asynccontextmanager
async def run_pod(
    runtime: LocalRuntime, pod: JSON, *objects: JSON, crash_loop_max: float | None = None
) -> AsyncIterator[PodUnderTest]:
    """Run `pod` (with the ConfigMaps and Secrets in `objects`) on a new kubelet over `runtime`.

    `crash_loop_max` sets the kubelet's `crashLoopBackOff.maxContainerRestartPeriod` (the
    `KubeletCrashLoopBackOffMax` configuration): below 10 s it is also the initial delay.
    On leaving, a pod still there is deleted (grace period 1 s) or, if the test failed, killed at once;
    then the kubelet stops and no container or sandbox of the pod may be left.
    """
    admitted, configmaps, secrets = admit(pod, *objects)
    host = RecordingHost(configmaps, secrets)
    backoff = None
    if crash_loop_max is not None:
        backoff = Backoff(min(10.0, crash_loop_max), crash_loop_max, CRASH_LOOP_RESET_AFTER)
    kubelet = Node(runtime, host, root=runtime.root, image_store=runtime.images, crash_backoff=backoff)
    await kubelet.start()
    subscription = runtime.events()
    under_test: PodUnderTest | None = None

    async def record_runtime_events() -> None:
        async for event in subscription:
            if under_test is not None and event.status.labels.get(labels.POD_UID) == under_test.uid:
                under_test.runtime_events.append(event)
                await host.notify()

    recorder = asyncio.create_task(record_runtime_events())
    under_test = PodUnderTest(kubelet, host, kubelet.run_pod(admitted))
    try:
        yield under_test
    except BaseException:
        with contextlib.suppress(Exception):
            if not host.terminated.is_set():
                await under_test.kill()
        raise
    else:
        if not host.terminated.is_set():
            await under_test.delete(grace=1)
    finally:
        await kubelet.stop()
        recorder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recorder
        subscription.close()
    left = [c.id for c in await labels.pod_containers(runtime, under_test.uid)]
    sandboxes = [s.id for s in await runtime.list_sandboxes() if s.config.uid == under_test.uid]
    assert not left and not sandboxes, f"the kubelet left containers {left} and sandboxes {sandboxes}"
    assert not (runtime.root / "pods" / under_test.uid).exists(), "the pod's directory was left behind"
