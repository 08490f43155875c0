"""The kubelet's pod status: container statuses, phase, conditions and QoS class, as pure functions.

A transcription of `convertToAPIContainerStatuses`, `getPhase` and `generateAPIPodStatus`
(pkg/kubelet/kubelet_pods.go), the condition generators of pkg/kubelet/status/generate.go, the prober
manager's `UpdatePodStatus` and `ComputePodQOS`, for the default feature gates of Kubernetes 1.33/1.34
(see the kubelet-semantics spec, §2.3, §3.2, §4.4 and §5).

Pods and statuses are JSON-shaped dicts in Kubernetes API form (camelCase keys). Timestamps are RFC3339
strings with second precision, like `metav1.Time` on the wire; a zero `metav1.Time` is `None`.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podrun.json_types import JSON
from podrun.kubelet.labels import CONTAINER_IMAGE
from podrun.kubelet.planner import should_container_be_restarted
from podrun.kubelet.qos import qos_class
from podrun.runtime.protocol import ContainerState, ContainerStatus
from podrun.timestamps import format_time

RESTART_COUNT_ANNOTATION = "io.kubernetes.container.restartCount"
DEFAULT_RUNTIME_NAME = "podrun"

PENDING = "Pending"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
TERMINAL_PHASES = frozenset({SUCCEEDED, FAILED})

CONTAINER_CREATING = "ContainerCreating"
POD_INITIALIZING = "PodInitializing"
CONTAINER_STATUS_UNKNOWN = "ContainerStatusUnknown"

POD_READY_TO_START_CONTAINERS = "PodReadyToStartContainers"
INITIALIZED = "Initialized"
READY = "Ready"
CONTAINERS_READY = "ContainersReady"
POD_SCHEDULED = "PodScheduled"
# kubetypes.PodConditionByKubelet: regenerated on every sync, so never carried over from the old status.
KUBELET_CONDITIONS = frozenset(
    {
        POD_SCHEDULED,
        READY,
        INITIALIZED,
        CONTAINERS_READY,
        POD_READY_TO_START_CONTAINERS,
        "PodResizeInProgress",
        "PodResizePending",
    }
)

_UNKNOWN_WHEN_TERMINATED = "The container could not be located when the pod was terminated"
_UNKNOWN_WHEN_DELETED = (
    "The container could not be located when the pod was deleted.  The container used to be Running"
)
_INIT_GARBAGE_COLLECTED = (
    "Unable to get init container status from container runtime and pod has been initialized, "
    "treat it as exited normally"
)


@dataclass(frozen=True)
class ProbeState:
    """What the prober knows about one container instance, keyed by its runtime container ID.

    `started`: the startup probe succeeded (or the container has none); `ready`: the readiness probe
    succeeded (or the container has none). Both only count while the container is running. When a
    running container has no entry, it is started unless its spec has a `startupProbe`, and ready
    when started unless its spec has a `readinessProbe`: a probe that has not produced a result yet
    holds the container back, as the kubelet's `getWorker(...)` check does.
    """

    started: bool
    ready: bool


# --- containerStatuses / initContainerStatuses -------------------------------------------------------


def convert_container_statuses(
    pod: JSON,
    runtime_statuses: Sequence[ContainerStatus],
    *,
    init: bool,
    probe_state: Mapping[str, ProbeState],
    reason_cache: Mapping[str, tuple[str, str]],
    previous: Mapping[str, JSON] | None,
    runtime_name: str = DEFAULT_RUNTIME_NAME,
    ephemeral: bool = False,
) -> list[JSON]:
    """The API statuses of the pod's init containers (`init=True`), regular containers, or ephemeral containers
    (`ephemeral=True`: converted as regular ones, but the prober sets neither `started` nor `ready`) (§5.3).

    `runtime_statuses` is everything the runtime holds for the pod, every instance of every container:
    per name the newest (by `created_at`) gives `state`, the second `lastState`. `reason_cache` maps a
    container name to the `(reason, message)` of its last failed start; `previous` maps names to the
    statuses last written. `containerID` is `"<runtime_name>://<id>"`, so `podrun://<id>` by default,
    the way CRI runtimes prefix theirs (`containerd://`, `cri-o://`). `image` is the image the container was
    created from, as its spec named it then (an init container that completed before `kubectl set image` keeps
    its image); the spec's image for a container the runtime has no record of.
    Init statuses come in spec order, regular ones sorted by name.
    """
    containers = list(_spec(pod).get("ephemeralContainers") or []) if ephemeral else _containers(pod, init=init)
    history = _history_by_name(runtime_statuses)
    has_init_containers = bool(_spec(pod).get("initContainers"))
    old = previous or {}
    statuses: dict[str, JSON] = {}
    for container in containers:
        name = container["name"]
        runs = history.get(name, [])
        if runs:
            status = _from_runtime(container, runs, old.get(name), runtime_name)
        else:
            status = _without_runtime_record(container, old.get(name), pod, has_init_containers)
        _apply_waiting_reason(container, status, pod, runtime_statuses, reason_cache, init)
        if not ephemeral:
            _apply_probe_results(container, status, probe_state, init)
        statuses[name] = status
    if init:
        return [statuses[c["name"]] for c in containers]
    return [statuses[name] for name in sorted(statuses)]


def _from_runtime(container: JSON, runs: list[ContainerStatus], old: JSON | None, runtime_name: str) -> JSON:
    status = _convert_instance(container, runs[0], old, runtime_name)
    if len(runs) > 1:
        status["lastState"] = _convert_instance(container, runs[1], old, runtime_name)["state"]
    return status


def _convert_instance(
    container: JSON, instance: ContainerStatus, old: JSON | None, runtime_name: str
) -> JSON:
    container_id = f"{runtime_name}://{instance.id}"
    state = _runtime_state(instance, container_id, old)
    restart_count = _restart_count(instance)
    if _is_unknown_after_running(instance, old):
        # The runtime lost a container we saw running: it counts as one more (failed) run.
        restart_count = int((old or {}).get("restartCount", 0)) + 1
    return {
        "name": container["name"],
        "state": state,
        "lastState": {},
        "ready": False,
        "restartCount": restart_count,
        "image": instance.annotations.get(CONTAINER_IMAGE) or container.get("image", ""),
        "imageID": instance.image_id,
        "containerID": container_id,
    }


def _runtime_state(instance: ContainerStatus, container_id: str, old: JSON | None) -> JSON:
    if instance.state == ContainerState.RUNNING:
        return {"running": {"startedAt": format_time(instance.started_at)}}
    if instance.state == ContainerState.EXITED:
        terminated: JSON = {"exitCode": instance.exit_code}
        _put_if(terminated, "reason", instance.reason)
        _put_if(terminated, "message", instance.message)
        terminated["startedAt"] = format_time(instance.started_at)
        terminated["finishedAt"] = format_time(instance.finished_at)
        terminated["containerID"] = container_id
        return {"terminated": terminated}
    if _is_unknown_after_running(instance, old):
        return {"terminated": _lost_container(_UNKNOWN_WHEN_TERMINATED)}
    # Created, or Unknown without a running past: the kubelet collapses both to an empty Waiting.
    return {"waiting": {}}


def _is_unknown_after_running(instance: ContainerStatus, old: JSON | None) -> bool:
    return instance.state == ContainerState.UNKNOWN and _has_state(old, "running")


def _restart_count(instance: ContainerStatus) -> int:
    try:
        return int(instance.annotations.get(RESTART_COUNT_ANNOTATION, "0"))
    except ValueError:
        return 0


def _without_runtime_record(container: JSON, old: JSON | None, pod: JSON, has_init_containers: bool) -> JSON:
    """The status of a container the runtime knows nothing about: the default, or the last one written."""
    if old is not None and _has_state(old, "terminated"):
        return copy.deepcopy(old)
    default_reason = POD_INITIALIZING if has_init_containers else CONTAINER_CREATING
    status: JSON = {
        "name": container["name"],
        "state": {"waiting": {"reason": default_reason}},
        "lastState": copy.deepcopy((old or {}).get("lastState") or {}),
        "ready": False,
        "restartCount": int((old or {}).get("restartCount", 0)),
        "image": container.get("image", ""),
        "imageID": "",
    }
    if _has_state(old, "running") and "terminated" not in status["lastState"]:
        # It ran and vanished; leaving it plain Waiting would push a running pod back to Pending.
        status["lastState"] = {"terminated": _lost_container(_UNKNOWN_WHEN_DELETED)}
        if not (pod.get("metadata") or {}).get("deletionTimestamp"):
            status["restartCount"] += 1
    return status


def _apply_waiting_reason(
    container: JSON,
    status: JSON,
    pod: JSON,
    runtime_statuses: Sequence[ContainerStatus],
    reason_cache: Mapping[str, tuple[str, str]],
    init: bool,
) -> None:
    """Show why a container that is due to (re)start is not running: the last start failure's reason."""
    name = container["name"]
    latest = _latest(runtime_statuses, name)
    if init:
        if latest is not None and latest.state == ContainerState.EXITED and latest.exit_code == 0:
            return  # a completed init container is never run again
        if latest is None and _initialized_without_record(container, status, pod, runtime_statuses):
            status["state"] = {"terminated": _garbage_collected_init()}
            return
    cached = reason_cache.get(name)
    if cached is None or not should_container_be_restarted(container, pod, runtime_statuses):
        return
    if "terminated" in status["state"]:
        status["lastState"] = status["state"]
    waiting: JSON = {"reason": cached[0]}
    _put_if(waiting, "message", cached[1])
    status["state"] = {"waiting": waiting}


