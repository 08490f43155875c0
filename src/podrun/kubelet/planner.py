"""The pure planner: what to kill and what to start for one pod, decided as the kubelet decides it.

`compute_pod_actions` is the kubelet's `computePodActions` (`pkg/kubelet/kuberuntime/kuberuntime_manager.go`)
with `computeInitContainerActions` (`kuberuntime_container.go`) and `ShouldContainerBeRestarted`
(`pkg/kubelet/container/helpers.go`), as of v1.33/1.34 with default gates: every pod goes through
`computeInitContainerActions` (the `LegacySidecarContainers` gate, off since v1.33, would send pods without
sidecars through `findNextInitContainerToRun`). Ephemeral containers are started once each, whether the pod
has initialized or not, and never restarted: any runtime instance with the name means the container has had
its run. Left out: in-place resize and the alpha restart-rule gates.

It is a pure function of the pod spec (a Kubernetes API dict), what the runtime reports and the published
probe results. It does no I/O, reads no clock and mutates none of its inputs. Two kubelet steps that look
like planning happen later, in the executor, exactly where the kubelet does them: the CrashLoopBackOff check
(`doBackOff`, at each container start) and image pulls (`EnsureImageExists`, inside `startContainer`).

The caller passes the sandboxes and containers of this one pod only (all of them, exited ones included), as
`GetPodStatus` gives the kubelet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from podrun.kubelet.labels import CONTAINER_HASH, CONTAINER_NAME, container_hash
from podrun.runtime.protocol import ContainerState, ContainerStatus, SandboxStatus

ProbeResult = Literal["success", "failure"]

# Why a container is killed (the kubelet's `containerKillReason`). The executor uses the probe reasons to
# pick the probe's own terminationGracePeriodSeconds (`setTerminationGracePeriod`).
REASON_STARTUP_PROBE = "StartupProbe"
REASON_LIVENESS_PROBE = "LivenessProbe"
REASON_UNKNOWN = "Unknown"


@dataclass(frozen=True)
class ProbeResults:
    """Published startup and liveness results, keyed by runtime container ID (the kubelet's results managers).

    A container ID that is absent, or maps to None, has no result yet: the kubelet's "not found", or the
    startup worker's initial Unknown. Both make the planner wait.
    """

    startup: Mapping[str, ProbeResult | None] = field(default_factory=dict)
    liveness: Mapping[str, ProbeResult | None] = field(default_factory=dict)


@dataclass(frozen=True)
class KillInfo:
    """Why one runtime container is to be killed (the kubelet's `containerToKillInfo`).

    `message` is the text of the Normal `Killing` event; `reason` is one of the `REASON_*` constants, or ""
    when the spec changed.
    """

    name: str
    container: dict[str, Any]
    reason: str
    message: str


@dataclass
class PodActions:
    """What one sync must do, in the order `SyncPod` does it (the kubelet's `podActions`).

    If `kill_pod`, every container and the sandbox are stopped and `containers_to_kill` is not consulted;
    if `create_sandbox` as well, old init containers are purged and a sandbox is created with `attempt`.
    Then `ephemeral_containers_to_start` (indexes into spec.ephemeralContainers), `init_containers_to_start`
    (indexes into spec.initContainers, in spec order) and `containers_to_start` (indexes into spec.containers)
    are started, one after the other.
    `sandbox_id` is the existing sandbox, or "" if there is none.
    """

    kill_pod: bool = False
    create_sandbox: bool = False
    sandbox_id: str = ""
    attempt: int = 0
    ephemeral_containers_to_start: list[int] = field(default_factory=list)
    init_containers_to_start: list[int] = field(default_factory=list)
    containers_to_start: list[int] = field(default_factory=list)
    containers_to_kill: dict[str, KillInfo] = field(default_factory=dict)  # runtime container ID -> why


def compute_pod_actions(
    pod: dict[str, Any],
    sandboxes: list[SandboxStatus],
    containers: list[ContainerStatus],
    probes: ProbeResults,
) -> PodActions:
    """Decide what to kill and what to start for `pod`, given everything the runtime has for it."""
    latest = _latest_by_name(containers)
    create_sandbox, attempt, sandbox_id = _sandbox_changed(sandboxes)

    # The kubelet hands a deleted pod to syncTerminatingPod, which kills it and starts nothing;
    # ShouldContainerBeRestarted says the same for every container once deletionTimestamp is set.
    if _is_deleting(pod):
        return PodActions(kill_pod=True, sandbox_id=sandbox_id, attempt=attempt)

    actions = PodActions(
        kill_pod=create_sandbox, create_sandbox=create_sandbox, sandbox_id=sandbox_id, attempt=attempt
    )
    if create_sandbox:
        return _plan_new_sandbox(pod, containers, latest, actions)

    # Ephemeral containers may start before initialization completes; they are never restarted.
    actions.ephemeral_containers_to_start = [
        index for index, container in enumerate(_ephemeral_containers(pod)) if container["name"] not in latest
    ]
    initialized = _compute_init_container_actions(pod, latest, probes, actions)
    if actions.kill_pod or not initialized:
        # Initialization failed or is still in progress: regular containers wait.
        return actions

    _compute_regular_container_actions(pod, latest, probes, actions)
    return actions


def should_container_be_restarted(
    container: dict[str, Any], pod: dict[str, Any], statuses: Iterable[ContainerStatus]
) -> bool:
    """Whether a container that is not running should be started (`ShouldContainerBeRestarted`).

    Judged on the newest runtime instance with the container's name: none, Created or Unknown means
    start; Running means no; Exited follows the pod's restartPolicy. A deleting pod restarts nothing.
    """
    return _should_restart(container, pod, _latest_by_name(statuses).get(container["name"]))


def _plan_new_sandbox(
    pod: dict[str, Any],
    containers: list[ContainerStatus],
    latest: dict[str, ContainerStatus],
    actions: PodActions,
) -> PodActions:
    """The sandbox changed: kill everything and start from the beginning, unless the pod is finished.

    This is the `if createPodSandbox` branch of `computePodActions`.
    """
    policy = _restart_policy(pod)
    if policy == "Never" and actions.attempt != 0 and containers:
        # A Never pod whose sandbox died after its containers ran is over: kill what is left and do not
        # create a sandbox just to tear it down. With no container at all, creating one is retried.
        actions.create_sandbox = False
        return actions

    # Under OnFailure, containers that already succeeded are not run again.
    to_start = [
        index
        for index, container in enumerate(_regular_containers(pod))
        if not (policy == "OnFailure" and _succeeded(latest.get(container["name"])))
    ]
    if not to_start and _any_regular_container_created(pod, latest):
        # Initialization is done and nothing is left to run: the pod is finished.
        actions.create_sandbox = False
        return actions

    if _init_containers(pod):
        # A new sandbox re-runs the whole init chain (SyncPod purges the old init containers).
        actions.init_containers_to_start = [0]
    else:
        actions.containers_to_start = to_start
    return actions


def _compute_init_container_actions(
    pod: dict[str, Any],
    latest: dict[str, ContainerStatus],
    probes: ProbeResults,
    actions: PodActions,
) -> bool:
    """Plan init containers and sidecars into `actions`; return whether the pod has initialized.

    This is `computeInitContainerActions`. It walks the init containers in reverse: completed init
    containers may have been removed from the runtime, so the last one with a status decides what comes
    next. Sidecars (init containers with restartPolicy Always) earlier in the list are still kept running.
    """
    init_containers = _init_containers(pod)
    if not init_containers:
        return True

    # A regular container that is Created or Running proves initialization finished at some point, even if
    # the init containers' records are gone. Exited does not count: after a node reboot every container
    # is Exited and the new sandbox must initialize again.
    pod_has_initialized = any(
        status is not None and status.state in (ContainerState.CREATED, ContainerState.RUNNING)
        for status in (latest.get(c["name"]) for c in _regular_containers(pod))
    )
    # Whether the init containers before the one being looked at are done: true once a later one has a
    # status, since init containers only ever start in order.
    previously_initialized = pod_has_initialized
    restart_on_failure = _restart_policy(pod) != "Never"
    last = len(init_containers) - 1
    to_start = actions.init_containers_to_start  # collected in reverse, put in spec order at the end

    for index in range(last, -1, -1):
        container = init_containers[index]
        status = latest.get(container["name"])
        sidecar = _is_sidecar(container)

        if status is None:
            # Once initialized, a sidecar whose record is gone is started again.
            if previously_initialized and sidecar:
                to_start.append(index)
            continue
        if previously_initialized and not sidecar:
            # After initialization, regular init containers never run again.
            continue

        if status.state == ContainerState.CREATED:
            # The runtime failed to start it; start it again rather than leave it stuck.
            to_start.append(index)
        elif status.state == ContainerState.RUNNING:
            # A running regular init container is waited for. A running sidecar, once started, lets the
            # next init container start (or completes initialization if it is the last one).
            if sidecar and _sidecar_started(container, status, index, probes, actions):
                if index == last:
                    pod_has_initialized = True
                elif not previously_initialized:
                    to_start.append(index + 1)
                _restart_unhealthy_sidecar(container, status, index, probes, actions)
        elif status.state == ContainerState.EXITED:
            if sidecar:
                # Sidecars are restarted whatever the pod's restartPolicy.
                to_start.append(index)
            elif _init_container_failed(status):
                if not restart_on_failure:
                    actions.kill_pod = True
                    actions.init_containers_to_start = []
                    return False
                to_start.append(index)
            elif index == last:
                pod_has_initialized = True
            else:
                to_start.append(index + 1)
        else:
            if not sidecar and not restart_on_failure:
                actions.kill_pod = True
                actions.init_containers_to_start = []
                return False
            # Unknown: it may still run, so kill it before starting another instance.
            _kill(
                actions,
                status,
                container,
                REASON_UNKNOWN,
                f'Init container is in "{status.state}" state, try killing it before restart',
            )
            to_start.append(index)

        previously_initialized = True

    if not previously_initialized:
        # No init container has a status: start the first.
        to_start.append(0)
    to_start.reverse()
    return pod_has_initialized


def _sidecar_started(
    container: dict[str, Any],
    status: ContainerStatus,
    index: int,
    probes: ProbeResults,
    actions: PodActions,
) -> bool:
    """Whether a running sidecar counts as started: no startup probe, or one that succeeded.

    A startup probe failure kills the sidecar and starts it again (`computeInitContainerActions`).
    """
    if container.get("startupProbe") is None:
        return True
    result = probes.startup.get(status.id)
    if result == "failure":
        name = container["name"]
        _kill(actions, status, container, REASON_STARTUP_PROBE, f"Init container {name} failed startup probe")
        actions.init_containers_to_start.append(index)
    return result == "success"


def _restart_unhealthy_sidecar(
    container: dict[str, Any],
    status: ContainerStatus,
    index: int,
    probes: ProbeResults,
    actions: PodActions,
) -> None:
    """Kill and restart a started sidecar whose image changed or whose liveness probe failed.

    Liveness does not hold back the next init container; it only restarts this one.
    """
    name = container["name"]
    if _definition_changed(container, status):
        _kill(actions, status, container, "", f"Init container {name} definition changed")
        actions.init_containers_to_start.append(index)
    elif container.get("livenessProbe") is not None and probes.liveness.get(status.id) == "failure":
        message = f"Init container {name} failed liveness probe"
        _kill(actions, status, container, REASON_LIVENESS_PROBE, message)
        actions.init_containers_to_start.append(index)


def _compute_regular_container_actions(
    pod: dict[str, Any],
    latest: dict[str, ContainerStatus],
    probes: ProbeResults,
    actions: PodActions,
) -> None:
    """Plan the regular containers of an initialized pod into `actions` (the rest of `computePodActions`)."""
    restart_on_failure = _restart_policy(pod) != "Never"
    keep_count = 0  # running containers that stay as they are

    for index, container in enumerate(_regular_containers(pod)):
        name = container["name"]
        status = latest.get(name)
        if status is None or status.state != ContainerState.RUNNING:
            if _should_restart(container, pod, status):
                actions.containers_to_start.append(index)
                if status is not None and status.state == ContainerState.UNKNOWN:
                    # It may still run: kill it so two instances never run at once.
                    _kill(
                        actions,
                        status,
                        container,
                        REASON_UNKNOWN,
                        f'Container is in "{status.state}" state, try killing it before restart',
                    )
            continue

        # Running. A changed spec restarts it whatever the policy; a failed probe kills it and restarts
        # it only if the policy restarts failed containers.
        restart = restart_on_failure
        if _definition_changed(container, status):
            reason, message, restart = "", f"Container {name} definition changed", True
        elif probes.liveness.get(status.id) == "failure":
            reason, message = REASON_LIVENESS_PROBE, f"Container {name} failed liveness probe"
        elif probes.startup.get(status.id) == "failure":
            reason, message = REASON_STARTUP_PROBE, f"Container {name} failed startup probe"
        else:
            keep_count += 1
            continue
        if restart:
            message += ", will be restarted"
            actions.containers_to_start.append(index)
        _kill(actions, status, container, reason, message)

    if keep_count == 0 and not actions.containers_to_start:
        # Nothing runs and nothing will: the pod is done. Sidecars must not keep it alive, so they are
        # not restarted.
        actions.kill_pod = True
        actions.init_containers_to_start = []


def _should_restart(container: dict[str, Any], pod: dict[str, Any], status: ContainerStatus | None) -> bool:
    """`ShouldContainerBeRestarted`, given the newest runtime instance of the container (or None)."""
    if _is_deleting(pod):
        return False
    if status is None:
        # Never ran, or every instance was garbage-collected.
        return True
    if status.state == ContainerState.RUNNING:
        return False
    if status.state in (ContainerState.UNKNOWN, ContainerState.CREATED):
        return True
    policy = _restart_policy(pod)
    if policy == "Never":
        return False
    return not (policy == "OnFailure" and status.exit_code == 0)


def _sandbox_changed(sandboxes: list[SandboxStatus]) -> tuple[bool, int, str]:
    """Whether a new sandbox is needed, the attempt number it gets, and the current sandbox's ID.

    This is `PodSandboxChanged` (`pkg/kubelet/kuberuntime/util/util.go`): a new sandbox is needed when there
    is none, when the newest is not ready, or when more than one is ready. Two of its rules cannot apply:
    podrun's SandboxStatus records neither the network mode (host network is fixed at creation) nor a CRI
    attempt number, and an empty IP is normal for a loopback-only pod. The attempt is derived from the
    count of sandboxes; the plan only depends on whether it is 0, that is on whether a sandbox ever existed.
    """
    if not sandboxes:
        return True, 0, ""
    newest = max(sandboxes, key=lambda sandbox: sandbox.created_at)
    max_attempt = len(sandboxes) - 1
    ready_count = sum(1 for sandbox in sandboxes if sandbox.ready)
    if ready_count > 1 or not newest.ready:
        return True, max_attempt + 1, newest.id
    return False, max_attempt, newest.id


def _latest_by_name(statuses: Iterable[ContainerStatus]) -> dict[str, ContainerStatus]:
    """The newest runtime instance of each container name (`FindContainerStatusByName` on a sorted list)."""
    latest: dict[str, ContainerStatus] = {}
    for status in sorted(statuses, key=lambda s: s.created_at, reverse=True):
        latest.setdefault(status.labels.get(CONTAINER_NAME, status.name), status)
    return latest


def _kill(
    actions: PodActions, status: ContainerStatus, container: dict[str, Any], reason: str, message: str
) -> None:
    actions.containers_to_kill[status.id] = KillInfo(
        name=container["name"], container=container, reason=reason, message=message
    )


def _definition_changed(container: dict[str, Any], status: ContainerStatus) -> bool:
    """`containerChanged`: the running instance was created from another spec. A missing hash differs too."""
    return status.annotations.get(CONTAINER_HASH) != container_hash(container)


def _init_container_failed(status: ContainerStatus) -> bool:
    """`isInitContainerFailed`: OOM-killed, exited non-zero, or in an unknown state."""
    if status.reason == "OOMKilled":
        return True
    if status.state == ContainerState.EXITED and status.exit_code != 0:
        return True
    return status.state == ContainerState.UNKNOWN


def _succeeded(status: ContainerStatus | None) -> bool:
    """`containerSucceeded`: the newest instance exited with code 0."""
    return status is not None and status.state == ContainerState.EXITED and status.exit_code == 0


def _any_regular_container_created(pod: dict[str, Any], latest: dict[str, ContainerStatus]) -> bool:
    """`hasAnyRegularContainerCreated`: some regular container was Created, Running or Exited."""
    created = (ContainerState.CREATED, ContainerState.RUNNING, ContainerState.EXITED)
    return any(
        status is not None and status.state in created
        for status in (latest.get(c["name"]) for c in _regular_containers(pod))
    )


def _restart_policy(pod: dict[str, Any]) -> str:
    return pod.get("spec", {}).get("restartPolicy") or "Always"


def _is_deleting(pod: dict[str, Any]) -> bool:
    return pod.get("metadata", {}).get("deletionTimestamp") is not None


def _is_sidecar(container: dict[str, Any]) -> bool:
    """`IsRestartableInitContainer`: an init container with restartPolicy Always."""
    return container.get("restartPolicy") == "Always"


def _init_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod.get("spec", {}).get("initContainers") or []


def _regular_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod.get("spec", {}).get("containers") or []


def _ephemeral_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod.get("spec", {}).get("ephemeralContainers") or []
