"""The pod worker over the in-memory runtime: starts, exits, deletion, start failures. No root needed."""

from __future__ import annotations

from pathlib import Path

from node_fakes import fake_node, simple_pod

from podrun.runtime.protocol import ContainerState


def _waiting_reason(status: dict, name: str) -> str:
    for s in status.get("containerStatuses") or []:
        if s["name"] == name:
            return ((s.get("state") or {}).get("waiting") or {}).get("reason", "")
    return ""


async def test_a_pod_whose_container_exits_zero_succeeds_and_its_sandbox_goes(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        node.run_pod(simple_pod("app"))
        await host.wait_until(lambda: ("start_container", "app") in runtime.calls)
        runtime.exit("app", 0)
        await host.wait_until(host.terminated.is_set)

    assert host.latest["phase"] == "Succeeded"
    assert runtime.sandboxes == {}


async def test_the_sandbox_is_made_before_the_container_and_the_events_say_so(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        node.run_pod(simple_pod("app"))
        await host.wait_until(lambda: "Started" in host.reasons())
        runtime.exit("app", 0)
        await host.wait_until(host.terminated.is_set)

    methods = [method for method, _ in runtime.calls]
    assert methods.index("create_sandbox") < methods.index("create_container") < methods.index("start_container")
    assert host.reasons()[:4] == ["Scheduled", "Pulled", "Created", "Started"]


async def test_a_failed_create_shows_its_waiting_reason_at_once(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        runtime.fail_next("create_container", message="no space left")
        worker = node.run_pod(simple_pod("app"))
        await host.wait_until(lambda: _waiting_reason(host.latest, "app") == "CreateContainerError")
        worker.terminate(grace_override=0)
        await host.wait_until(host.terminated.is_set)

    assert "Failed" in host.reasons()


async def test_deletion_stops_the_containers_with_the_pods_grace_period(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        pod = simple_pod("app", restart_policy="Always", grace=7)
        worker = node.run_pod(pod)
        await host.wait_until(lambda: ("start_container", "app") in runtime.calls)
        meta = dict(pod["metadata"], deletionTimestamp="2026-01-01T00:00:07Z", deletionGracePeriodSeconds=7)
        node.update_pod(dict(pod, metadata=meta))
        await host.wait_until(host.terminated.is_set)

    assert runtime.stop_graces == {"app": 7}
    assert worker.finished.is_set()


async def test_a_second_interrupt_kills_without_grace(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        worker = node.run_pod(simple_pod("app", restart_policy="Always"))
        await host.wait_until(lambda: ("start_container", "app") in runtime.calls)
        await worker.kill_running_now()
        worker.terminate()
        await host.wait_until(host.terminated.is_set)

    assert runtime.stop_graces == {"app": 0}


async def test_forgetting_a_pod_kills_what_runs_at_once_and_drops_its_logs(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, runtime, host):
        pod = simple_pod("app", restart_policy="Always")
        node.run_pod(pod)
        await host.wait_until(lambda: ("start_container", "app") in runtime.calls)
        log_dir = node.paths.pod_log_dir(pod)
        log_dir.mkdir(parents=True)
        await node.forget_pod(pod)

    assert runtime.stop_graces == {"app": 0}
    assert all(c.state == ContainerState.EXITED for c in runtime.containers.values())
    assert not log_dir.exists()
