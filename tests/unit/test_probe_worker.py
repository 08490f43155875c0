"""Probes: the worker's algorithm (worker.go) on a fake clock, and the prober manager."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from podrun.kubelet.probing.manager import ProbeManager
from podrun.kubelet.probing.outcome import ProbeOutcome
from podrun.kubelet.probing.worker import ProbeType, ProbeWorker, TargetStatus

START = 1_700_000_000.0
UID = "6f1c-uid"
SUCCESS = ProbeOutcome("success", "ok")
FAILURE = ProbeOutcome("failure", "boom")
PROBE_KEYS = {"liveness": "livenessProbe", "readiness": "readinessProbe", "startup": "startupProbe"}


def probe_spec(**overrides: Any) -> dict[str, Any]:
    """A defaulted exec probe."""
    spec = {
        "exec": {"command": ["true"]},
        "initialDelaySeconds": 0,
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    return {**spec, **overrides}


class FakeClock:
    """Unix seconds moved by hand, with a sleep that moves it (after yielding once, so a wake-up can win)."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
        self.now += seconds


@dataclass
class Harness:
    """One worker with a scripted runner, recording what it publishes and records."""

    probe_type: ProbeType
    probe: dict[str, Any] = field(default_factory=probe_spec)
    restart_policy: str = "Always"
    sidecar: bool = False
    clock: FakeClock = field(default_factory=FakeClock)
    target: TargetStatus = field(default_factory=TargetStatus)
    outcomes: list[ProbeOutcome] = field(default_factory=list)
    calls: list[TargetStatus] = field(default_factory=list)
    published: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    events: list[tuple[str, str, str, str]] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        container = {"name": "app", "image": "busybox", PROBE_KEYS[self.probe_type]: self.probe}
        spec: dict[str, Any] = {"restartPolicy": self.restart_policy, "containers": [{"name": "main"}]}
        if self.sidecar:
            spec["initContainers"] = [{**container, "restartPolicy": "Always"}]
        else:
            spec["containers"] = [container]
        self.worker = ProbeWorker(
            {"metadata": {"name": "web", "namespace": "default", "uid": UID}, "spec": spec},
            container,
            self.probe_type,
            runner=self.run,
            status=lambda: self.target,
            results=self.results,
            on_result=lambda *args: self.published.append(args),
            record_event=lambda *args: self.events.append(args),
            clock=self.clock,
            sleep=self.clock.sleep,
        )

    async def run(
        self, container: Mapping[str, Any], probe: Mapping[str, Any], target: TargetStatus
    ) -> ProbeOutcome:
        assert probe is self.probe
        self.calls.append(target)
        return self.outcomes.pop(0) if self.outcomes else SUCCESS

    def running(self, container_id: str = "c1", *, started: bool = True, **changes: Any) -> None:
        self.target = TargetStatus(
            phase="Running",
            container_id=container_id,
            sandbox_id="s1",
            running=True,
            started_at=self.clock.now,
            started=started,
        )
        self.target = replace(self.target, **changes)


# --- the worker -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probe_type", "initial"), [("readiness", "failure"), ("liveness", "success"), ("startup", None)]
)
async def test_a_new_container_starts_from_the_initial_result(
    probe_type: ProbeType, initial: str | None
) -> None:
    h = Harness(probe_type, probe_spec(initialDelaySeconds=60))
    assert await h.worker.do_probe()
    assert h.published == []  # no container yet: wait
    h.running(started=probe_type != "startup")
    assert await h.worker.do_probe()
    assert h.published == [("app", "c1", probe_type, initial)]
    assert h.results == {"c1": initial}
    assert h.calls == []  # still within initialDelaySeconds


async def test_liveness_fails_after_failure_threshold_then_holds_until_a_new_container() -> None:
    h = Harness("liveness")
    h.running()
    h.outcomes = [FAILURE, FAILURE, FAILURE]
    for _ in range(2):
        assert await h.worker.do_probe()
    assert h.results == {"c1": "success"}
    assert h.events == [("Warning", "Unhealthy", "Liveness probe failed: boom", "spec.containers{app}")] * 2
    assert await h.worker.do_probe()
    assert h.results == {"c1": "failure"}
    assert h.published[-1] == ("app", "c1", "liveness", "failure")
    # On hold: the container is about to be killed; no more probes for it.
    assert await h.worker.do_probe()
    assert len(h.calls) == 3
    # A new container ID resets the result and resumes probing.
    h.running("c2")
    assert await h.worker.do_probe()
    assert h.results == {"c2": "success"}
    assert len(h.calls) == 4


