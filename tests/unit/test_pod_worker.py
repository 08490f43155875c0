"""The pod worker over the in-memory runtime: starts, exits, deletion, start failures. No root needed."""

from __future__ import annotations

from pathlib import Path

from node_fakes import MemoryHost, fake_node, simple_pod
from pytest import MonkeyPatch

from podrun.json_types import JSON
from podrun.kubelet import worker
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


class _CountingHost(MemoryHost):
    """A host that counts the ConfigMap reads (each volume check reads the pod's ConfigMaps again)."""

    configmap_reads: int = 0

    def get_configmap(self, namespace: str, name: str) -> JSON | None:
        self.configmap_reads += 1
        return None


async def test_a_pod_being_deleted_has_its_volumes_checked_no_more(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "EVICTION_MONITORING_SECONDS", 0.0)  # every sync is a check's turn
    pod = simple_pod("app", restart_policy="Always", grace=7)
    config_map = {"name": "settings", "optional": True, "defaultMode": 0o644}
    pod["spec"]["volumes"] = [{"name": "config", "configMap": config_map}]
    async with fake_node(tmp_path, host=_CountingHost()) as (node, runtime, host):
        node.run_pod(pod)
        await host.wait_until(lambda: ("start_container", "app") in runtime.calls)
        reads_before_deletion = host.configmap_reads  # type: ignore[attr-defined]
        node.delete_pod(pod, grace=7)
        await host.wait_until(host.terminated.is_set)

    assert reads_before_deletion > 0
    assert host.configmap_reads == reads_before_deletion  # type: ignore[attr-defined]
