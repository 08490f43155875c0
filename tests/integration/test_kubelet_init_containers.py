"""Init containers on a real kubelet and runtime: the upstream InitContainer conformance tests and their invariants.

The four tests of `test/e2e/common/node/init_container.go` (kubelet-semantics spec, section 11.1), with the
invariants that e2e test checks on every watch event (`initContainersInvariants`, `containerInitInvariant`)
checked here on every status the kubelet published. Then two rules of section 1.1: a completed init container
is never run again once the app runs, and init containers run one at a time, in spec order.
"""

from __future__ import annotations

import itertools

import pytest
from kubelet_harness import (
    JSON,
    RUN_UNTIL_TERM,
    busybox,
    condition,
    container_status,
    empty_dir,
    is_running,
    mount,
    phase_is,
    pod,
    restart_count,
    run_pod,
    state,
)

from podrun.runtime.local import LocalRuntime

pytestmark = pytest.mark.root


# -- the e2e test's invariants ------------------------------------------------------------------------------


def init_status_problems(status: JSON) -> list[str]:
    """`initialized` and `initContainersInvariants` of the e2e test: what must hold in any one status."""
    problems: list[str] = []
    all_init, init_failed = True, False
    for cs in status.get("initContainerStatuses") or []:
        name, waiting, terminated = cs["name"], "waiting" in cs["state"], cs["state"].get("terminated")
        if init_failed and not waiting:
            problems.append(f"container {name} is after a failed container but isn't waiting")
        elif not all_init and not waiting:
            problems.append(f"container {name} is after an initializing container but isn't waiting")
        elif terminated is None:
            all_init = False
        elif terminated["exitCode"] != 0:
            all_init, init_failed = False, True
        elif not cs["ready"]:
            problems.append(f"container {name} initialized but isn't marked as ready")
    if not all_init or init_failed:
        for cs in status.get("containerStatuses") or []:
            waiting = cs["state"].get("waiting")
            if waiting is None or cs["restartCount"] != 0:
                problems.append(f"container {cs['name']} is not waiting but initialization not complete")
            elif waiting.get("reason") != "PodInitializing":
                problems.append(f"container {cs['name']} should have reason PodInitializing: {waiting.get('reason')}")
    initialized = condition(status, "Initialized")
    if not initialized:
        problems.append("pod does not have initialized condition")
    elif not initialized.get("lastTransitionTime"):
        problems.append("PodInitialized condition should always have a transition time")
    elif initialized["status"] == "Unknown":
        problems.append("PodInitialized condition should never be Unknown")
    elif initialized["status"] == "True" and (init_failed or not all_init):
        problems.append("PodInitialized condition was True but all not all containers initialized")
    elif initialized["status"] == "False" and not init_failed and all_init:
        problems.append("PodInitialized condition was False but all containers initialized")
    return problems


def assert_init_invariants(statuses: list[JSON]) -> None:
    """`containerInitInvariant` over every pair of consecutive statuses: each one consistent, no regression."""
    assert statuses, "the kubelet published no status"
    for number, status in enumerate(statuses):
        assert not init_status_problems(status), (number, init_status_problems(status), status)
    for number, (older, newer) in enumerate(itertools.pairwise(statuses)):
        was, now = condition(older, "Initialized")["status"], condition(newer, "Initialized")["status"]
        assert not (was == "True" and now != "True"), f"status {number + 1}: initialized, then not any more"


def assert_completed_and_ready(status: JSON, *names: str) -> None:
    """Each named init container is Ready and Terminated with exit code 0."""
    for name in names:
        cs = container_status(status, name)
        assert cs["ready"] is True, cs
        assert cs["state"]["terminated"]["exitCode"] == 0, cs


# -- the four conformance tests -------------------------------------------------------------------------------


async def test_init_containers_run_on_a_restart_never_pod(runtime: LocalRuntime) -> None:
    """"should invoke init containers on a RestartNever pod": the pod Succeeds after init1, init2 and run1."""
    spec = pod(
        "init-never", [busybox("run1", "/bin/true")], restart_policy="Never",
        init_containers=[busybox("init1", "/bin/true"), busybox("init2", "/bin/true")],
    )  # fmt: skip
    async with run_pod(runtime, spec) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")
        await p.wait_terminated()

    assert final["phase"] == "Succeeded"
    assert condition(final, "Initialized")["status"] == "True"
    assert [cs["name"] for cs in final["initContainerStatuses"]] == ["init1", "init2"]
    assert_completed_and_ready(final, "init1", "init2")
    assert_init_invariants(p.host.statuses)


async def test_init_containers_run_on_a_restart_always_pod(runtime: LocalRuntime) -> None:
    """"should invoke init containers on a RestartAlways pod": init1 and init2 complete, then run1 runs."""
    pause = busybox("run1", RUN_UNTIL_TERM, resources={"limits": {"cpu": "100m"}})
    spec = pod("init-always", [pause], init_containers=[busybox("init1", "/bin/true"), busybox("init2", "/bin/true")])
    async with run_pod(runtime, spec) as p:
        running = await p.wait_for(lambda s: s["phase"] == "Running" and is_running(s, "run1"), "run1 running")

    assert condition(running, "Initialized")["status"] == "True"
    assert_completed_and_ready(running, "init1", "init2")
    assert_init_invariants(p.host.statuses)