async def test_readiness_needs_success_threshold_successes_and_never_holds() -> None:
    h = Harness("readiness", probe_spec(successThreshold=2, failureThreshold=2))
    h.running()
    h.outcomes = [SUCCESS, SUCCESS, FAILURE, FAILURE, SUCCESS]
    await h.worker.do_probe()
    assert h.results == {"c1": "failure"}
    await h.worker.do_probe()
    assert h.results == {"c1": "success"}
    await h.worker.do_probe()
    assert h.results == {"c1": "success"}
    await h.worker.do_probe()
    assert h.results == {"c1": "failure"}
    await h.worker.do_probe()
    assert len(h.calls) == 5
    assert [p[3] for p in h.published] == ["failure", "success", "failure"]


async def test_an_errored_run_is_discarded_and_does_not_break_a_run_of_failures() -> None:
    h = Harness("liveness")
    h.running()
    h.outcomes = [FAILURE, ProbeOutcome("unknown", "", "no route"), FAILURE, FAILURE]
    for _ in range(3):
        await h.worker.do_probe()
    assert h.results == {"c1": "success"}
    assert h.events[1] == (
        "Warning",
        "Unhealthy",
        "Liveness probe errored and resulted in unknown state: no route",
        "spec.containers{app}",
    )
    await h.worker.do_probe()
    assert h.results == {"c1": "failure"}


async def test_a_warning_counts_as_success_with_a_probe_warning_event() -> None:
    h = Harness("readiness")
    h.running()
    h.outcomes = [ProbeOutcome("warning", "Probe terminated redirects, Response body: moved")]
    await h.worker.do_probe()
    assert h.results == {"c1": "success"}
    assert h.events == [
        (
            "Warning",
            "ProbeWarning",
            "Readiness probe warning: Probe terminated redirects, Response body: moved",
            "spec.containers{app}",
        ),
    ]


async def test_unknown_without_an_error_is_a_silent_failure() -> None:
    h = Harness("liveness", probe_spec(failureThreshold=1))
    h.running()
    h.outcomes = [ProbeOutcome("unknown")]
    await h.worker.do_probe()
    assert h.results == {"c1": "failure"}
    assert h.events == []


async def test_no_probe_within_initial_delay_seconds_counted_in_whole_seconds() -> None:
    h = Harness("readiness", probe_spec(initialDelaySeconds=5))
    h.running()
    h.clock.now += 4.99
    await h.worker.do_probe()
    assert h.calls == []
    h.clock.now += 0.01
    await h.worker.do_probe()
    assert len(h.calls) == 1


@pytest.mark.parametrize("probe_type", ["liveness", "readiness"])
async def test_liveness_and_readiness_wait_for_the_container_to_be_started(probe_type: ProbeType) -> None:
    h = Harness(probe_type)
    h.running(started=False)
    await h.worker.do_probe()
    assert h.calls == []
    h.running(started=True)
    await h.worker.do_probe()
    assert len(h.calls) == 1


async def test_startup_probes_until_started_then_holds() -> None:
    h = Harness("startup", probe_spec(failureThreshold=2))
    h.running(started=False)
    h.outcomes = [FAILURE, SUCCESS]
    await h.worker.do_probe()
    assert h.results == {"c1": None}
    await h.worker.do_probe()
    assert h.results == {"c1": "success"}
    # Any final startup result holds the worker until a new container (kubernetes#117153).
    await h.worker.do_probe()
    assert len(h.calls) == 2
    # Once the container counts as started, a startup worker does not probe it either.
    h.running("c2", started=True)
    await h.worker.do_probe()
    assert len(h.calls) == 2


async def test_startup_failure_publishes_failure_and_holds() -> None:
    h = Harness("startup", probe_spec(failureThreshold=2))
    h.running(started=False)
    h.outcomes = [FAILURE, FAILURE, FAILURE]
    await h.worker.do_probe()
    await h.worker.do_probe()
    assert h.results == {"c1": "failure"}
    await h.worker.do_probe()
    assert len(h.calls) == 2


@pytest.mark.parametrize("probe_type", ["liveness", "startup"])
async def test_pod_deletion_sets_liveness_and_startup_to_success_and_stops_them(
    probe_type: ProbeType,
) -> None:
    h = Harness(probe_type)
    h.running(started=probe_type == "liveness", deleting=True)
    assert not await h.worker.do_probe()
    assert h.results == {"c1": "success"}
    assert h.calls == []


async def test_readiness_keeps_probing_during_deletion() -> None:
    h = Harness("readiness")
    h.running(deleting=True)
    assert await h.worker.do_probe()
    assert len(h.calls) == 1


async def test_a_terminal_pod_ends_the_worker() -> None:
    for phase in ("Succeeded", "Failed"):
        h = Harness("readiness")
        h.running(phase=phase)
        assert not await h.worker.do_probe()
        assert h.calls == []


