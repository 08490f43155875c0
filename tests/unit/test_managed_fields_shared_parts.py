"""`record_update` skips the parts a write shares with the live object, and must own exactly what it owned before."""

from __future__ import annotations

import copy

from podrun.api.field_managers import record_update
from podrun.json_types import JSON

LIVE: JSON = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web", "namespace": "default", "uid": "u1", "labels": {"app": "web"},
        "managedFields": [{
            "manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
            "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
        }],
    },
    "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]},
}  # fmt: skip
STATUS: JSON = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "podIP": "10.244.0.2"}


def entries(obj: JSON) -> list[tuple[str, str, JSON]]:
    return [(e["manager"], e.get("subresource", ""), e["fieldsV1"]) for e in obj["metadata"]["managedFields"]]


def test_a_status_write_sharing_spec_and_metadata_owns_what_a_write_of_copies_owns() -> None:
    shared = record_update("Pod", LIVE, dict(LIVE, status=STATUS), "kubelet", has_status=True, subresource="status")
    copied = record_update(
        "Pod", LIVE, copy.deepcopy(dict(LIVE, status=STATUS)), "kubelet", has_status=True, subresource="status"
    )
    assert entries(shared) == entries(copied)
    # It owns what it changed: the condition's status, the phase, the new podIP.
    changed = {"f:conditions": {'k:{"type":"Ready"}': {"f:status": {}}}, "f:phase": {}, "f:podIP": {}}
    assert ("kubelet", "status", {"f:status": changed}) in entries(shared)


def test_the_result_leaves_the_objects_it_was_given_as_they_were() -> None:
    live, new = copy.deepcopy(LIVE), dict(copy.deepcopy(LIVE), status=STATUS)
    before = (copy.deepcopy(live), copy.deepcopy(new))
    record_update("Pod", live, new, "kubelet", has_status=True, subresource="status")
    assert (live, new) == before
