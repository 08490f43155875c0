"""The Node facade: admission and deletion as the API server does them, for `podrun run` and `podrun serve`."""

from __future__ import annotations

from pathlib import Path

from node_fakes import NODE_NAME, fake_node, simple_pod

from podrun.kubelet.admission import admit_pod, deletion_grace_period, marked_for_deletion
from podrun.kubelet.backoff import Backoff
from podrun.runtime.protocol import EventKind
from podrun.timestamps import parse_unix

NOW = 1_700_000_000.0


def _new_pod(**spec: object) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "busybox"}], **spec}}


def test_admission_gives_a_uid_a_creation_time_a_namespace_and_the_node() -> None:
    pod = admit_pod(_new_pod(), NODE_NAME, now=NOW)

    assert pod["metadata"]["uid"]
    assert parse_unix(pod["metadata"]["creationTimestamp"]) == NOW
    assert pod["metadata"]["namespace"] == "default"
    assert pod["spec"]["nodeName"] == NODE_NAME


def test_admission_fixes_the_qos_class() -> None:
    assert admit_pod(_new_pod(), NODE_NAME, now=NOW)["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_a_pod_with_scheduling_gates_is_not_bound() -> None:
    pod = admit_pod(_new_pod(schedulingGates=[{"name": "wait"}]), NODE_NAME, now=NOW)

    assert "nodeName" not in pod["spec"]


def test_deletion_without_a_grace_period_uses_the_pods_own() -> None:
    assert deletion_grace_period(simple_pod("app", grace=12), None) == 12


def test_a_negative_grace_period_becomes_one_second() -> None:
    assert deletion_grace_period(simple_pod("app"), -5) == 1


def test_a_finished_pod_is_deleted_without_grace() -> None:
    pod = simple_pod("app")
    pod["status"]["phase"] = "Succeeded"

    assert deletion_grace_period(pod, 30) == 0


def test_a_deleted_pod_is_marked_with_its_deadline_and_grace() -> None:
    meta = marked_for_deletion(simple_pod("app"), 10, now=NOW)["metadata"]

    assert (parse_unix(meta["deletionTimestamp"]), meta["deletionGracePeriodSeconds"]) == (NOW + 10, 10)


async def test_deleting_through_the_node_stops_the_pod_with_the_requested_grace(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        pod = simple_pod("app", restart_policy="Always")
        node.run_pod(pod)
        await host.wait_until(lambda: ("start_container", "app") in runtime.calls)
        node.delete_pod(pod, 4)
        await host.wait_until(host.terminated.is_set)

    assert runtime.stop_graces == {"app": 4}


async def test_force_kill_kills_at_once_and_ends_the_pod(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        pod = simple_pod("app", restart_policy="Always")
        node.run_pod(pod)
        await host.wait_until(lambda: ("start_container", "app") in runtime.calls)
        await node.force_kill(pod["metadata"]["uid"])
        await host.wait_until(host.terminated.is_set)

    assert runtime.stop_graces == {"app": 0}


async def test_the_node_finds_a_pods_running_container_by_name(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        pod = simple_pod("app", "web", restart_policy="Always")
        node.run_pod(pod)
        await host.wait_until(lambda: ("start_container", "web") in runtime.calls)
        found = await node.running_container(pod["metadata"]["uid"], "web")
        await node.forget_pod(pod)

    assert found is not None and found.name == "web"


async def test_a_pod_adopted_with_a_start_time_gets_no_new_scheduled_event(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, _runtime, host):
        pod = simple_pod("app", restart_policy="Always")
        pod["status"]["startTime"] = "2026-01-01T00:00:00Z"
        node.run_pod(pod)
        await host.wait_until(lambda: "Started" in host.reasons())
        await node.forget_pod(pod)

    assert "Scheduled" not in host.reasons()


async def test_forgetting_a_pod_drops_expired_crash_loop_backoffs(tmp_path: Path) -> None:
    now = [NOW]
    backoff = Backoff(clock=lambda: now[0])
    backoff.next("long-gone", NOW)
    now[0] = NOW + 500
    backoff.next("recent", NOW + 500)
    now[0] = NOW + 601  # 600 s after its last update an entry has expired (the kubelet's 2 x 300 s)
    async with fake_node(tmp_path, crash_backoff=backoff) as (node, _runtime, _host):
        await node.forget_pod(simple_pod("app"))

    assert (backoff.get("long-gone"), backoff.get("recent")) == (0.0, 10.0)


async def test_a_forgotten_pod_leaves_no_probe_state_even_after_late_runtime_events(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        pod = simple_pod("app")
        node.run_pod(pod)
        await host.wait_until(lambda: ("start_container", "app") in runtime.calls)
        runtime.exit("app")
        await host.wait_until(host.terminated.is_set)
        [app] = runtime.named("app")
        runtime._emit(EventKind.EXITED, app)  # an event the runtime sends after the worker finished
        probes = node._kubelet.deps.probes
        await host.wait_until(lambda: probes.holds_pod(pod["metadata"]["uid"]))

        await node.forget_pod(pod)

        assert not probes.holds_pod(pod["metadata"]["uid"])
