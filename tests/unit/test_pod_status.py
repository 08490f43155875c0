"""The kubelet's pod status: container statuses, phase, conditions and QoS class.

The golden cases under tests/golden/pod_status/ each give a pod (spec, and the status last written),
what the runtime reports and what the kubelet remembers (start failures, probe results), and the status
expected back, plus the `kubectl get pods` row of the pod with that status. Runtime entries use the
fields of `podrun.runtime.protocol.ContainerStatus`, with RFC3339 times and `restart_count` standing
for the `io.kubernetes.container.restartCount` annotation.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from podrun.kubelet.qos import qos_class
from podrun.kubelet.status import (
    RESTART_COUNT_ANNOTATION,
    ProbeState,
    compute_pod_status,
    convert_container_statuses,
    generate_conditions,
    get_phase,
    should_container_be_restarted,
)
from podrun.printers import print_pod
from podrun.runtime.protocol import ContainerState, ContainerStatus

GOLDEN = Path(__file__).parent.parent / "golden" / "pod_status"
NOW = "2026-11-26T04:10:00Z"
T0 = datetime.fromisoformat("2026-11-26T04:08:00Z").timestamp()


class _ApiLoader(yaml.SafeLoader):
    """YAML as the API reads it: RFC3339 timestamps stay strings."""


_ApiLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_ApiLoader)


def _unix(timestamp: str | None) -> float:
    return datetime.fromisoformat(timestamp).timestamp() if timestamp else 0.0


def _runtime_record(entry: dict[str, Any]) -> ContainerStatus:
    return ContainerStatus(
        id=entry["id"],
        sandbox_id=entry.get("sandbox_id", "sandbox"),
        name=entry["name"],
        state=ContainerState(entry["state"]),
        image=entry.get("image", ""),
        image_id=entry.get("image_id", ""),
        created_at=_unix(entry["created_at"]),
        started_at=_unix(entry.get("started_at")),
        finished_at=_unix(entry.get("finished_at")),
        exit_code=entry.get("exit_code", 0),
        reason=entry.get("reason", ""),
        message=entry.get("message", ""),
        annotations={RESTART_COUNT_ANNOTATION: str(entry.get("restart_count", 0))},
    )


def _compute(case: dict[str, Any]) -> dict[str, Any]:
    return compute_pod_status(
        case["pod"],
        [_runtime_record(entry) for entry in case.get("runtime") or []],
        probe_state={cid: ProbeState(**state) for cid, state in (case.get("probes") or {}).items()},
        reason_cache={name: tuple(entry) for name, entry in (case.get("reason_cache") or {}).items()},
        sandbox_ready=case["sandbox_ready"],
        now=case["now"],
        pod_is_terminal=case.get("pod_is_terminal", False),
        host_ip=case.get("host_ip", ""),
        pod_ips=case.get("pod_ips", ()),
    )


GOLDEN_CASES = sorted(GOLDEN.glob("*.yaml"))


@pytest.mark.parametrize("path", GOLDEN_CASES, ids=lambda p: p.name)
def test_golden_status(path: Path) -> None:
    case = _load(path)
    expected = {key: value for key, value in case["expect"].items() if key != "row"}

    status = _compute(case)

    assert {key: status.get(key) for key in expected} == expected


@pytest.mark.parametrize("path", GOLDEN_CASES, ids=lambda p: p.name)
def test_golden_status_prints_as_kubectl_shows_it(path: Path) -> None:
    case = _load(path)
    pod = {**case["pod"], "status": _compute(case)}

    assert print_pod(pod, now=datetime.fromisoformat(case["now"])) == case["expect"]["row"]


# --- builders -----------------------------------------------------------------------------------------


def _pod(
    containers: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    policy: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers or [{"name": "app", "image": "nginx"}]}
    if init:
        spec["initContainers"] = init
    if policy:
        spec["restartPolicy"] = policy
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u1"}, "spec": spec, **extra}


def _record(
    name: str = "app",
    state: ContainerState = ContainerState.RUNNING,
    *,
    id: str | None = None,
    sandbox: str = "sandbox",
    created: float = 10,
    exit_code: int = 0,
    reason: str = "",
    restart_count: int = 0,
) -> ContainerStatus:
    return ContainerStatus(
        id=id or f"{name}-{int(created)}",
        sandbox_id=sandbox,
        name=name,
        state=state,
        image="ignored",
        image_id="sha256:abc",
        created_at=T0 + created,
        started_at=T0 + created + 0.5,
        finished_at=T0 + created + 5 if state == ContainerState.EXITED else 0.0,
        exit_code=exit_code,
        reason=reason,
        annotations={RESTART_COUNT_ANNOTATION: str(restart_count)},
    )


def _convert(
    pod: dict[str, Any],
    records: list[ContainerStatus],
    *,
    init: bool = False,
    probes: dict[str, ProbeState] | None = None,
    reasons: dict[str, tuple[str, str]] | None = None,
    previous: dict[str, dict[str, Any]] | None = None,
    runtime_name: str = "podrun",
) -> list[dict[str, Any]]:
    return convert_container_statuses(
        pod,
        records,
        init=init,
        probe_state=probes or {},
        reason_cache=reasons or {},
        previous=previous,
        runtime_name=runtime_name,
    )


def _status(name: str, state: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": name, "state": state, **fields}


RUNNING = {"running": {"startedAt": NOW}}
WAITING = {"waiting": {"reason": "ContainerCreating"}}


def _exited(code: int) -> dict[str, Any]:
    return {"terminated": {"exitCode": code}}


def _crashed(code: int = 1) -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": "Error"}}


# --- container statuses from runtime records ----------------------------------------------------------


def test_newest_runtime_instance_gives_state_and_the_one_before_gives_last_state() -> None:
    records = [
        _record(state=ContainerState.EXITED, created=10, exit_code=2),
        _record(created=20),
    ]

    [status] = _convert(_pod(), records)

    assert "running" in status["state"]
    assert status["lastState"]["terminated"]["exitCode"] == 2


def test_instances_older_than_the_last_two_are_ignored() -> None:
    records = [
        _record(state=ContainerState.EXITED, created=10, exit_code=3),
        _record(state=ContainerState.EXITED, created=20, exit_code=2),
        _record(created=30),
    ]

    [status] = _convert(_pod(), records)

    assert status["lastState"]["terminated"]["exitCode"] == 2


def test_restart_count_is_the_newest_instance_annotation() -> None:
    records = [_record(created=10, restart_count=4), _record(created=20, restart_count=5)]

    [status] = _convert(_pod(), records)

    assert status["restartCount"] == 5


def test_container_id_carries_the_runtime_name() -> None:
    [status] = _convert(_pod(), [_record(id="c0ffee")], runtime_name="runc")

    assert status["containerID"] == "runc://c0ffee"


def test_image_is_the_spec_image_and_image_id_the_runtime_one() -> None:
    [status] = _convert(_pod(), [_record()])

    assert (status["image"], status["imageID"]) == ("nginx", "sha256:abc")


def test_a_container_that_never_started_reports_the_unix_epoch_as_start() -> None:
    record = ContainerStatus(
        id="c1", sandbox_id="s", name="app", state=ContainerState.EXITED, image="", image_id="",
        created_at=T0, finished_at=T0 + 1, exit_code=128, reason="StartError",
    )  # fmt: skip

    [status] = _convert(_pod(), [record], reasons={})

    assert status["state"]["terminated"]["startedAt"] == "1970-01-01T00:00:00Z"


def test_a_container_without_runtime_record_is_container_creating() -> None:
    [status] = _convert(_pod(), [])

    assert status["state"] == {"waiting": {"reason": "ContainerCreating"}}


def test_any_init_container_makes_the_default_pod_initializing() -> None:
    pod = _pod(init=[{"name": "init", "image": "busybox"}])

    [status] = _convert(pod, [])

    assert status["state"] == {"waiting": {"reason": "PodInitializing"}}


def test_a_created_but_not_started_container_waits_without_reason() -> None:
    [status] = _convert(_pod(), [_record(state=ContainerState.CREATED)])

    assert status["state"] == {"waiting": {}}


def test_a_cached_start_failure_shows_as_the_waiting_reason() -> None:
    reasons = {"app": ("CreateContainerConfigError", 'configmap "settings" not found')}

    [status] = _convert(_pod(), [], reasons=reasons)

    assert status["state"] == {
        "waiting": {"reason": "CreateContainerConfigError", "message": 'configmap "settings" not found'}
    }


def test_a_cached_start_failure_moves_the_termination_to_last_state() -> None:
    records = [_record(state=ContainerState.EXITED, exit_code=1, reason="Error")]

    [status] = _convert(_pod(), records, reasons={"app": ("CrashLoopBackOff", "back-off 10s")})

    assert (status["state"]["waiting"]["reason"], status["lastState"]["terminated"]["exitCode"]) == (
        "CrashLoopBackOff",
        1,
    )


def test_a_cached_start_failure_is_not_shown_for_a_container_that_will_not_restart() -> None:
    records = [_record(state=ContainerState.EXITED, exit_code=1, reason="Error")]

    [status] = _convert(_pod(policy="Never"), records, reasons={"app": ("CrashLoopBackOff", "")})

    assert status["state"]["terminated"]["reason"] == "Error"


def test_a_completed_init_container_stays_terminated() -> None:
    pod = _pod(init=[{"name": "init", "image": "busybox"}])
    records = [_record("init", ContainerState.EXITED, reason="Completed")]

    [status] = _convert(pod, records, init=True, reasons={"init": ("CrashLoopBackOff", "")})

    assert status["state"]["terminated"]["reason"] == "Completed"


def test_a_regular_init_container_is_ready_once_it_completed() -> None:
    pod = _pod(init=[{"name": "init", "image": "busybox"}])

    [status] = _convert(pod, [_record("init", ContainerState.EXITED)], init=True)

    assert (status["ready"], status["started"]) == (True, False)


def test_a_running_regular_init_container_is_started_but_not_ready() -> None:
    pod = _pod(init=[{"name": "init", "image": "busybox"}])

    [status] = _convert(pod, [_record("init")], init=True)

    assert (status["ready"], status["started"]) == (False, True)


def test_a_running_container_without_probes_is_started_and_ready() -> None:
    [status] = _convert(_pod(), [_record()])

    assert (status["started"], status["ready"]) == (True, True)


def test_a_startup_probe_without_result_holds_started_and_ready() -> None:
    pod = _pod([{"name": "app", "image": "nginx", "startupProbe": {"exec": {"command": ["true"]}}}])

    [status] = _convert(pod, [_record()])

    assert (status["started"], status["ready"]) == (False, False)


def test_a_readiness_probe_without_result_holds_ready() -> None:
    pod = _pod([{"name": "app", "image": "nginx", "readinessProbe": {"exec": {"command": ["true"]}}}])

    [status] = _convert(pod, [_record()])

    assert (status["started"], status["ready"]) == (True, False)


def test_probe_results_are_looked_up_by_runtime_container_id() -> None:
    pod = _pod([{"name": "app", "image": "nginx", "readinessProbe": {"exec": {"command": ["true"]}}}])

    [status] = _convert(pod, [_record(id="c1")], probes={"c1": ProbeState(started=True, ready=True)})

    assert status["ready"] is True


def test_a_container_that_is_not_running_is_neither_started_nor_ready() -> None:
    records = [_record(state=ContainerState.EXITED)]

    [status] = _convert(_pod(), records, probes={"app-10": ProbeState(started=True, ready=True)})

    assert (status["started"], status["ready"]) == (False, False)


def test_the_last_terminated_status_is_kept_when_the_runtime_forgot_the_container() -> None:
    previous = {"app": _status("app", _crashed(), ready=False, restartCount=2, containerID="podrun://old")}

    [status] = _convert(_pod(policy="Never"), [], previous=previous)

    assert (status["state"], status["restartCount"], status["containerID"]) == (_crashed(), 2, "podrun://old")


def test_regular_statuses_are_sorted_by_name() -> None:
    pod = _pod([{"name": "zeta", "image": "x"}, {"name": "alpha", "image": "x"}])

    assert [s["name"] for s in _convert(pod, [])] == ["alpha", "zeta"]


def test_init_statuses_keep_spec_order() -> None:
    pod = _pod(init=[{"name": "second", "image": "x"}, {"name": "first", "image": "x"}])

    assert [s["name"] for s in _convert(pod, [], init=True)] == ["second", "first"]


# --- ShouldContainerBeRestarted -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "state", "exit_code", "restart"),
    [
        ("Always", ContainerState.EXITED, 0, True),
        ("Always", ContainerState.EXITED, 1, True),
        ("OnFailure", ContainerState.EXITED, 0, False),
        ("OnFailure", ContainerState.EXITED, 1, True),
        ("Never", ContainerState.EXITED, 1, False),
        ("Never", ContainerState.CREATED, 0, True),
        ("Never", ContainerState.UNKNOWN, 0, True),
        ("Always", ContainerState.RUNNING, 0, False),
    ],
)
def test_restart_follows_the_newest_instance_and_the_restart_policy(
    policy: str, state: ContainerState, exit_code: int, restart: bool
) -> None:
    records = [_record(state=state, exit_code=exit_code)]

    assert should_container_be_restarted({"name": "app"}, _pod(policy=policy), records) is restart


def test_a_container_that_never_ran_is_to_be_started() -> None:
    assert should_container_be_restarted({"name": "app"}, _pod(policy="Never"), []) is True


def test_nothing_restarts_in_a_pod_being_deleted() -> None:
    pod = _pod()
    pod["metadata"]["deletionTimestamp"] = NOW

    assert should_container_be_restarted({"name": "app"}, pod, []) is False


def test_the_newest_instance_decides_whether_to_restart() -> None:
    records = [_record(created=20, state=ContainerState.EXITED, exit_code=0), _record(created=10)]

    assert should_container_be_restarted({"name": "app"}, _pod(policy="OnFailure"), records) is False


# --- phase --------------------------------------------------------------------------------------------


def _phase(
    pod: dict[str, Any], init: list[dict[str, Any]], regular: list[dict[str, Any]], **flags: bool
) -> str:
    return get_phase(
        pod,
        init,
        regular,
        pod_is_terminal=flags.get("terminal", False),
        pod_has_initialized=flags.get("initialized", False),
    )


SIDECAR = {"name": "proxy", "image": "envoy", "restartPolicy": "Always"}
INIT = {"name": "init", "image": "busybox"}


def test_a_running_regular_init_container_keeps_the_pod_pending() -> None:
    pod = _pod(init=[INIT])

    assert _phase(pod, [_status("init", RUNNING)], [_status("app", WAITING)]) == "Pending"


def test_a_failed_init_container_fails_a_never_pod() -> None:
    pod = _pod(init=[INIT], policy="Never")

    assert _phase(pod, [_status("init", _crashed())], [_status("app", WAITING)]) == "Failed"


def test_a_failed_init_container_waiting_for_restart_keeps_an_always_pod_pending() -> None:
    pod = _pod(init=[INIT, {"name": "init2", "image": "busybox"}])
    restarting = _status("init", {"waiting": {"reason": "CrashLoopBackOff"}}, lastState=_crashed())

    assert _phase(pod, [restarting, _status("init2", WAITING)], [_status("app", WAITING)]) == "Pending"


def test_a_sidecar_not_yet_started_keeps_an_uninitialized_pod_pending() -> None:
    pod = _pod(init=[SIDECAR])
    statuses = [_status("proxy", RUNNING, started=False)], [_status("app", RUNNING)]

    assert _phase(pod, *statuses, initialized=False) == "Pending"


def test_a_sidecar_not_started_again_does_not_take_an_initialized_pod_back_to_pending() -> None:
    pod = _pod(init=[SIDECAR])
    statuses = [_status("proxy", RUNNING, started=False)], [_status("app", RUNNING)]

    assert _phase(pod, *statuses, initialized=True) == "Running"


def test_a_container_waiting_for_its_first_start_keeps_the_pod_pending() -> None:
    pod = _pod([{"name": "a", "image": "x"}, {"name": "b", "image": "x"}])

    assert _phase(pod, [], [_status("a", RUNNING), _status("b", WAITING)]) == "Pending"


def test_a_container_without_status_keeps_the_pod_pending() -> None:
    pod = _pod([{"name": "a", "image": "x"}, {"name": "b", "image": "x"}])

    assert _phase(pod, [], [_status("a", RUNNING)]) == "Pending"


def test_a_never_pod_with_one_failed_container_fails() -> None:
    pod = _pod([{"name": "a", "image": "x"}, {"name": "b", "image": "x"}], policy="Never")

    assert _phase(pod, [], [_status("a", _exited(0)), _status("b", _exited(1))]) == "Failed"


def test_an_on_failure_pod_whose_containers_all_succeeded_succeeds() -> None:
    pod = _pod(policy="OnFailure")

    assert _phase(pod, [], [_status("app", _exited(0))]) == "Succeeded"


def test_a_terminal_always_pod_takes_its_phase_from_the_exit_codes() -> None:
    pod = _pod()

    assert _phase(pod, [], [_status("app", _exited(143))], terminal=True) == "Failed"


def test_a_terminated_sidecar_does_not_count_for_the_phase() -> None:
    pod = _pod(init=[SIDECAR], policy="Never")

    assert _phase(pod, [_status("proxy", _crashed(137))], [_status("app", _exited(0))]) == "Succeeded"


# --- conditions ---------------------------------------------------------------------------------------


def _conditions(
    pod: dict[str, Any],
    phase: str,
    statuses: list[dict[str, Any]],
    init: list[dict[str, Any]] | None = None,
    previous: list[dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    conditions = generate_conditions(
        pod, phase, init or [], statuses, sandbox_ready=True, previous_conditions=previous, now=NOW
    )
    return {c["type"]: c for c in conditions}


def test_an_unchanged_condition_keeps_its_transition_time() -> None:
    previous = [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-26T04:08:20Z"}]

    ready = _conditions(_pod(), "Running", [_status("app", RUNNING, ready=True)], previous=previous)["Ready"]

    assert ready["lastTransitionTime"] == "2026-11-26T04:08:20Z"


def test_a_flipped_condition_transitions_now() -> None:
    previous = [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-26T04:08:20Z"}]

    ready = _conditions(_pod(), "Running", [_status("app", RUNNING, ready=False)], previous=previous)["Ready"]

    assert ready["lastTransitionTime"] == NOW


def test_the_kubelet_never_sets_a_probe_time() -> None:
    conditions = _conditions(_pod(), "Running", [_status("app", RUNNING, ready=True)])

    assert {c["lastProbeTime"] for c in conditions.values()} == {None}


def test_conditions_come_in_the_kubelets_order_after_foreign_ones() -> None:
    previous = [{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}]

    conditions = generate_conditions(
        _pod(), "Running", [], [], sandbox_ready=True, previous_conditions=previous, now=NOW
    )

    assert [c["type"] for c in conditions] == [
        "DisruptionTarget",
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]


def test_a_container_without_status_is_reported_as_unknown() -> None:
    pod = _pod([{"name": "a", "image": "x"}, {"name": "b", "image": "x"}])

    ready = _conditions(pod, "Pending", [_status("a", RUNNING, ready=False)])["ContainersReady"]

    assert ready["message"] == "containers with unknown status: [b], containers with unready status: [a]"


def test_a_missing_readiness_gate_condition_is_named() -> None:
    pod = _pod()
    pod["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}]

    ready = _conditions(pod, "Running", [_status("app", RUNNING, ready=True)])["Ready"]

    assert (ready["reason"], ready["message"]) == (
        "ReadinessGatesNotReady",
        'corresponding condition of pod readiness gate "example.com/lb" does not exist.',
    )


def test_a_pod_stays_initialized_while_a_sidecar_restarts() -> None:
    pod = _pod(init=[SIDECAR])
    restarting = _status("proxy", {"waiting": {"reason": "CrashLoopBackOff"}}, started=False)

    initialized = _conditions(pod, "Running", [_status("app", RUNNING, ready=True)], init=[restarting])

    assert initialized["Initialized"]["status"] == "True"


def test_a_started_sidecar_counts_as_initialized_without_being_ready() -> None:
    pod = _pod(init=[SIDECAR])
    sidecar = _status("proxy", RUNNING, started=True, ready=False)

    conditions = _conditions(pod, "Pending", [_status("app", WAITING)], init=[sidecar])

    assert conditions["Initialized"]["status"] == "True"


# --- the whole status ---------------------------------------------------------------------------------


def _pod_status(pod: dict[str, Any], records: list[ContainerStatus], **options: Any) -> dict[str, Any]:
    return compute_pod_status(
        pod, records, probe_state={}, reason_cache={}, sandbox_ready=True, now=NOW, **options
    )


def test_a_terminal_phase_is_never_left() -> None:
    pod = _pod(status={"phase": "Succeeded"})

    assert _pod_status(pod, [_record()])["phase"] == "Succeeded"


def test_reason_and_message_stay_while_the_phase_is_unchanged() -> None:
    pod = _pod(status={"phase": "Running", "reason": "Because", "message": "so it is"})

    status = _pod_status(pod, [_record()])

    assert (status["reason"], status["message"]) == ("Because", "so it is")


def test_reason_and_message_go_when_the_phase_changes() -> None:
    pod = _pod(status={"phase": "Pending", "reason": "Because", "message": "so it is"})

    status = _pod_status(pod, [_record()])

    assert ("reason" in status, "message" in status) == (False, False)


def test_an_eviction_fails_the_pod_with_its_reason() -> None:
    deadline = ("DeadlineExceeded", "Pod was active on the node longer than the specified deadline")

    status = _pod_status(_pod(status={"phase": "Running"}), [_record()], eviction=deadline)

    assert (status["phase"], status["reason"], status["message"]) == ("Failed", *deadline)


def test_the_start_time_is_kept_once_set() -> None:
    pod = _pod(status={"phase": "Running", "startTime": "2026-11-26T04:08:13Z"})

    assert _pod_status(pod, [_record()])["startTime"] == "2026-11-26T04:08:13Z"


def test_a_host_network_pod_has_the_node_address() -> None:
    pod = _pod()
    pod["spec"]["hostNetwork"] = True

    status = _pod_status(pod, [_record()], host_ip="192.168.1.10")

    assert (status["podIP"], status["podIPs"]) == ("192.168.1.10", [{"ip": "192.168.1.10"}])


def test_a_pod_without_init_containers_has_no_init_statuses() -> None:
    assert "initContainerStatuses" not in _pod_status(_pod(), [_record()])


def test_only_regular_containers_of_the_active_sandbox_mark_the_pod_initialized() -> None:
    pod = _pod(init=[{**SIDECAR, "startupProbe": {"exec": {"command": ["true"]}}}])
    records = [_record("proxy", sandbox="new"), _record("app", ContainerState.EXITED, sandbox="old")]

    assert _pod_status(pod, records, active_sandbox_id="new")["phase"] == "Pending"


# --- QoS class ----------------------------------------------------------------------------------------


def _resources(
    limits: dict[str, Any] | None = None, requests: dict[str, Any] | None = None
) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if limits is not None:
        resources["limits"] = limits
    if requests is not None:
        resources["requests"] = requests
    return {"name": "app", "image": "nginx", "resources": resources}


@pytest.mark.parametrize(
    ("containers", "qos"),
    [
        ([{"name": "app", "image": "nginx"}], "BestEffort"),
        ([_resources(requests={"cpu": "100m"})], "Burstable"),
        (
            [_resources(limits={"cpu": "1", "memory": "1Gi"}, requests={"cpu": "1", "memory": "1Gi"})],
            "Guaranteed",
        ),
        ([_resources(limits={"cpu": "1", "memory": "1Gi"})], "Guaranteed"),
        ([_resources(limits={"cpu": "1", "memory": "1Gi"}, requests={"cpu": "500m"})], "Burstable"),
        ([_resources(limits={"cpu": "1"})], "Burstable"),
        ([_resources(limits={"cpu": "1", "memory": "1Gi"}, requests={"memory": "1024Mi"})], "Guaranteed"),
        ([_resources(requests={"cpu": "0"})], "BestEffort"),
        ([_resources(requests={"ephemeral-storage": "1Gi"})], "BestEffort"),
        (
            [_resources(limits={"cpu": "500m", "memory": "1G"}, requests={"cpu": "0.5", "memory": "1e9"})],
            "Guaranteed",
        ),
    ],
)
def test_qos_class_follows_requests_and_limits(containers: list[dict[str, Any]], qos: str) -> None:
    assert qos_class(_pod(containers)) == qos


def test_an_init_container_without_limits_makes_the_pod_burstable() -> None:
    guaranteed = _resources(limits={"cpu": "1", "memory": "1Gi"})

    assert qos_class(_pod([guaranteed], init=[INIT])) == "Burstable"