async def test_app_containers_do_not_start_when_an_init_container_fails_on_a_restart_always_pod(
    runtime: LocalRuntime,
) -> None:
    """"should not start app containers if init containers fail on a RestartAlways pod".

    init1 fails again and again and is restarted in place (with a 1 s crash-loop backoff cap, as the
    `KubeletCrashLoopBackOffMax` configuration allows, so three restarts take seconds, not half a minute);
    init2 and run1 never start, and the pod stays Pending and not Initialized.
    """
    spec = pod(
        "init-fails-always", [busybox("run1", RUN_UNTIL_TERM)],
        init_containers=[busybox("init1", "/bin/false"), busybox("init2", "/bin/true")],
    )  # fmt: skip
    async with run_pod(runtime, spec, crash_loop_max=1) as p:
        status = await p.wait_for(lambda s: restart_count(s, "init1") >= 3, "init1 restarted three times")

    assert status["phase"] == "Pending"
    initialized = condition(status, "Initialized")
    assert (initialized["status"], initialized["reason"], initialized["message"]) == (
        "False", "ContainersNotInitialized", "containers with incomplete status: [init1 init2]",
    )  # fmt: skip
    assert state(status, "init2") == ("waiting", {"reason": "PodInitializing"})
    assert state(status, "run1") == ("waiting", {"reason": "PodInitializing"})
    assert not p.starts("init2") and not p.starts("run1")
    assert_init_invariants(p.host.statuses)


async def test_a_failed_init_container_fails_a_restart_never_pod(runtime: LocalRuntime) -> None:
    """"should not start app containers and fail the pod if init containers fail on a RestartNever pod"."""
    spec = pod(
        "init-fails-never", [busybox("run1", "/bin/true")], restart_policy="Never",
        init_containers=[busybox("init1", "/bin/true"), busybox("init2", "/bin/false")],
    )  # fmt: skip
    async with run_pod(runtime, spec) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")
        await p.wait_terminated()

    assert final["phase"] == "Failed"
    assert state(final, "init1")[1]["exitCode"] == 0
    assert state(final, "init2")[1]["exitCode"] != 0
    initialized = condition(final, "Initialized")
    assert (initialized["status"], initialized["reason"], initialized["message"]) == (
        "False", "ContainersNotInitialized", "containers with incomplete status: [init2]",
    )  # fmt: skip
    assert state(final, "run1")[0] == "waiting"
    assert not p.starts("run1")
    assert_init_invariants(p.host.statuses)


# -- more rules of section 1.1 ------------------------------------------------------------------------------


async def test_a_completed_init_container_is_not_run_again_when_the_app_container_restarts(
    runtime: LocalRuntime,
) -> None:
    """The app exits under Always and is restarted; init1, which completed, is neither restarted nor re-run.

    init1 appends a line to a shared emptyDir on each run; the app prints how many lines there are.
    """
    work = [mount("work", "/work")]
    spec = pod(
        "init-once", [busybox("app", "wc -l < /work/runs; sleep 0.2; exit 1", volumeMounts=work)],
        init_containers=[busybox("init1", "echo ran >> /work/runs", volumeMounts=work)],
        volumes=[empty_dir("work")],
    )  # fmt: skip
    async with run_pod(runtime, spec) as p:
        await p.wait_for(lambda s: restart_count(s, "app") >= 1, "the app restarted")
        await p.host.wait_until(lambda: True if len(p.exits("app")) >= 2 else None, "the app's second exit")

    assert len(p.starts("init1")) == 1
    assert p.log("app", 0) == p.log("app", 1) == ["1"]
    app_started = [s for s in p.host.statuses if container_status(s, "app").get("containerID")]
    assert app_started
    for status in app_started:
        assert restart_count(status, "init1") == 0, status
        assert state(status, "init1")[0] == "terminated", status
        assert state(status, "init1")[1]["exitCode"] == 0, status
    assert_init_invariants(p.host.statuses)


async def test_init_containers_run_one_at_a_time_in_spec_order(runtime: LocalRuntime) -> None:
    """Each init container starts after the previous one exited (runtime times), and the app after the last."""
    names = ["init1", "init2", "init3"]
    spec = pod(
        "init-order", [busybox("app", "/bin/true")], restart_policy="Never",
        init_containers=[busybox(name, "sleep 0.2") for name in names],
    )  # fmt: skip
    async with run_pod(runtime, spec) as p:
        await p.wait_for(phase_is("Succeeded"), "the pod to succeed")
        await p.wait_terminated()

    for name in [*names, "app"]:
        assert len(p.starts(name)) == len(p.exits(name)) == 1, name
    for earlier, later in zip(names, [*names[1:], "app"], strict=True):
        assert p.exits(earlier)[0].finished_at <= p.starts(later)[0].started_at, (earlier, later)
    for status in p.host.statuses:
        assert sum(is_running(status, name) for name in names) <= 1, status
    assert_init_invariants(p.host.statuses)


async def test_a_file_an_init_container_writes_reaches_the_app_through_a_sub_path(runtime: LocalRuntime) -> None:
    """podrun creates later containers while an init container runs, to hand off faster; a container that
    mounts a subPath is not created early, since creating it would make a directory where the init
    container is to write a file."""
    spec = pod(
        "init-sub-path",
        [busybox("app", 'test -f /etc/app.conf && grep -q "ready" /etc/app.conf',
                 volumeMounts=[mount("work", "/etc/app.conf", subPath="app.conf")])],
        restart_policy="Never",
        init_containers=[busybox("write-config", "sleep 0.2; echo ready > /work/app.conf",
                                 volumeMounts=[mount("work", "/work")])],
        volumes=[empty_dir("work")],
    )  # fmt: skip
    async with run_pod(runtime, spec) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")
        await p.wait_terminated()

    assert final["phase"] == "Succeeded", container_status(final, "app")
    assert_init_invariants(p.host.statuses)
