"""Which API updates of a pod wake its worker: those the kubelet's `podsDifferSemantically` sees, not status echoes."""

from __future__ import annotations

import copy
from pathlib import Path

from node_fakes import fake_node, simple_pod

from podrun.json_types import JSON
from podrun.kubelet.pod_changes import differs_semantically

POD: JSON = {
    "metadata": {"name": "web", "uid": "u1", "resourceVersion": "7", "labels": {"app": "web"}},
    "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    "status": {"phase": "Pending"},
}


def changed(**edits: JSON) -> JSON:
    pod = copy.deepcopy(POD)
    for part, fields in edits.items():
        pod[part].update(fields)
    return pod


def test_a_new_status_and_resource_version_alone_is_no_semantic_change() -> None:
    update = changed(status={"phase": "Running"}, metadata={"resourceVersion": "8", "managedFields": [{}]})
    assert not differs_semantically(POD, update)


def test_a_spec_change_is_a_semantic_change() -> None:
    assert differs_semantically(POD, changed(spec={"ephemeralContainers": [{"name": "debug"}]}))


def test_a_label_or_annotation_change_is_a_semantic_change() -> None:
    assert differs_semantically(POD, changed(metadata={"labels": {"app": "other"}}))
    assert differs_semantically(POD, changed(metadata={"annotations": {"note": "x"}}))


def test_a_deletion_is_a_semantic_change() -> None:
    assert differs_semantically(POD, changed(metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"}))
    assert differs_semantically(POD, changed(metadata={"deletionGracePeriodSeconds": 0}))


def test_an_empty_annotation_map_equals_none() -> None:
    assert not differs_semantically(POD, changed(metadata={"annotations": {}}))


async def test_the_worker_is_woken_by_a_deletion_but_not_by_its_own_status_coming_back(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, _runtime, host):
        pod = simple_pod("app", restart_policy="Always")
        worker = node.run_pod(pod)
        await host.wait_until(lambda: host.latest.get("phase") == "Running" and not worker._wake.is_set())

        node.update_pod(dict(pod, status=host.latest))
        woken_by_status = worker._wake.is_set()
        node.update_pod(dict(pod, metadata=dict(pod["metadata"], deletionTimestamp="2026-01-01T00:00:00Z")))
        woken_by_deletion = worker._wake.is_set()
        await host.wait_until(host.terminated.is_set)

    assert (woken_by_status, woken_by_deletion) == (False, True)


def ready(status: JSON) -> str:
    return next((c["status"] for c in status.get("conditions") or [] if c["type"] == "Ready"), "")


async def test_a_readiness_gates_condition_set_through_the_api_makes_the_pod_ready(tmp_path: Path) -> None:
    async with fake_node(tmp_path) as (node, _runtime, host):
        pod = simple_pod("app", restart_policy="Always")
        pod["spec"]["readinessGates"] = [{"conditionType": "example.com/lb-ready"}]
        node.run_pod(pod)
        await host.wait_until(lambda: host.latest.get("phase") == "Running")
        not_ready = ready(host.latest)

        gate = {"type": "example.com/lb-ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        node.update_pod(dict(pod, status=dict(host.latest, conditions=[gate, *host.latest["conditions"]])))
        await host.wait_until(lambda: ready(host.latest) == "True")

    assert not_ready == "False"
    assert host.latest["conditions"][0] == gate