def _initialized_without_record(
    container: JSON, status: JSON, pod: JSON, runtime_statuses: Sequence[ContainerStatus]
) -> bool:
    """A regular init container whose record was garbage-collected after the pod initialized."""
    return (
        not _is_sidecar(container)
        and "waiting" in status["state"]
        and _any_regular_container_created(pod, runtime_statuses)
    )


def _any_regular_container_created(pod: JSON, runtime_statuses: Sequence[ContainerStatus]) -> bool:
    created = (ContainerState.CREATED, ContainerState.RUNNING, ContainerState.EXITED)
    for container in _spec(pod).get("containers") or []:
        latest = _latest(runtime_statuses, container["name"])
        if latest is not None and latest.state in created:
            return True
    return False


def _garbage_collected_init() -> JSON:
    return {
        "exitCode": 0,
        "reason": "Completed",
        "message": _INIT_GARBAGE_COLLECTED,
        "startedAt": None,
        "finishedAt": None,
    }


def _lost_container(message: str) -> JSON:
    return {
        "exitCode": 137,
        "reason": CONTAINER_STATUS_UNKNOWN,
        "message": message,
        "startedAt": None,
        "finishedAt": None,
    }


def _apply_probe_results(
    container: JSON, status: JSON, probe_state: Mapping[str, ProbeState], init: bool
) -> None:
    """`started` and `ready` as the prober manager's `UpdatePodStatus` sets them (§2.3, §4.4)."""
    probe = probe_state.get(_runtime_id(status))
    started = _is_started(container, status, probe)
    status["started"] = started
    if init and not _is_sidecar(container):
        # Regular init containers have no probes: they are ready once they completed.
        if _exit_code(status) == 0:
            status["ready"] = True
        return
    if started:
        status["ready"] = _is_ready(container, probe)


