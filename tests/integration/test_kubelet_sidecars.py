"""Native sidecars (init containers with `restartPolicy: Always`) on a real kubelet and runtime.

Kubelet-semantics spec, section 2: a sidecar's startup probe gates the next container (2.1); a sidecar is
restarted whatever the pod's restartPolicy (2.2); a Never pod completes once its main containers are done,
its sidecars stopped after them in reverse order (2.4, 2.5), each sidecar's preStop hook starting at once.

Containers record what happened to them in a shared emptyDir, with `/proc/uptime` (the host's clock, to
the hundredth of a second) as time stamp; the sidecar stopped last prints the file when it stops, so the
test reads it from that container's log.
"""

from __future__ import annotations

import pytest
from kubelet_harness import (
    JSON,
    RUN_UNTIL_TERM,
    busybox,
    container_status,
    empty_dir,
    exec_probe,
    mount,
    phase_is,
    pod,
    restart_count,
    run_pod,
    run_until_term,
    sidecar,
    state,
)

from podrun.runtime.local import LocalRuntime

pytestmark = pytest.mark.root

SHARED = [mount("shared", "/shared")]
# `NOW`: the host's uptime in seconds, e.g. 2790.86.
NOW = "$(read -r up rest </proc/uptime; echo $up)"


def stamped(lines: list[str]) -> list[tuple[str, float]]:
    """(`name`, uptime) of each `name uptime` line."""
    return [(name, float(when)) for name, when in (line.split() for line in lines)]


async def test_the_next_init_container_starts_only_after_the_sidecars_startup_probe_succeeded(
    runtime: LocalRuntime,
) -> None:
    """The sidecar is ready half a second after it starts; its startup probe says so; only then does `setup` start."""
    proxy = sidecar(
        "proxy", run_until_term("sleep 0.5; touch /tmp/ready"), startupProbe=exec_probe("test", "-e", "/tmp/ready")
    )
    spec = pod("sidecar-startup", [busybox("app", "/bin/true")], restart_policy="Never",
               init_containers=[proxy, busybox("setup", "/bin/true")])  # fmt: skip
    async with run_pod(runtime, spec) as p:
        probe_succeeded = await p.host.wait_for_update(
            lambda s: container_status(s, "proxy").get("started") is True, "the proxy's startup probe to succeed"
        )
        await p.wait_for(phase_is("Succeeded"), "the pod to succeed")
        await p.wait_terminated()

    [proxy_start], [setup_start], [app_start] = p.starts("proxy"), p.starts("setup"), p.starts("app")
    assert setup_start.started_at >= probe_succeeded.at
    assert setup_start.started_at >= proxy_start.started_at + 0.5
    assert app_start.started_at >= p.exits("setup")[0].finished_at
    before = p.host.updates[: p.host.updates.index(probe_succeeded)]
    assert before
    for update in before:
        assert state(update.status, "setup")[0] == state(update.status, "app")[0] == "waiting", update


async def test_a_sidecar_is_restarted_when_it_exits_even_under_restart_policy_never(runtime: LocalRuntime) -> None:
    """The sidecar exits 1 and is started again; the main container waits for its second run, and the pod
    still Succeeds: sidecar exits do not count in the phase."""
    flaky = sidecar("flaky", "echo run >> /shared/runs; sleep 0.2; exit 1", volumeMounts=SHARED)
    main = busybox("main", "until [ $(cat /shared/runs | wc -l) -ge 2 ]; do sleep 0.05; done", volumeMounts=SHARED)
    spec = pod("sidecar-restarts", [main], init_containers=[flaky], restart_policy="Never",
               volumes=[empty_dir("shared")])  # fmt: skip
    async with run_pod(runtime, spec) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")
        await p.wait_terminated()

    assert final["phase"] == "Succeeded"
    assert len(p.starts("flaky")) >= 2
    assert p.exits("flaky")[0].exit_code == 1
    assert restart_count(final, "flaky") >= 1
    assert state(final, "main")[1]["exitCode"] == 0


async def test_sidecars_stop_in_reverse_order_after_the_main_container_and_the_never_pod_succeeds(
    runtime: LocalRuntime,
) -> None:
    """main exits; then sidecar-2 gets SIGTERM, then sidecar-1 (each logs when, through a TERM trap)."""

    def log_term(name: str, then: str = "") -> str:
        return f"trap 'echo \"{name} {NOW}\" >> /shared/order; {then} exit 0' TERM; while true; do sleep 0.05; done"

    spec = pod(
        "sidecar-order", [busybox("main", f'sleep 0.3; echo "main {NOW}" >> /shared/order', volumeMounts=SHARED)],
        init_containers=[
            sidecar("sidecar-1", log_term("sidecar-1", then="cat /shared/order;"), volumeMounts=SHARED),
            sidecar("sidecar-2", log_term("sidecar-2"), volumeMounts=SHARED),
        ],
        restart_policy="Never", volumes=[empty_dir("shared")],
    )  # fmt: skip
    async with run_pod(runtime, spec) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")
        await p.wait_terminated()

    assert final["phase"] == "Succeeded"
    order = stamped(p.log("sidecar-1"))
    assert [name for name, _ in order] == ["main", "sidecar-2", "sidecar-1"]
    assert [when for _, when in order] == sorted(when for _, when in order)
    finished = {name: p.exits(name)[0].finished_at for name in ("main", "sidecar-1", "sidecar-2")}
    assert finished["main"] <= finished["sidecar-2"] <= finished["sidecar-1"]
    for name in ("sidecar-1", "sidecar-2"):
        terminated = state(final, name)[1]
        assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed"), name


async def test_sidecar_prestop_hooks_start_at_once_when_the_pod_stops(runtime: LocalRuntime) -> None:
    """"should call sidecar container PreStop hook simultaneously": both sidecars' preStop hooks (each taking
    a second) start together, though sidecar-1 gets its SIGTERM only after sidecar-2 has stopped."""

    def pre_stop(name: str) -> JSON:
        script = f'echo "{name} {NOW}" >> /shared/prestop; sleep 1'
        return {"preStop": {"exec": {"command": ["sh", "-c", script]}}}

    last = "trap 'cat /shared/prestop; exit 0' TERM; while true; do sleep 0.1; done"
    spec = pod(
        "sidecar-prestop", [busybox("main", "sleep 0.3", volumeMounts=SHARED)],
        init_containers=[
            sidecar("sidecar-1", last, lifecycle=pre_stop("sidecar-1"), volumeMounts=SHARED),
            sidecar("sidecar-2", RUN_UNTIL_TERM, lifecycle=pre_stop("sidecar-2"), volumeMounts=SHARED),
        ],
        restart_policy="Never", volumes=[empty_dir("shared")],
    )  # fmt: skip
    async with run_pod(runtime, spec) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")
        await p.wait_terminated()

    assert final["phase"] == "Succeeded"
    hooks = dict(stamped(p.log("sidecar-1")))
    assert hooks.keys() == {"sidecar-1", "sidecar-2"}
    assert abs(hooks["sidecar-1"] - hooks["sidecar-2"]) < 0.5, hooks
    assert p.exits("sidecar-2")[0].finished_at <= p.exits("sidecar-1")[0].finished_at
