"""Killing a pod's containers: the kubelet's grace periods and its sidecars-last ordering. No root needed."""

from __future__ import annotations

from fake_runtime import FakeRuntime
from node_fakes import simple_pod

from podrun.kubelet import labels
from podrun.kubelet.planner import KillInfo
from podrun.kubelet.termination import grace_period_seconds, kill_containers
from podrun.runtime.protocol import ContainerConfig, ContainerStatus


async def _running(runtime: FakeRuntime, *names: str) -> list[ContainerStatus]:
    for name in names:
        config = ContainerConfig(name=name, image="busybox", labels={labels.CONTAINER_NAME: name})
        await runtime.start_container(await runtime.create_container("sandbox", config))
    return await runtime.list_containers()


def _no_events(kind: str, reason: str, message: str, ref: str) -> None:
    pass


async def test_sidecars_stop_after_the_main_containers_in_reverse_order() -> None:
    runtime = FakeRuntime()
    pod = simple_pod("app", sidecars=("proxy", "logger"))
    running = await _running(runtime, "logger", "proxy", "app")

    await kill_containers(runtime, pod, running, {}, record=_no_events)

    assert [name for method, name in runtime.calls if method == "stop_container"] == ["app", "logger", "proxy"]


async def test_every_container_gets_the_pods_grace_period() -> None:
    runtime = FakeRuntime()
    pod = simple_pod("app", "web", grace=12)

    await kill_containers(runtime, pod, await _running(runtime, "app", "web"), {}, record=_no_events)

    assert runtime.stop_graces == {"app": 12, "web": 12}


async def test_a_kill_override_replaces_every_grace_period() -> None:
    runtime = FakeRuntime()
    pod = simple_pod("app", sidecars=("proxy",))

    await kill_containers(runtime, pod, await _running(runtime, "proxy", "app"), {}, record=_no_events, kill_override=0)

    assert runtime.stop_graces == {"proxy": 0, "app": 0}


async def test_a_short_grace_period_still_leaves_a_moment_for_sigterm() -> None:
    runtime = FakeRuntime()
    pod = simple_pod("app", grace=0)

    await kill_containers(runtime, pod, await _running(runtime, "app"), {}, record=_no_events)

    assert runtime.stop_graces == {"app": 2}


async def test_each_kill_is_recorded_with_its_reason() -> None:
    runtime, events = FakeRuntime(), []
    pod = simple_pod("app")
    [app] = await _running(runtime, "app")
    info = KillInfo(name="app", container=pod["spec"]["containers"][0], reason="LivenessProbe", message="unhealthy")

    await kill_containers(runtime, pod, [app], {app.id: info}, record=lambda *event: events.append(event))

    assert events == [("Normal", "Killing", "unhealthy", "spec.containers{app}")]


def test_the_deletion_grace_period_wins_over_the_pods() -> None:
    pod = simple_pod("app", grace=30)
    pod["metadata"]["deletionGracePeriodSeconds"] = 5

    assert grace_period_seconds(pod, pod["spec"]["containers"][0], "") == 5


def test_a_probes_own_grace_period_wins_when_the_probe_kills() -> None:
    pod = simple_pod("app", grace=30)
    container = dict(pod["spec"]["containers"][0], livenessProbe={"terminationGracePeriodSeconds": 3})

    assert grace_period_seconds(pod, container, "LivenessProbe") == 3
    assert grace_period_seconds(pod, container, "") == 30

