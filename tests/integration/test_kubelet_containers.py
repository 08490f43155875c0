"""Regular containers on a real kubelet and runtime: what a pod's containers share, probes, restarts, failures.

Kubelet-semantics spec, sections 3 (start, restartPolicy, exit codes and reasons, termination messages,
activeDeadlineSeconds), 4.4 (what probe results do), 1.3 (CrashLoopBackOff) and 5.3 (waiting reasons).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubelet_harness import (
    JSON,
    RUN_UNTIL_TERM,
    busybox,
    condition,
    container_status,
    empty_dir,
    exec_probe,
    is_running,
    last_state,
    mount,
    phase_is,
    pod,
    restart_count,
    run_pod,
    run_until_term,
    state,
)

from podrun.runtime.local import LocalRuntime

pytestmark = pytest.mark.root

SHARED = [mount("shared", "/shared")]
# Writes a greeting into the emptyDir, then serves `pong` on localhost:8080 until SIGTERM (`wait` lets the
# trap run at once).
PONG_SERVER = (
    "trap 'exit 0' TERM; echo hello > /shared/greeting; while true; do echo pong | nc -l -p 8080 & wait $!; done"
)


def configmap(name: str, **data: str) -> JSON:
    """A ConfigMap in the default namespace."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def waiting_reason(name: str, reason: str) -> Callable[[JSON], bool]:
    """A `wait_for` condition: the container is Waiting with `reason`."""
    return lambda s: state(s, name)[0] == "waiting" and state(s, name)[1].get("reason") == reason


def terminated(*names: str) -> Callable[[JSON], bool]:
    """A `wait_for` condition: every named container is Terminated."""
    return lambda s: all(state(s, name)[0] == "terminated" for name in names)


# -- what containers of a pod share ---------------------------------------------------------------------------


async def test_containers_share_an_empty_dir_and_localhost(runtime: LocalRuntime) -> None:
    """`server` writes a file into an emptyDir and listens on localhost:8080; `client` reads both."""
    server = busybox("server", PONG_SERVER, volumeMounts=SHARED)
    client = busybox(
        "client",
        "until [ -e /shared/greeting ]; do sleep 0.05; done; cat /shared/greeting; "
        "until nc localhost 8080 </dev/null 2>/dev/null; do sleep 0.05; done",
        volumeMounts=SHARED,
    )
    spec = pod("shared", [server, client], restart_policy="Never", volumes=[empty_dir("shared")])
    async with run_pod(runtime, spec) as p:
        status = await p.wait_for(terminated("client"), "the client to finish")

    assert state(status, "client")[1]["exitCode"] == 0
    assert p.log("client") == ["hello", "pong"]


async def test_a_config_map_volume_shows_the_config_maps_data_as_files(runtime: LocalRuntime) -> None:
    """Each key of the ConfigMap is a file in the mounted directory."""
    reader = busybox("reader", "cat /config/greeting", volumeMounts=[mount("config", "/config")])
    spec = pod("config-volume", [reader], restart_policy="Never",
               volumes=[{"name": "config", "configMap": {"name": "web-config"}}])  # fmt: skip
    async with run_pod(runtime, spec, configmap("web-config", greeting="hello from a ConfigMap\n")) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")

    assert final["phase"] == "Succeeded"
    assert p.log("reader") == ["hello from a ConfigMap"]


# -- probes ---------------------------------------------------------------------------------------------------


async def test_a_liveness_probe_failure_restarts_the_container(runtime: LocalRuntime) -> None:
    """The container turns sick after 0.3 s; its liveness probe fails once (failureThreshold 1); it is restarted."""
    probe = exec_probe("sh", "-c", "if [ -e /tmp/sick ]; then echo sick; exit 1; fi", failureThreshold=1)
    app = busybox("app", run_until_term("sleep 0.3; touch /tmp/sick"), livenessProbe=probe)
    async with run_pod(runtime, pod("liveness", [app])) as p:
        status = await p.wait_for(lambda s: restart_count(s, "app") == 1 and is_running(s, "app"), "a restart")

    assert last_state(status, "app")[0] == "terminated"
    unhealthy = p.host.events_with("Unhealthy")[0]
    assert (unhealthy["type"], unhealthy["message"]) == ("Warning", "Liveness probe failed: sick\n")
    assert unhealthy["involvedObject"]["fieldPath"] == "spec.containers{app}"
    killing = p.host.events_with("Killing")[0]
    assert (killing["type"], killing["message"]) == ("Normal", "Container app failed liveness probe, will be restarted")