def _is_started(container: JSON, status: JSON, probe: ProbeState | None) -> bool:
    if "running" not in status["state"]:
        return False
    if probe is not None:
        return probe.started
    return "startupProbe" not in container


def _is_ready(container: JSON, probe: ProbeState | None) -> bool:
    """Readiness of a started (hence running) container."""
    if probe is not None:
        return probe.ready
    return "readinessProbe" not in container


def _runtime_id(status: JSON) -> str:
    return str(status.get("containerID", "")).partition("://")[2]


def _exit_code(status: JSON | None) -> int | None:
    terminated = ((status or {}).get("state") or {}).get("terminated")
    return None if terminated is None else int(terminated.get("exitCode", 0))


def _last_exit_code(status: JSON | None) -> int | None:
    terminated = _last_terminated(status)
    return None if terminated is None else int(terminated.get("exitCode", 0))


# --- phase --------------------------------------------------------------------------------------------


@dataclass
class _Tally:
    """The counters of `getPhase`."""

    pending_regular_init: int = 0
    failed_init: int = 0
    pending_sidecars: int = 0
    unknown: int = 0
    running: int = 0
    waiting: int = 0
    stopped: int = 0
    succeeded: int = 0


def get_phase(
    pod: JSON,
    init_statuses: Sequence[JSON],
    statuses: Sequence[JSON],
    *,
    pod_is_terminal: bool,
    pod_has_initialized: bool,
) -> str:
    """The pod phase from its API container statuses, exactly as the kubelet's `getPhase` (§5.1).

    Terminated sidecars are ignored. `pod_is_terminal` means the kubelet has decided the pod will run
    nothing more (it is being torn down), so the phase follows the regular containers' exit codes
    whatever the restart policy. Static pods, which never get a terminal phase that way, are not
    modelled.
    """
    by_name = _index_by_name([*statuses, *init_statuses])
    tally = _Tally()
    for container in _spec(pod).get("initContainers") or []:
        status = by_name.get(container["name"])
        if _is_sidecar(container):
            _count_sidecar(status, tally)
        else:
            _count_regular_init(status, tally)
    for container in _spec(pod).get("containers") or []:
        _count_container(by_name.get(container["name"]), tally)
    return _phase_from(tally, restart_policy(pod), pod_is_terminal, pod_has_initialized)