@pytest.mark.parametrize(
    ("restart_policy", "sidecar", "terminated", "keep_going"),
    [
        ("Never", False, True, False),
        ("OnFailure", False, True, True),
        ("Always", False, True, True),
        ("Never", True, True, True),  # a sidecar is always restarted
        ("Never", False, False, True),  # created, not started yet
    ],
)
async def test_a_container_not_running_fails_and_ends_the_worker_unless_restartable(
    restart_policy: str, sidecar: bool, terminated: bool, keep_going: bool
) -> None:
    h = Harness("readiness", restart_policy=restart_policy, sidecar=sidecar)
    h.running(running=False, terminated=terminated)
    assert await h.worker.do_probe() is keep_going
    assert h.results == {"c1": "failure"}
    assert h.calls == []


async def test_sidecar_events_name_the_init_container() -> None:
    h = Harness("readiness", sidecar=True)
    h.running()
    h.outcomes = [FAILURE]
    await h.worker.do_probe()
    assert h.events[0][3] == "spec.initContainers{app}"


async def test_the_run_and_result_count_carry_over_to_a_new_container() -> None:
    # worker.go resets neither lastResult nor resultRun for a new container ID (only onHold).
    h = Harness("readiness", probe_spec(successThreshold=2))
    h.running()
    await h.worker.do_probe()
    await h.worker.do_probe()
    assert h.results == {"c1": "success"}
    h.running("c2")
    await h.worker.do_probe()
    assert h.results == {"c2": "success"}


# --- the loop ---------------------------------------------------------------------------------------------


def timed_runner(h: Harness, stop_after: int, during: Callable[[int], None] | None = None) -> list[float]:
    """Make `h`'s runner log probe times (seconds from START) and stop the worker after `stop_after` runs."""
    times: list[float] = []

    async def run(
        container: Mapping[str, Any], probe: Mapping[str, Any], target: TargetStatus
    ) -> ProbeOutcome:
        times.append(h.clock.now - START)
        if during is not None:
            during(len(times))
        if len(times) == stop_after:
            h.worker.stop()
        return SUCCESS

    h.worker._runner = run
    return times


async def test_the_loop_probes_at_once_then_every_period_and_drops_its_results_on_exit() -> None:
    h = Harness("readiness")
    h.running()
    times = timed_runner(h, stop_after=3)
    await asyncio.wait_for(h.worker.run(), 1)
    assert times == [0, 10, 20]
    assert h.results == {}


async def test_a_trigger_probes_at_once_and_restarts_the_period() -> None:
    h = Harness("readiness")
    h.running()

    def during(n: int) -> None:
        if n == 1:
            h.clock.now += 3
            h.worker.trigger()

    times = timed_runner(h, stop_after=3, during=during)
    await asyncio.wait_for(h.worker.run(), 1)
    assert times == [0, 3, 13]


async def test_ticks_missed_during_a_long_probe_are_dropped() -> None:
    h = Harness("readiness")
    h.running()

    def during(n: int) -> None:
        if n == 1:
            h.clock.now += 25

    times = timed_runner(h, stop_after=3, during=during)
    await asyncio.wait_for(h.worker.run(), 1)
    assert times == [25 - 25, 25, 30]


async def test_workers_started_just_after_the_kubelet_spread_their_first_probe() -> None:
    h = Harness("readiness")
    h.running()
    h.worker._kubelet_start = h.clock.now - 2
    h.worker._random = lambda: 0.5
    times = timed_runner(h, stop_after=2)
    await asyncio.wait_for(h.worker.run(), 1)
    assert times == [5, 15]


async def test_a_crashing_probe_does_not_end_the_worker() -> None:
    h = Harness("readiness")
    h.running()
    calls = 0

    async def run(
        container: Mapping[str, Any], probe: Mapping[str, Any], target: TargetStatus
    ) -> ProbeOutcome:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug")
        h.worker.stop()
        return SUCCESS

    h.worker._runner = run
    await asyncio.wait_for(h.worker.run(), 1)
    assert calls == 2


# --- the manager ------------------------------------------------------------------------------------------


async def never(seconds: float) -> None:
    """A sleep whose tick never comes: workers probe at start and when triggered only."""
    await asyncio.Event().wait()


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


@dataclass
class ManagerHarness:
    outcomes: dict[tuple[str, str], list[ProbeOutcome]] = field(default_factory=dict)
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    published: list[tuple[str, str, str, str, str | None]] = field(default_factory=list)
    events: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.manager = ProbeManager(
            runner=self.run,
            on_result=lambda *args: self.published.append(args),
            record_event=lambda pod, *args: self.events.append((pod["metadata"]["uid"], *args)),
            clock=FakeClock(),
            sleep=never,
        )

    async def run(
        self, container: Mapping[str, Any], probe: Mapping[str, Any], target: TargetStatus
    ) -> ProbeOutcome:
        kind = next(k for k, key in PROBE_KEYS.items() if container.get(key) is probe)
        self.calls.append((container["name"], kind, target.container_id))
        script = self.outcomes.get((container["name"], kind))
        return script.pop(0) if script else SUCCESS