async def test_a_readiness_probe_drives_the_containers_ready_flag_and_the_pods_ready_condition(
    runtime: LocalRuntime,
) -> None:
    """Not ready until /tmp/ready exists, ready while it does, not ready again once it is gone; never restarted."""
    app = busybox("app", RUN_UNTIL_TERM, readinessProbe=exec_probe("test", "-e", "/tmp/ready", failureThreshold=1))
    async with run_pod(runtime, pod("readiness", [app])) as p:
        running = await p.wait_for(lambda s: is_running(s, "app"), "the app to run")
        assert container_status(running, "app")["ready"] is False
        ready = condition(running, "Ready")
        assert (ready["status"], ready["reason"], ready["message"]) == (
            "False", "ContainersNotReady", "containers with unready status: [app]",
        )  # fmt: skip

        await p.exec("app", "touch", "/tmp/ready")
        became_ready = await p.wait_for(lambda s: container_status(s, "app")["ready"], "the app to be ready")
        assert condition(became_ready, "Ready")["status"] == condition(became_ready, "ContainersReady")["status"]
        assert condition(became_ready, "Ready")["status"] == "True"

        mark = len(p.host.updates)
        await p.exec("app", "rm", "/tmp/ready")
        unready = await p.wait_for(lambda s: not container_status(s, "app")["ready"], "the app unready", since=mark)
        assert condition(unready, "Ready")["status"] == "False"
        assert is_running(unready, "app") and restart_count(unready, "app") == 0


# -- restarts and failures ----------------------------------------------------------------------------------


async def test_a_crashing_container_is_restarted_at_once_then_waits_in_crash_loop_back_off(
    runtime: LocalRuntime,
) -> None:
    """exit 1 under Always: the first restart is immediate, the second waits 10 s (CrashLoopBackOff)."""
    async with run_pod(runtime, pod("crashloop", [busybox("crash", "exit 1")])) as p:
        status = await p.wait_for(waiting_reason("crash", "CrashLoopBackOff"), "CrashLoopBackOff")
        backoff = await p.host.wait_for_event("BackOff")

    crash_loop = f"crashloop_default({p.uid})"
    assert state(status, "crash")[1]["message"] == f"back-off 10s restarting failed container=crash pod={crash_loop}"
    assert restart_count(status, "crash") == 1
    assert (last_state(status, "crash")[1]["exitCode"], last_state(status, "crash")[1]["reason"]) == (1, "Error")
    starts, exits = p.starts("crash"), p.exits("crash")
    # Immediate means no back-off step (10 s) before the first restart; the bound is the step, not a speed target.
    assert starts[1].started_at - exits[0].finished_at < 10
    assert all(later.started_at >= exits[1].finished_at + 10 for later in starts[2:])
    assert (backoff["type"], backoff["message"]) == (
        "Warning", f"Back-off restarting failed container crash in pod {crash_loop}",
    )  # fmt: skip


# A container that does not start, by the reason it waits with.
START_FAILURES = {
    "CrashLoopBackOff": busybox("app", "exit 1"),
    "CreateContainerConfigError": busybox(
        "app", RUN_UNTIL_TERM, env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "K"}}}]
    ),
    "ErrImageNeverPull": {"name": "app", "image": "registry.invalid/missing:1.0", "imagePullPolicy": "Never"},
}


@pytest.mark.parametrize("reason", list(START_FAILURES))
async def test_a_failed_starts_waiting_reason_is_published_at_once(runtime: LocalRuntime, reason: str) -> None:
    """The kubelet shows why a container did not start within about a second (its next relist), for the whole
    time the container waits: CrashLoopBackOff after the second crash, a config error, a missing image."""
    async with run_pod(runtime, pod("start-failure", [START_FAILURES[reason]])) as p:
        await p.wait_for(waiting_reason("app", reason), reason, timeout=2.5)
        assert len(p.starts("app")) <= 2