def _count_regular_init(status: JSON | None, tally: _Tally) -> None:
    match _state_kind(status):
        case "terminated":
            tally.failed_init += _exit_code(status) != 0
        case "waiting" if _last_terminated(status) is not None:
            tally.failed_init += _last_exit_code(status) != 0
        case _:  # not there yet, running, or waiting for its first run
            tally.pending_regular_init += 1


def _count_sidecar(status: JSON | None, tally: _Tally) -> None:
    if status is None:
        tally.unknown += 1
        return
    match _state_kind(status):
        case "running":
            tally.running += 1
            tally.pending_sidecars += not status.get("started")
        case "terminated":
            pass  # an exited sidecar never decides the phase
        case "waiting":
            if _last_terminated(status) is None:
                tally.pending_sidecars += 1
                tally.waiting += 1
        case _:
            tally.pending_sidecars += 1
            tally.unknown += 1


def _count_container(status: JSON | None, tally: _Tally) -> None:
    match _state_kind(status):
        case "running":
            tally.running += 1
        case "terminated":
            tally.stopped += 1
            tally.succeeded += _exit_code(status) == 0
        case "waiting" if _last_terminated(status) is not None:
            tally.stopped += 1  # waiting after a termination is a restart in progress, not a first start
        case "waiting":
            tally.waiting += 1
        case _:
            tally.unknown += 1


def _phase_from(tally: _Tally, policy: str, pod_is_terminal: bool, pod_has_initialized: bool) -> str:
    if tally.failed_init and policy == "Never":
        return FAILED
    if tally.pending_regular_init or (tally.pending_sidecars and not pod_has_initialized) or tally.waiting:
        return PENDING
    if tally.running and not tally.unknown:
        return RUNNING
    if tally.running or not tally.stopped or tally.unknown:
        return PENDING
    all_succeeded = tally.stopped == tally.succeeded
    if pod_is_terminal:
        return SUCCEEDED if all_succeeded else FAILED
    if policy == "Always":
        return RUNNING
    if all_succeeded:
        return SUCCEEDED
    return FAILED if policy == "Never" else RUNNING


# --- conditions ---------------------------------------------------------------------------------------


