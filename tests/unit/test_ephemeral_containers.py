"""Ephemeral containers (`kubectl debug`): their validation, the subresource's strategy, the planner (started
once, never restarted), their statuses, and how the worker and the OCI config join a target's PID namespace."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from node_fakes import fake_node, simple_pod

from podrun.api.errors import ApiError
from podrun.api.registry import RESOURCES
from podrun.api.strategy import prepare_ephemeral_containers_update
from podrun.kubelet.labels import CONTAINER_HASH, CONTAINER_NAME, container_hash
from podrun.kubelet.planner import ProbeResults, compute_pod_actions
from podrun.kubelet.status import compute_pod_status
from podrun.model.defaults import default_pod
from podrun.model.validation import validate_pod, validate_pod_ephemeral_containers_update, validate_pod_update
from podrun.runtime.ocispec import SandboxPaths, namespaces
from podrun.runtime.protocol import ContainerState, ContainerStatus, SandboxConfig, SandboxStatus

DEBUGGER = {"name": "debugger", "image": "busybox:1.36", "targetContainerName": "app", "stdin": True, "tty": True}


def running_pod(*ephemeral: dict[str, Any], init: list[dict[str, Any]] | None = None, policy: str = "Always") -> Any:
    """A defaulted, bound pod `web` with one container `app` and the given ephemeral containers."""
    spec: dict[str, Any] = {"restartPolicy": policy, "containers": [{"name": "app", "image": "nginx:1.27"}]}
    if init:
        spec["initContainers"] = init
    if ephemeral:
        spec["ephemeralContainers"] = list(ephemeral)
    return default_pod({"metadata": {"name": "web", "namespace": "default", "uid": "uid-1"}, "spec": spec})


def with_ephemeral(pod: Any, *ephemeral: dict[str, Any]) -> Any:
    new = copy.deepcopy(pod)
    new["spec"]["ephemeralContainers"] = [*(pod["spec"].get("ephemeralContainers") or []), *ephemeral]
    return default_pod(new)


def update_errors(old: Any, new: Any) -> list[str]:
    return [str(error) for error in validate_pod_ephemeral_containers_update(old, new)]


# --- validation -----------------------------------------------------------------------------------------------


def test_adding_an_ephemeral_container_that_targets_a_container_is_valid() -> None:
    old = running_pod()
    assert update_errors(old, with_ephemeral(old, DEBUGGER)) == []


def test_kubectl_debugs_empty_resources_are_allowed() -> None:
    old = running_pod()
    assert update_errors(old, with_ephemeral(old, dict(DEBUGGER, resources={}))) == []


def test_ports_probes_resources_and_lifecycle_cannot_be_set() -> None:
    old = running_pod()
    probe = {"exec": {"command": ["true"]}}
    debugger = dict(
        DEBUGGER, ports=[{"containerPort": 80}], resources={"limits": {"cpu": "1"}}, livenessProbe=probe,
        readinessProbe=probe, startupProbe=probe, lifecycle={"preStop": probe},
    )  # fmt: skip
    forbidden = [e for e in update_errors(old, with_ephemeral(old, debugger)) if "Ephemeral" in e]
    assert forbidden == [
        f"spec.ephemeralContainers[0].{key}: Forbidden: cannot be set for an Ephemeral Container"
        for key in ("ports", "resources", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle")
    ]


def test_sub_paths_cannot_be_mounted() -> None:
    old = running_pod()
    old["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
    old = default_pod(old)
    mount = {"name": "data", "mountPath": "/data", "subPath": "x"}
    assert update_errors(old, with_ephemeral(old, dict(DEBUGGER, volumeMounts=[mount]))) == [
        "spec.ephemeralContainers[0].volumeMounts[0].subPath: Forbidden: cannot be set for an Ephemeral Container"
    ]


def test_names_are_unique_across_every_kind_of_container() -> None:
    old = running_pod(init=[{"name": "setup", "image": "busybox:1.36"}])
    new = with_ephemeral(old, dict(DEBUGGER, name="app"), dict(DEBUGGER, name="setup"), DEBUGGER, DEBUGGER)
    assert update_errors(old, new) == [
        'spec.ephemeralContainers[0].name: Duplicate value: "app"',
        'spec.ephemeralContainers[1].name: Duplicate value: "setup"',
        'spec.ephemeralContainers[3].name: Duplicate value: "debugger"',
    ]


def test_the_target_must_be_an_init_or_regular_container() -> None:
    old = running_pod(dict(DEBUGGER, targetContainerName=""))
    new = with_ephemeral(old, dict(DEBUGGER, name="second", targetContainerName="debugger"))
    assert update_errors(old, new) == [
        'spec.ephemeralContainers[1].targetContainerName: Not found: "debugger"'
    ]


def test_existing_ephemeral_containers_cannot_be_removed() -> None:
    old = running_pod(DEBUGGER)
    new = copy.deepcopy(old)
    del new["spec"]["ephemeralContainers"]
    assert update_errors(old, new) == [
        'spec.ephemeralContainers: Forbidden: existing ephemeral containers "debugger" may not be removed\n'
    ]


def test_existing_ephemeral_containers_cannot_be_changed() -> None:
    old = running_pod(DEBUGGER)
    new = copy.deepcopy(old)
    new["spec"]["ephemeralContainers"][0]["image"] = "alpine:3"
    assert update_errors(old, new) == [
        'spec.ephemeralContainers: Forbidden: existing ephemeral containers "debugger" may not be changed\n'
        '- debugger.image: "busybox:1.36"\n+ debugger.image: "alpine:3"\n'
    ]


def test_existing_ephemeral_containers_are_matched_by_name_not_position() -> None:
    first = dict(DEBUGGER, name="first")
    old = running_pod(first, DEBUGGER)
    new = copy.deepcopy(old)
    new["spec"]["ephemeralContainers"].reverse()
    assert update_errors(old, new) == []


def test_a_pod_update_cannot_add_ephemeral_containers() -> None:
    old = running_pod()
    [error] = validate_pod_update(old, with_ephemeral(old, DEBUGGER))
    assert str(error).startswith("spec: Forbidden: pod updates may not change fields other than")
    assert "+ spec.ephemeralContainers" in str(error)


def test_a_pod_cannot_be_created_with_ephemeral_containers() -> None:
    assert [str(e) for e in validate_pod(running_pod(DEBUGGER))] == [
        "spec.ephemeralContainers: Forbidden: cannot be set on create"
    ]


# --- the subresource's strategy ---------------------------------------------------------------------------------


def test_the_subresource_changes_only_the_ephemeral_containers() -> None:
    old = running_pod()
    body = with_ephemeral(old, DEBUGGER)
    body["spec"]["activeDeadlineSeconds"] = 5
    body["metadata"]["labels"] = {"changed": "yes"}
    new = prepare_ephemeral_containers_update(RESOURCES["pods"], old, body)
    assert new["spec"]["ephemeralContainers"][0]["name"] == "debugger"
    assert new["spec"]["ephemeralContainers"][0]["terminationMessagePath"] == "/dev/termination-log"  # defaulted
    assert "activeDeadlineSeconds" not in new["spec"] and "labels" not in new["metadata"]


def test_an_invalid_ephemeral_container_is_a_422_on_the_pod() -> None:
    old = running_pod()
    body = with_ephemeral(old, dict(DEBUGGER, targetContainerName="nope"))
    try:
        prepare_ephemeral_containers_update(RESOURCES["pods"], old, body)
    except ApiError as error:
        status = error.status()
    assert status["code"] == 422 and status["details"]["kind"] == "Pod" and status["details"]["name"] == "web"
    assert status["details"]["causes"] == [
        {"reason": "FieldValueNotFound", "message": 'Not found: "nope"',
         "field": "spec.ephemeralContainers[0].targetContainerName"}
    ]  # fmt: skip


# --- the planner ----------------------------------------------------------------------------------------------

SANDBOX = SandboxStatus(
    id="sandbox-1", ready=True, created_at=1.0,
    config=SandboxConfig(name="web", namespace="default", uid="uid-1", hostname="web", hosts_file="", resolv_conf=""),
)  # fmt: skip


def record(spec: dict[str, Any], state: ContainerState, *, exit_code: int = 0, created_at: float = 10.0) -> Any:
    name = spec["name"]
    return ContainerStatus(
        id=f"id-{name}", sandbox_id="sandbox-1", name=name, state=state, image=spec["image"], image_id="sha256:0",
        created_at=created_at, started_at=created_at, finished_at=created_at + 1 if state == "exited" else 0.0,
        exit_code=exit_code, labels={CONTAINER_NAME: name}, annotations={CONTAINER_HASH: container_hash(spec)},
    )  # fmt: skip


APP = {"name": "app", "image": "nginx:1.27"}


def test_a_new_ephemeral_container_is_started() -> None:
    pod = running_pod(DEBUGGER)
    actions = compute_pod_actions(pod, [SANDBOX], [record(APP, ContainerState.RUNNING)], ProbeResults())
    assert actions.ephemeral_containers_to_start == [0] and not actions.containers_to_kill


def test_an_ephemeral_container_starts_while_an_init_container_still_runs() -> None:
    setup = {"name": "setup", "image": "busybox:1.36"}
    pod = running_pod(dict(DEBUGGER, targetContainerName="setup"), init=[setup])
    actions = compute_pod_actions(pod, [SANDBOX], [record(setup, ContainerState.RUNNING)], ProbeResults())
    assert actions.ephemeral_containers_to_start == [0] and actions.containers_to_start == []


def test_an_exited_ephemeral_container_is_never_restarted() -> None:
    pod = running_pod(DEBUGGER)
    statuses = [record(APP, ContainerState.RUNNING), record(DEBUGGER, ContainerState.EXITED, exit_code=1)]
    actions = compute_pod_actions(pod, [SANDBOX], statuses, ProbeResults())
    assert actions.ephemeral_containers_to_start == [] and not actions.kill_pod


def test_a_running_ephemeral_container_does_not_keep_a_finished_pod_alive() -> None:
    pod = running_pod(DEBUGGER, policy="Never")
    statuses = [record(APP, ContainerState.EXITED), record(DEBUGGER, ContainerState.RUNNING)]
    assert compute_pod_actions(pod, [SANDBOX], statuses, ProbeResults()).kill_pod


def test_a_deleted_pod_starts_no_ephemeral_container() -> None:
    pod = running_pod(DEBUGGER)
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    actions = compute_pod_actions(pod, [SANDBOX], [record(APP, ContainerState.RUNNING)], ProbeResults())
    assert actions.kill_pod and actions.ephemeral_containers_to_start == []


# --- status ---------------------------------------------------------------------------------------------------


def status_of(pod: Any, records: list[ContainerStatus], reasons: dict[str, tuple[str, str]] | None = None) -> Any:
    return compute_pod_status(
        pod, records, probe_state={}, reason_cache=reasons or {}, sandbox_ready=True, now="2026-01-01T00:00:00Z"
    )


def test_a_pod_without_ephemeral_containers_has_no_ephemeral_statuses() -> None:
    assert "ephemeralContainerStatuses" not in status_of(running_pod(), [record(APP, ContainerState.RUNNING)])


def test_a_running_ephemeral_container_has_a_status_without_started_or_readiness() -> None:
    pod = running_pod(DEBUGGER)
    status = status_of(pod, [record(APP, ContainerState.RUNNING), record(DEBUGGER, ContainerState.RUNNING)])
    [debugger] = status["ephemeralContainerStatuses"]
    assert debugger == {
        "name": "debugger", "state": {"running": {"startedAt": "1970-01-01T00:00:10Z"}}, "lastState": {},
        "ready": False, "restartCount": 0, "image": "busybox:1.36", "imageID": "sha256:0",
        "containerID": "podrun://id-debugger",
    }  # fmt: skip
    assert [c["name"] for c in status["containerStatuses"]] == ["app"]
    assert status["phase"] == "Running"


def test_ephemeral_statuses_are_sorted_by_name_and_wait_in_container_creating() -> None:
    pod = running_pod(dict(DEBUGGER, name="zz"), dict(DEBUGGER, name="aa"))
    status = status_of(pod, [record(APP, ContainerState.RUNNING)])
    assert [(c["name"], c["state"]) for c in status["ephemeralContainerStatuses"]] == [
        ("aa", {"waiting": {"reason": "ContainerCreating"}}),
        ("zz", {"waiting": {"reason": "ContainerCreating"}}),
    ]


def test_a_failed_ephemeral_start_shows_its_reason() -> None:
    pod = running_pod(DEBUGGER)
    reasons = {"debugger": ("CreateContainerConfigError", "unable to find target container app")}
    status = status_of(pod, [record(APP, ContainerState.EXITED, exit_code=1)], reasons)
    assert status["ephemeralContainerStatuses"][0]["state"] == {
        "waiting": {"reason": "CreateContainerConfigError", "message": "unable to find target container app"}
    }


def test_an_exited_ephemeral_container_leaves_the_phase_to_the_regular_containers() -> None:
    pod = running_pod(DEBUGGER)
    records = [record(APP, ContainerState.RUNNING), record(DEBUGGER, ContainerState.EXITED, exit_code=2)]
    status = status_of(pod, records)
    assert status["phase"] == "Running"
    assert status["ephemeralContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 2


# --- the worker and the runtime configuration -----------------------------------------------------------------


async def test_the_worker_starts_an_added_ephemeral_container_in_its_targets_pid_namespace(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        pod = simple_pod("app", restart_policy="Always")
        worker = node.run_pod(pod)
        await host.wait_until(lambda: ("start_container", "app") in runtime.calls)
        node.update_pod(dict(pod, spec=dict(pod["spec"], ephemeralContainers=[DEBUGGER])))
        await host.wait_until(lambda: ("start_container", "debugger") in runtime.calls)
        [app] = runtime.named("app")
        [debugger] = runtime.named("debugger")
        assert runtime.configs[debugger.id].target_container_id == app.id
        runtime.exit("debugger", 0)
        await host.wait_until(
            lambda: "terminated" in (host.latest.get("ephemeralContainerStatuses") or [{}])[0].get("state", {})
        )
        worker.terminate(grace_override=0)
        await host.wait_until(host.terminated.is_set)

    assert len(runtime.named("debugger")) == 1  # never restarted, though the pod restarts Always
    started = [e for e in host.events if e["reason"] == "Started" and "debugger" in e["message"]]
    assert started[0]["involvedObject"]["fieldPath"] == "spec.ephemeralContainers{debugger}"


async def test_an_ephemeral_container_whose_target_is_not_running_waits_with_the_kubelets_reason(
    tmp_path: Path,
) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        pod = simple_pod("app", "other", restart_policy="Never")
        worker = node.run_pod(pod)
        await host.wait_until(lambda: ("start_container", "other") in runtime.calls)
        runtime.exit("app", 0)
        node.update_pod(dict(pod, spec=dict(pod["spec"], ephemeralContainers=[DEBUGGER])))

        def waiting() -> dict[str, Any]:
            statuses = host.latest.get("ephemeralContainerStatuses") or [{}]
            return dict(statuses[0].get("state", {}).get("waiting") or {})

        await host.wait_until(lambda: waiting().get("reason") == "CreateContainerConfigError")
        assert waiting()["message"] == "unable to find target container app"
        worker.terminate(grace_override=0)
        await host.wait_until(host.terminated.is_set)

    assert runtime.named("debugger") == []


async def test_a_running_ephemeral_container_is_killed_with_the_pod(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        pod = simple_pod("app", restart_policy="Always", grace=3)
        node.run_pod(pod)
        await host.wait_until(lambda: ("start_container", "app") in runtime.calls)
        debugging = dict(pod, spec=dict(pod["spec"], ephemeralContainers=[DEBUGGER]))
        node.update_pod(debugging)
        await host.wait_until(lambda: ("start_container", "debugger") in runtime.calls)
        meta = dict(pod["metadata"], deletionTimestamp="2026-01-01T00:00:03Z", deletionGracePeriodSeconds=3)
        node.update_pod(dict(debugging, metadata=meta))
        await host.wait_until(host.terminated.is_set)

    assert runtime.stop_graces == {"app": 3, "debugger": 3}
    assert "FailedSync" not in host.reasons()


def test_the_oci_config_joins_a_given_pid_namespace() -> None:
    sandbox = SandboxPaths(
        netns="/run/ns/net", ipcns="/run/ns/ipc", utsns="/run/ns/uts", hostname="web", hosts_file="",
        resolv_conf="", hostname_file="", shm="",
    )  # fmt: skip
    assert namespaces(sandbox, False, "hybrid")[0] == {"type": "pid"}
    assert namespaces(sandbox, False, "hybrid", "/proc/42/ns/pid")[0] == {"type": "pid", "path": "/proc/42/ns/pid"}