def pod_with_probes() -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": UID},
        "spec": {
            "restartPolicy": "Always",
            "initContainers": [
                {"name": "setup", "readinessProbe": probe_spec()},  # not probed: a regular init container
                {"name": "side", "restartPolicy": "Always", "readinessProbe": probe_spec()},
            ],
            "containers": [
                {
                    "name": "app",
                    "startupProbe": probe_spec(),
                    "readinessProbe": probe_spec(),
                    "livenessProbe": probe_spec(),
                },
                {"name": "plain"},
            ],
        },
        "status": {"phase": "Running"},
    }


def run_all(h: ManagerHarness) -> None:
    for name, cid in (("setup", "c0"), ("side", "c1"), ("app", "c2"), ("plain", "c3")):
        h.manager.update_container(UID, name, cid, started_at=START, running=True, sandbox_id="s1")


async def test_the_manager_probes_containers_and_sidecars_and_reports_started_and_ready() -> None:
    h = ManagerHarness()
    run_all(h)
    h.manager.add_pod(pod_with_probes())
    await settle()
    assert sorted(h.calls) == [
        ("app", "liveness", "c2"),
        ("app", "readiness", "c2"),
        ("app", "startup", "c2"),
        ("side", "readiness", "c1"),
    ]
    assert h.manager.results("c2") == ("success", "success", "success")
    assert ("6f1c-uid", "app", "c2", "startup", None) in h.published
    assert ("6f1c-uid", "app", "c2", "startup", "success") in h.published
    for name, cid in (("side", "c1"), ("app", "c2"), ("plain", "c3")):
        assert h.manager.is_started(UID, name, cid)
        assert h.manager.is_ready(UID, name, cid)
    h.manager.remove_pod(UID)
    await asyncio.wait_for(h.manager.join(), 1)
    assert h.manager.results("c2") == (None, None, None)


async def test_a_startup_probe_without_a_result_holds_started_and_ready_back() -> None:
    h = ManagerHarness()
    h.manager.add_pod(pod_with_probes())
    await settle()  # the workers' first probe finds no container
    run_all(h)
    assert not h.manager.is_started(UID, "app", "c2")
    assert not h.manager.is_ready(UID, "app", "c2")
    assert h.manager.is_started(UID, "plain", "c3")
    h.manager.stop()
    await asyncio.wait_for(h.manager.join(), 1)


async def test_asking_for_readiness_triggers_a_readiness_probe() -> None:
    h = ManagerHarness(outcomes={("side", "readiness"): [FAILURE]})
    run_all(h)
    h.manager.add_pod(pod_with_probes())
    await settle()
    assert h.events == [
        (UID, "Warning", "Unhealthy", "Readiness probe failed: boom", "spec.initContainers{side}")
    ]
    assert not h.manager.is_ready(UID, "side", "c1")  # triggers the worker
    await settle()
    assert h.calls.count(("side", "readiness", "c1")) == 2
    assert h.manager.is_ready(UID, "side", "c1")
    h.manager.stop()
    await asyncio.wait_for(h.manager.join(), 1)


async def test_stop_liveness_and_startup_keeps_readiness_running() -> None:
    h = ManagerHarness()
    run_all(h)
    h.manager.add_pod(pod_with_probes())
    await settle()
    h.manager.stop_liveness_and_startup(UID)
    await settle()
    assert h.manager.results("c2") == (None, None, "success")
    assert h.manager.is_started(UID, "app", "c2")  # no startup worker left
    h.manager.remove_pod(UID)
    await asyncio.wait_for(h.manager.join(), 1)


async def test_workers_end_when_the_pod_is_terminal() -> None:
    h = ManagerHarness(outcomes={("side", "readiness"): [FAILURE]})
    run_all(h)
    pod = pod_with_probes()
    h.manager.add_pod(pod)
    await settle()
    assert h.manager.results("c1") == (None, None, "failure")
    h.manager.update_pod({**pod, "status": {"phase": "Succeeded"}})
    assert not h.manager.is_ready(UID, "side", "c1")  # wakes the readiness worker, which now exits
    await settle()
    assert h.manager.results("c1") == (None, None, None)
    assert h.calls.count(("side", "readiness", "c1")) == 1
    h.manager.stop()
    await asyncio.wait_for(h.manager.join(), 1)


def test_a_manager_needs_a_runtime_or_a_runner() -> None:
    with pytest.raises(ValueError):
        ProbeManager(on_result=lambda *a: None, record_event=lambda *a: None)