def generate_conditions(
    pod: JSON,
    phase: str,
    init_statuses: Sequence[JSON],
    statuses: Sequence[JSON],
    *,
    sandbox_ready: bool,
    previous_conditions: Sequence[JSON] | None,
    now: str,
) -> list[JSON]:
    """The pod's conditions (§5.2), in the kubelet's order.

    Conditions the kubelet does not own (readiness gates, `DisruptionTarget`) are kept from
    `previous_conditions` and come first; then PodReadyToStartContainers, Initialized, Ready,
    ContainersReady and PodScheduled. A kubelet-owned condition keeps its previous
    `lastTransitionTime` unless its status flipped, in which case it becomes `now`.
    """
    previous = list(previous_conditions or [])
    kept = [copy.deepcopy(c) for c in previous if c.get("type") not in KUBELET_CONDITIONS]
    all_statuses = [*init_statuses, *statuses]
    by_name = _index_by_name(all_statuses)
    owned = [
        _condition(POD_READY_TO_START_CONTAINERS, sandbox_ready),
        _initialized_condition(pod, by_name, all_statuses, phase),
        _ready_condition(pod, kept, by_name, phase),
        _containers_ready_condition(pod, by_name, phase),
        _condition(POD_SCHEDULED, True),
    ]
    return kept + [_stamp(c, previous, now) for c in owned]


def _condition(kind: str, status: bool | str, reason: str = "", message: str = "") -> JSON:
    text = status if isinstance(status, str) else ("True" if status else "False")
    condition: JSON = {"type": kind, "status": text}
    _put_if(condition, "reason", reason)
    _put_if(condition, "message", message)
    return condition


def _stamp(condition: JSON, previous: Sequence[JSON], now: str) -> JSON:
    """Add the probe and transition times, in `PodCondition`'s field order."""
    old = next((c for c in previous if c.get("type") == condition["type"]), None)
    transition: str | None = now
    if old is not None and old.get("status") == condition["status"]:
        transition = old.get("lastTransitionTime")
    stamped: JSON = {
        "type": condition["type"],
        "status": condition["status"],
        "lastProbeTime": None,
        "lastTransitionTime": transition,
    }
    for key in ("reason", "message"):
        _put_if(stamped, key, condition.get(key, ""))
    return stamped


def _initialized_condition(
    pod: JSON, by_name: Mapping[str, JSON], all_statuses: Sequence[JSON], phase: str
) -> JSON:
    unknown: list[str] = []
    incomplete: list[str] = []
    for container in _spec(pod).get("initContainers") or []:
        status = by_name.get(container["name"])
        if status is None:
            unknown.append(container["name"])
        elif not _is_init_container_initialized(container, status):
            incomplete.append(container["name"])
    if phase == SUCCEEDED and not unknown:
        return _condition(INITIALIZED, True, reason="PodCompleted")
    if _any_regular_container_started(pod, all_statuses):
        # A sidecar restarting after initialization must not un-initialize the pod.
        return _condition(INITIALIZED, True)
    message = _problem_message(("unknown", unknown), ("incomplete", incomplete))
    if message:
        return _condition(INITIALIZED, False, reason="ContainersNotInitialized", message=message)
    return _condition(INITIALIZED, True)


def _is_init_container_initialized(container: JSON, status: JSON) -> bool:
    if _is_sidecar(container):
        return bool(status.get("started"))
    return bool(status.get("ready"))


def _any_regular_container_started(pod: JSON, all_statuses: Sequence[JSON]) -> bool:
    names = {c["name"] for c in _spec(pod).get("containers") or []}
    return any(
        s.get("name") in names and (_has_state(s, "running") or _has_state(s, "terminated"))
        for s in all_statuses
    )


def _containers_ready_condition(pod: JSON, by_name: Mapping[str, JSON], phase: str) -> JSON:
    unknown: list[str] = []
    unready: list[str] = []
    sidecars = [c for c in _spec(pod).get("initContainers") or [] if _is_sidecar(c)]
    for container in [*sidecars, *(_spec(pod).get("containers") or [])]:
        status = by_name.get(container["name"])
        if status is None:
            unknown.append(container["name"])
        elif not status.get("ready"):
            unready.append(container["name"])
    if phase == SUCCEEDED and not unknown:
        return _condition(CONTAINERS_READY, False, reason="PodCompleted")
    if phase == FAILED:
        return _condition(CONTAINERS_READY, False, reason="PodFailed")
    message = _problem_message(("unknown", unknown), ("unready", unready))
    if message:
        return _condition(CONTAINERS_READY, False, reason="ContainersNotReady", message=message)
    return _condition(CONTAINERS_READY, True)