async def test_a_container_over_its_memory_limit_is_oom_killed(runtime: LocalRuntime) -> None:
    """dd with a 64 MiB buffer in a container limited to 20Mi: terminated with reason OOMKilled, exit code 137."""
    hog = busybox("hog", "exec dd if=/dev/zero of=/dev/null bs=64M count=1", resources={"limits": {"memory": "20Mi"}})
    async with run_pod(runtime, pod("oom", [hog], restart_policy="Never")) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")

    assert final["phase"] == "Failed"
    assert state(final, "hog")[0] == "terminated"
    assert (state(final, "hog")[1]["reason"], state(final, "hog")[1]["exitCode"]) == ("OOMKilled", 137)


async def test_exit_codes_and_reasons_of_regular_containers(runtime: LocalRuntime) -> None:
    """exit 0 is `Completed`, exit 3 is `Error` with exit code 3; under Never the pod Fails."""
    spec = pod("exits", [busybox("ok", "exit 0"), busybox("bad", "exit 3")], restart_policy="Never")
    async with run_pod(runtime, spec) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")

    assert final["phase"] == "Failed"
    ok, bad = state(final, "ok")[1], state(final, "bad")[1]
    assert (ok["exitCode"], ok["reason"]) == (0, "Completed")
    assert (bad["exitCode"], bad["reason"]) == (3, "Error")


async def test_the_termination_message_is_read_from_dev_termination_log(runtime: LocalRuntime) -> None:
    """What the container wrote to /dev/termination-log is its terminated state's message."""
    writer = busybox("writer", "printf 'all done' > /dev/termination-log")
    async with run_pod(runtime, pod("termination-log", [writer], restart_policy="Never")) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")

    assert final["phase"] == "Succeeded"
    assert state(final, "writer")[1]["message"] == "all done"


async def test_fallback_to_logs_on_error_uses_the_log_tail_only_when_the_container_failed(
    runtime: LocalRuntime,
) -> None:
    """With FallbackToLogsOnError and an empty termination log, a failed container's message is its output."""
    policy = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    spec = pod(
        "fallback", [busybox("fails", 'echo "something broke"; exit 2', **policy),
                     busybox("succeeds", 'echo "all fine"', **policy)],
        restart_policy="Never",
    )  # fmt: skip
    async with run_pod(runtime, spec) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")

    assert state(final, "fails")[1]["message"] == "something broke\n"
    assert "message" not in state(final, "succeeds")[1]


async def test_a_missing_config_map_key_or_config_map_is_a_create_container_config_error(
    runtime: LocalRuntime,
) -> None:
    """Env from a ConfigMap key that does not exist: the container waits with CreateContainerConfigError."""

    def env_from(config_map: str) -> list[JSON]:
        return [{"name": "SETTING", "valueFrom": {"configMapKeyRef": {"name": config_map, "key": "K"}}}]

    spec = pod("config-error", [busybox("missing-key", RUN_UNTIL_TERM, env=env_from("settings")),
                                busybox("missing-map", RUN_UNTIL_TERM, env=env_from("absent"))])  # fmt: skip
    async with run_pod(runtime, spec, configmap("settings", other="value")) as p:
        status = await p.wait_for(
            lambda s: all(waiting_reason(c, "CreateContainerConfigError")(s) for c in ("missing-key", "missing-map")),
            "CreateContainerConfigError",
        )

    assert status["phase"] == "Pending"
    assert state(status, "missing-key")[1]["message"] == "couldn't find key K in ConfigMap default/settings"
    assert state(status, "missing-map")[1]["message"] == 'configmap "absent" not found'
    assert p.host.events_with("Failed", "Error: couldn't find key K in ConfigMap default/settings")
    assert not p.starts("missing-key") and not p.starts("missing-map")


async def test_a_missing_image_with_pull_policy_never_is_err_image_never_pull(runtime: LocalRuntime) -> None:
    """The image is not in the store and may not be pulled: ErrImageNeverPull, and nothing is contacted."""
    image = "registry.invalid/missing:1.0"
    app = {"name": "app", "image": image, "imagePullPolicy": "Never"}
    async with run_pod(runtime, pod("never-pull", [app])) as p:
        status = await p.wait_for(waiting_reason("app", "ErrImageNeverPull"), "ErrImageNeverPull")
        event = await p.host.wait_for_event("ErrImageNeverPull")

    message = f'Container image "{image}" is not present with pull policy of Never'
    assert state(status, "app")[1]["message"] == message
    assert (event["type"], event["message"]) == ("Warning", message)
    assert status["phase"] == "Pending"


async def test_a_missing_command_is_a_start_error_then_run_container_error(runtime: LocalRuntime) -> None:
    """The command does not exist: the container is terminated with StartError/128, then waits RunContainerError."""
    app = {"name": "app", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["/no/such/binary"]}
    async with run_pod(runtime, pod("no-command", [app])) as p:
        status = await p.wait_for(waiting_reason("app", "RunContainerError"), "RunContainerError")

    assert "/no/such/binary" in state(status, "app")[1]["message"]
    kind, last = last_state(status, "app")
    assert (kind, last["reason"], last["exitCode"]) == ("terminated", "StartError", 128)
    assert p.exits("app")[0].reason == "StartError"
    assert p.host.events_with("Failed")


async def test_a_post_start_hook_holds_back_the_next_containers_start(runtime: LocalRuntime) -> None:
    """`first`'s postStart hook takes half a second; `second` starts only after it returned."""
    hook = {"postStart": {"exec": {"command": ["sh", "-c", "sleep 0.5; echo hooked >> /shared/log"]}}}
    first = busybox("first", RUN_UNTIL_TERM, lifecycle=hook, volumeMounts=SHARED)
    second = busybox("second", "echo second >> /shared/log; cat /shared/log", volumeMounts=SHARED)
    spec = pod("post-start", [first, second], restart_policy="Never", volumes=[empty_dir("shared")])
    async with run_pod(runtime, spec) as p:
        await p.wait_for(terminated("second"), "the second container to finish")

    assert p.log("second") == ["hooked", "second"]
    assert p.starts("second")[0].started_at >= p.starts("first")[0].started_at + 0.5


async def test_active_deadline_seconds_fails_the_pod_with_deadline_exceeded(runtime: LocalRuntime) -> None:
    """A pod running longer than activeDeadlineSeconds is stopped and Failed with reason DeadlineExceeded."""
    spec = pod("deadline", [busybox("app", RUN_UNTIL_TERM)], activeDeadlineSeconds=1)
    async with run_pod(runtime, spec) as p:
        failed = await p.wait_for(phase_is("Failed"), "the pod to fail")
        final = await p.wait_terminated()

    assert (failed["reason"], failed["message"]) == (
        "DeadlineExceeded", "Pod was active on the node longer than the specified deadline",
    )  # fmt: skip
    assert final["phase"] == "Failed" and final["reason"] == "DeadlineExceeded"
    assert state(final, "app")[0] == "terminated"
    assert p.host.events_with("DeadlineExceeded", "Pod was active on the node longer than the specified deadline")


async def test_changing_a_running_containers_image_restarts_only_that_container(runtime: LocalRuntime) -> None:
    """`kubectl set image` on `a`: `a` is killed ("definition changed") and started again; `b` keeps running."""
    spec = pod("set-image", [busybox("a", RUN_UNTIL_TERM), busybox("b", RUN_UNTIL_TERM)])
    async with run_pod(runtime, spec) as p:
        before = await p.wait_for(lambda s: is_running(s, "a") and is_running(s, "b"), "both running")
        p.set_image("a", "busybox:latest")
        after = await p.wait_for(lambda s: restart_count(s, "a") == 1 and is_running(s, "a"), "a restarted")

    assert container_status(after, "b")["containerID"] == container_status(before, "b")["containerID"]
    assert restart_count(after, "b") == 0
    assert len(p.starts("a")) == 2 and len(p.starts("b")) == 1
    assert p.host.events_with("Killing", "Container a definition changed, will be restarted")