def _ready_condition(pod: JSON, conditions: Sequence[JSON], by_name: Mapping[str, JSON], phase: str) -> JSON:
    containers_ready = _containers_ready_condition(pod, by_name, phase)
    if containers_ready["status"] != "True":
        return {**containers_ready, "type": READY}
    problems = []
    for gate in _spec(pod).get("readinessGates") or []:
        kind = gate.get("conditionType", "")
        found = next((c for c in conditions if c.get("type") == kind), None)
        gate_name = f"pod readiness gate {_go_quote(kind)}"
        if found is None:
            problems.append(f"corresponding condition of {gate_name} does not exist.")
        elif found.get("status") != "True":
            problems.append(f'the status of {gate_name} is not "True", but {found.get("status")}')
    if problems:
        return _condition(READY, False, reason="ReadinessGatesNotReady", message=", ".join(problems))
    return _condition(READY, True)


def _problem_message(*groups: tuple[str, list[str]]) -> str:
    """`containers with unknown status: [a b], containers with ... status: [c]`, as Go prints it."""
    return ", ".join(f"containers with {kind} status: [{' '.join(names)}]" for kind, names in groups if names)


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


# --- the whole status ---------------------------------------------------------------------------------


def compute_pod_status(
    pod: JSON,
    runtime_statuses: Sequence[ContainerStatus],
    *,
    probe_state: Mapping[str, ProbeState],
    reason_cache: Mapping[str, tuple[str, str]],
    sandbox_ready: bool,
    now: str,
    pod_is_terminal: bool = False,
    host_ip: str = "",
    pod_ips: Sequence[str] = (),
    eviction: tuple[str, str] | None = None,
    active_sandbox_id: str | None = None,
    runtime_name: str = DEFAULT_RUNTIME_NAME,
) -> JSON:
    """The pod's new `status`, as `generateAPIPodStatus` builds it from the runtime's view.

    `pod["status"]` is the status last written: a terminal phase there is never left, the phase's
    reason and message are kept while the phase is unchanged, `startTime` is kept (else `now`), and
    condition transition times carry over. `eviction` is an eviction handler's verdict,
    `(reason, message)` such as `("DeadlineExceeded", "Pod was active on the node longer than the
    specified deadline")`; it forces `Failed`. The pod counts as initialized once a regular container
    exists in the runtime, in the sandbox `active_sandbox_id` if given. Probe results are applied
    before the phase is computed, so a sidecar's `started` counts in the same sync rather than the
    next one as in the kubelet.
    """
    previous = pod.get("status") or {}
    convert = functools.partial(
        convert_container_statuses,
        pod,
        runtime_statuses,
        probe_state=probe_state,
        reason_cache=reason_cache,
        runtime_name=runtime_name,
    )
    init_statuses = convert(init=True, previous=_index_by_name(previous.get("initContainerStatuses") or []))
    statuses = convert(init=False, previous=_index_by_name(previous.get("containerStatuses") or []))
    phase = get_phase(
        pod,
        init_statuses,
        statuses,
        pod_is_terminal=pod_is_terminal,
        pod_has_initialized=_has_active_regular_container(pod, runtime_statuses, active_sandbox_id),
    )
    phase, reason, message = _settle_phase(phase, previous, eviction)
    status: JSON = {
        "phase": phase,
        "conditions": generate_conditions(
            pod,
            phase,
            init_statuses,
            statuses,
            sandbox_ready=sandbox_ready,
            previous_conditions=previous.get("conditions"),
            now=now,
        ),
    }
    _put_if(status, "message", message)
    _put_if(status, "reason", reason)
    status.update(_addresses(pod, host_ip, pod_ips))
    status["startTime"] = previous.get("startTime") or now
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = statuses
    if _spec(pod).get("ephemeralContainers"):
        status["ephemeralContainerStatuses"] = convert(
            init=False, ephemeral=True, previous=_index_by_name(previous.get("ephemeralContainerStatuses") or [])
        )
    status["qosClass"] = qos_class(pod)
    return status


def _settle_phase(phase: str, previous: JSON, eviction: tuple[str, str] | None) -> tuple[str, str, str]:
    """Apply the kubelet's rules on top of `getPhase`: terminal is final, reasons stick to their phase."""
    old_phase = previous.get("phase")
    if phase not in TERMINAL_PHASES and old_phase in TERMINAL_PHASES:
        phase = old_phase
    reason = message = ""
    if phase == old_phase:
        reason, message = previous.get("reason", ""), previous.get("message", "")
    if eviction is not None:
        phase, (reason, message) = FAILED, eviction
    if old_phase in TERMINAL_PHASES:
        phase = old_phase
    return phase, reason, message


def _has_active_regular_container(
    pod: JSON, runtime_statuses: Sequence[ContainerStatus], sandbox_id: str | None
) -> bool:
    """`HasAnyActiveRegularContainerStarted`: a regular container exists in the current sandbox."""
    names = {c["name"] for c in _spec(pod).get("containers") or []}
    return any(
        s.name in names and (sandbox_id is None or s.sandbox_id == sandbox_id) for s in runtime_statuses
    )


def _addresses(pod: JSON, host_ip: str, pod_ips: Sequence[str]) -> JSON:
    if _spec(pod).get("hostNetwork") and not pod_ips and host_ip:
        pod_ips = [host_ip]  # host-network pods share the node's address
    addresses: JSON = {}
    if host_ip:
        addresses["hostIP"] = host_ip
        addresses["hostIPs"] = [{"ip": host_ip}]
    if pod_ips:
        addresses["podIP"] = pod_ips[0]
        addresses["podIPs"] = [{"ip": ip} for ip in pod_ips]
    return addresses


# --- small helpers ------------------------------------------------------------------------------------


def restart_policy(pod: JSON) -> str:
    """The pod's `restartPolicy`, `Always` when unset (the API default)."""
    return _spec(pod).get("restartPolicy") or "Always"


def _spec(pod: JSON) -> JSON:
    return pod.get("spec") or {}


def _containers(pod: JSON, *, init: bool) -> list[JSON]:
    return list(_spec(pod).get("initContainers" if init else "containers") or [])


def _is_sidecar(container: Mapping[str, Any] | None) -> bool:
    """`IsRestartableInitContainer`: an init container with `restartPolicy: Always`."""
    return container is not None and container.get("restartPolicy") == "Always"


def _history_by_name(runtime_statuses: Iterable[ContainerStatus]) -> dict[str, list[ContainerStatus]]:
    """Runtime instances per container name, newest first."""
    history: dict[str, list[ContainerStatus]] = {}
    for instance in sorted(runtime_statuses, key=lambda s: s.created_at, reverse=True):
        history.setdefault(instance.name, []).append(instance)
    return history


def _latest(runtime_statuses: Iterable[ContainerStatus], name: str) -> ContainerStatus | None:
    instances = [s for s in runtime_statuses if s.name == name]
    return max(instances, key=lambda s: s.created_at) if instances else None


def _index_by_name(statuses: Iterable[JSON]) -> dict[str, JSON]:
    index: dict[str, JSON] = {}
    for status in statuses:
        index.setdefault(status["name"], status)
    return index


def _has_state(status: JSON | None, kind: str) -> bool:
    return ((status or {}).get("state") or {}).get(kind) is not None


def _state_kind(status: JSON | None) -> str | None:
    """Which of `running`, `terminated` and `waiting` is set, checked in the kubelet's order."""
    return next((kind for kind in ("running", "terminated", "waiting") if _has_state(status, kind)), None)


def _last_terminated(status: JSON | None) -> JSON | None:
    return ((status or {}).get("lastState") or {}).get("terminated")


def _put_if(target: JSON, key: str, value: str) -> None:
    """Set an `omitempty` string field only when it has a value."""
    if value:
        target[key] = value
