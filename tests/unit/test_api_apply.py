"""Field ownership: the typed walks (field sets, comparison, merge, removal), server-side apply and the managers
Update operations record, on plain objects (no server)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from podrun.api import fieldpath
from podrun.api.apply import server_side_apply
from podrun.api.errors import ApiError
from podrun.api.field_managers import (
    decode,
    field_manager_errors,
    keeping_timestamps_of_a_no_op,
    manager_from_user_agent,
    record_object_write,
    record_update,
)
from podrun.api.fieldpath import field, key, value
from podrun.api.store import Store
from podrun.api.typed_value import compare, duplicate_entries, field_set, kind_type, merge, remove
from podrun.services.controller import ServicesController

JSON = dict[str, Any]
POD, CONFIGMAP = kind_type("Pod"), kind_type("ConfigMap")
CONTAINERS = fieldpath.path("spec", "containers")


def configmap(labels: dict[str, str] | None = None, **data: str) -> JSON:
    meta: JSON = {"name": "cfg", "namespace": "default"}
    if labels is not None:
        meta["labels"] = labels
    obj: JSON = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    if data:
        obj["data"] = data
    return obj


def pod(*containers: JSON, **spec: Any) -> JSON:
    spec["containers"] = list(containers)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def fields_of(obj: JSON, manager: str, operation: str = "Apply") -> JSON:
    for entry in obj["metadata"].get("managedFields", []):
        if entry["manager"] == manager and entry["operation"] == operation:
            return dict(entry["fieldsV1"])
    raise AssertionError(f"no {operation} entry of {manager}")


def apply(live: JSON | None, config: JSON, manager: str = "kubectl", *, force: bool = False) -> JSON:
    return server_side_apply(config["kind"], live, config, manager, force=force, has_status=config["kind"] == "Pod")


# --- field sets --------------------------------------------------------------------------------------------------


def test_the_field_set_names_list_elements_by_their_keys_and_sets_by_value() -> None:
    obj = pod({"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]})
    obj["metadata"]["finalizers"] = ["example.com/a"]
    web = (*CONTAINERS, key({"name": "web"}))
    assert field_set(obj, POD) >= {
        web,
        (*web, field("image")),
        # The protocol key defaults to TCP, as upstream's schema says.
        (*web, field("ports"), key({"containerPort": 80, "protocol": "TCP"})),
        (*fieldpath.path("metadata", "finalizers"), value("example.com/a")),
    }


def test_struct_fields_holding_values_are_not_members_but_map_entries_and_atomic_lists_are() -> None:
    obj = pod({"name": "web", "args": ["a", "b"]})
    paths = field_set(obj, POD)
    assert fieldpath.path("spec") not in paths and CONTAINERS not in paths
    assert (*CONTAINERS, key({"name": "web"}), field("args")) in paths
    assert (*CONTAINERS, key({"name": "web"}), field("args"), fieldpath.index(0)) not in paths


def test_compare_reports_added_modified_and_removed_leaves() -> None:
    before = configmap({"a": "1", "b": "2"}, k="v")
    after = configmap({"a": "1", "c": "3"}, k="w")
    labels = fieldpath.path("metadata", "labels")
    result = compare(before, after, CONFIGMAP)
    assert result.added == {(*labels, field("c"))}
    assert result.modified == {fieldpath.path("data", "k")}
    assert result.removed == {(*labels, field("b"))}


def test_a_map_new_as_a_whole_is_added_itself() -> None:
    result = compare(configmap(), configmap({"a": "1"}), CONFIGMAP)
    assert fieldpath.path("metadata", "labels") in result.added


def test_merge_merges_associative_lists_by_key_and_replaces_atomic_ones() -> None:
    live = pod({"name": "a", "image": "x", "args": ["1"]}, {"name": "b", "image": "y"})
    config = pod({"name": "b", "image": "z"}, {"name": "a", "args": ["2"]})
    merged = merge(live, config, POD)
    assert merged["spec"]["containers"] == [{"name": "b", "image": "z"}, {"name": "a", "image": "x", "args": ["2"]}]


def test_merge_keeps_live_only_elements_in_place_and_appends_new_ones() -> None:
    live = pod({"name": "a"}, {"name": "side"}, {"name": "b"})
    config = pod({"name": "a"}, {"name": "b"}, {"name": "c"})
    names = [c["name"] for c in merge(live, config, POD)["spec"]["containers"]]
    assert names == ["a", "side", "b", "c"]


def test_merge_matches_an_element_applied_without_its_defaulted_key() -> None:
    live = pod({"name": "web", "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}]})
    config = pod({"name": "web", "ports": [{"containerPort": 80}]})
    ports = merge(live, config, POD)["spec"]["containers"][0]["ports"]
    assert ports == [{"containerPort": 80, "protocol": "TCP", "name": "http"}]


def test_remove_drops_values_and_list_elements_at_paths() -> None:
    obj = pod({"name": "a", "image": "x"}, {"name": "b", "image": "y"})
    gone = frozenset({(*CONTAINERS, key({"name": "b"})), (*CONTAINERS, key({"name": "a"}), field("image"))})
    assert remove(obj, gone, POD)["spec"]["containers"] == [{"name": "a"}]
    assert len(obj["spec"]["containers"]) == 2


# --- server-side apply -------------------------------------------------------------------------------------------


def test_apply_creates_with_an_apply_entry_owning_the_configuration() -> None:
    created = apply(None, configmap({"owner": "a"}, key="v"))
    entry = created["metadata"]["managedFields"][0]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["fieldsType"]) == (
        "kubectl",
        "Apply",
        "v1",
        "FieldsV1",
    )
    assert entry["fieldsV1"] == {"f:data": {"f:key": {}}, "f:metadata": {"f:labels": {"f:owner": {}}}}


def test_changing_a_field_another_applier_owns_is_a_conflict() -> None:
    live = apply(None, configmap({"owner": "a"}))
    with pytest.raises(ApiError) as raised:
        apply(live, configmap({"owner": "b"}), "other")
    error = raised.value
    assert error.code == 409 and error.reason == "Conflict"
    assert error.message == 'Apply failed with 1 conflict: conflict with "kubectl": .metadata.labels.owner'
    assert error.details == {
        "causes": [
            {"type": "FieldManagerConflict", "message": 'conflict with "kubectl"', "field": ".metadata.labels.owner"}
        ]
    }


def test_several_conflicts_are_listed_by_manager() -> None:
    live = apply(None, configmap({"owner": "a", "team": "x"}))
    with pytest.raises(ApiError) as raised:
        apply(live, configmap({"owner": "b", "team": "y"}), "other")
    assert raised.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl":\n- .metadata.labels.owner\n- .metadata.labels.team'
    )


def test_a_conflict_with_an_updater_names_its_api_version() -> None:
    live = record_update("ConfigMap", None, configmap({"owner": "a"}), "kubectl-create", has_status=False)
    with pytest.raises(ApiError) as raised:
        apply(live, configmap({"owner": "b"}))
    assert raised.value.message.endswith('conflict with "kubectl-create" using v1: .metadata.labels.owner')


def test_applying_the_same_value_shares_ownership_without_conflict() -> None:
    live = apply(None, configmap({"owner": "a"}))
    shared = apply(live, configmap({"owner": "a"}), "other")
    assert fields_of(shared, "kubectl") == fields_of(shared, "other")


def test_force_takes_the_field_from_its_owner() -> None:
    live = apply(None, configmap({"owner": "a", "team": "x"}))
    forced = apply(live, configmap({"owner": "b"}), "other", force=True)
    assert forced["metadata"]["labels"] == {"owner": "b", "team": "x"}
    assert fields_of(forced, "kubectl") == {"f:metadata": {"f:labels": {"f:team": {}}}}
    assert fields_of(forced, "other") == {"f:metadata": {"f:labels": {"f:owner": {}}}}


def test_a_field_the_applier_no_longer_applies_is_removed() -> None:
    live = apply(None, configmap({"owner": "a", "team": "x"}, key="v"))
    again = apply(live, configmap({"owner": "a"}))
    assert again["metadata"]["labels"] == {"owner": "a"}
    assert "data" not in again


def test_a_dropped_field_another_manager_also_owns_stays() -> None:
    live = apply(apply(None, configmap({"owner": "a", "team": "x"})), configmap({"team": "x"}), "other")
    again = apply(live, configmap({"owner": "a"}))
    assert again["metadata"]["labels"] == {"owner": "a", "team": "x"}
    assert fields_of(again, "other") == {"f:metadata": {"f:labels": {"f:team": {}}}}


def test_a_dropped_container_is_removed_by_its_key() -> None:
    live = apply(None, pod({"name": "a", "image": "x"}, {"name": "b", "image": "y"}))
    again = apply(live, pod({"name": "a", "image": "x"}))
    assert again["spec"]["containers"] == [{"name": "a", "image": "x"}]


def test_a_dropped_container_goes_whole_even_when_another_manager_changed_a_field_in_it() -> None:
    live = apply(None, pod({"name": "a", "image": "x"}, {"name": "b", "image": "y"}))
    changed = copy.deepcopy(live)
    changed["spec"]["containers"][1]["image"] = "z"
    edited = record_update("Pod", live, changed, "kubectl-set", has_status=True)
    again = apply(edited, pod({"name": "a", "image": "x"}))
    assert again["spec"]["containers"] == [{"name": "a", "image": "x"}]


def test_reapplying_the_same_configuration_changes_nothing() -> None:
    live = apply(None, configmap({"owner": "a"}, key="v"))
    assert apply(copy.deepcopy(live), configmap({"owner": "a"}, key="v")) == live


def test_apply_does_not_own_server_set_metadata_or_a_pods_status() -> None:
    config = pod({"name": "a", "image": "x"})
    config["status"] = {"phase": "Running"}
    owned = fields_of(apply(None, config), "kubectl")
    assert "f:status" not in owned and set(owned) == {"f:spec"}


# --- Update operations -------------------------------------------------------------------------------------------


def test_a_create_records_an_update_entry_with_new_maps_as_members() -> None:
    created = record_update("ConfigMap", None, configmap({"app": "x"}, key="v"), "kubectl-create", has_status=False)
    assert fields_of(created, "kubectl-create", "Update") == {
        "f:data": {".": {}, "f:key": {}},
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
    }


def test_a_pods_create_does_not_own_its_containers_list_itself() -> None:
    created = record_update("Pod", None, pod({"name": "a", "image": "x"}), "kubectl-run", has_status=True)
    assert "." not in fields_of(created, "kubectl-run", "Update")["f:spec"]["f:containers"]


def test_an_update_takes_changed_fields_from_other_managers() -> None:
    live = apply(None, configmap({"owner": "a", "team": "x"}))
    edited = record_update("ConfigMap", live, configmap({"owner": "b", "team": "x"}), "kubectl-edit", has_status=False)
    assert fields_of(edited, "kubectl") == {"f:metadata": {"f:labels": {"f:team": {}}}}
    assert fields_of(edited, "kubectl-edit", "Update") == {"f:metadata": {"f:labels": {"f:owner": {}}}}


def test_an_update_that_changes_nothing_records_nothing() -> None:
    live = apply(None, configmap({"owner": "a"}))
    same = record_update("ConfigMap", live, configmap({"owner": "a"}), "kubectl-edit", has_status=False)
    assert same["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_removed_fields_leave_every_manager() -> None:
    live = apply(None, configmap({"owner": "a", "team": "x"}))
    removed = record_update("ConfigMap", live, configmap({"owner": "a"}), "kubectl-edit", has_status=False)
    assert fields_of(removed, "kubectl") == {"f:metadata": {"f:labels": {"f:owner": {}}}}
    assert len(removed["metadata"]["managedFields"]) == 1


def test_a_status_update_is_recorded_for_the_status_subresource_only() -> None:
    live = record_update("Pod", None, dict(pod({"name": "a"}), status={}), "kubectl-create", has_status=True)
    updated = dict(live, status={"phase": "Running"})
    recorded = record_update("Pod", live, updated, "kubelet", has_status=True, subresource="status")
    entries = {(e["manager"], e.get("subresource", "")): e for e in recorded["metadata"]["managedFields"]}
    assert entries[("kubelet", "status")]["fieldsV1"] == {"f:status": {"f:phase": {}}}


def test_managed_fields_the_client_sends_replace_the_stored_ones_and_one_empty_entry_drops_them() -> None:
    live = apply(None, configmap({"owner": "a"}))
    reset = configmap({"owner": "a"})
    reset["metadata"]["managedFields"] = [{}]
    assert "managedFields" not in record_update("ConfigMap", live, reset, "kubectl-edit", has_status=False)["metadata"]
    assert decode(live) is not None


def test_the_manager_of_a_client_without_field_manager_is_its_user_agents_program() -> None:
    assert manager_from_user_agent("kubectl/v1.32.4 (linux/amd64) kubernetes/abc") == "kubectl"
    assert manager_from_user_agent("OpenAPI-Generator/31.0.0/python") == "OpenAPI-Generator"


def test_an_applied_configuration_must_name_the_served_version() -> None:
    config = configmap({"owner": "a"})
    del config["apiVersion"]
    with pytest.raises(ApiError) as raised:
        apply(None, config)
    assert (raised.value.code, raised.value.message) == (
        400,
        "Incorrect version specified in apply patch. Specified patch version: , expected: v1",
    )


def test_an_applied_configuration_may_not_carry_managed_fields() -> None:
    config = configmap({"owner": "a"})
    config["metadata"]["managedFields"] = []
    with pytest.raises(ApiError) as raised:
        apply(None, config)
    assert (raised.value.code, raised.value.message) == (400, "metadata.managedFields must be nil")


def test_field_managers_are_at_most_128_bytes_of_printable_characters() -> None:
    assert field_manager_errors("kubectl") == []
    too_long = [str(e) for e in field_manager_errors("x" * 129)]
    assert too_long == ["fieldManager: Too long: may not be more than 128 bytes"]
    assert [e.detail for e in field_manager_errors("a\tb")] == ["invalid character U+0009 (at position 1)"]


def test_an_update_without_the_status_leaves_its_ownership_alone() -> None:
    live = record_update("Pod", None, dict(pod({"name": "a"}), status={}), "kubectl-create", has_status=True)
    running = record_update(
        "Pod", live, dict(live, status={"phase": "Running"}), "kubelet", has_status=True, subresource="status"
    )
    replaced = record_update("Pod", running, pod({"name": "a", "image": "y"}), "kubectl-replace", has_status=True)
    entries = {(e["manager"], e.get("subresource", "")) for e in replaced["metadata"]["managedFields"]}
    assert ("kubelet", "status") in entries


def test_a_whole_object_write_is_one_entry_for_the_resource_and_one_for_its_status() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "labels": {"a": "b"}}, "status": {}}
    registered = record_object_write("Node", None, node, "kubelet")
    beat = dict(copy.deepcopy(registered), status={"phase": "Running"})
    written = record_object_write("Node", registered, beat, "kubelet")
    entries = {e.get("subresource", ""): e["fieldsV1"] for e in written["metadata"]["managedFields"]}
    assert entries == {"": {"f:metadata": {"f:labels": {".": {}, "f:a": {}}}}, "status": {"f:status": {"f:phase": {}}}}


def test_the_services_controllers_endpoints_are_owned_by_the_controller_manager(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}  # fmt: skip
    store.create("services", service)
    ServicesController(store).sync_namespace("default")
    entries = store.get("endpoints", "default", "web")["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"]) for e in entries] == [("kube-controller-manager", "Update")]


def test_more_than_ten_updaters_merge_the_oldest_into_ancient_changes() -> None:
    obj: JSON | None = None
    for number in range(11):
        labels = {f"l{n}": "x" for n in range(number + 1)}
        obj = record_update("ConfigMap", obj, configmap(labels), f"m{number:02}", has_status=False)
    assert obj is not None
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(managers) == 10 and managers[0] == "ancient-changes"
    assert fields_of(obj, "ancient-changes", "Update")["f:metadata"]["f:labels"] == {".": {}, "f:l0": {}, "f:l1": {}}


def test_an_atomic_struct_is_owned_as_a_whole() -> None:
    reference = {"name": "settings", "key": "level"}
    obj = pod({"name": "a", "env": [{"name": "LEVEL", "valueFrom": {"configMapKeyRef": reference}}]})
    env = (*CONTAINERS, key({"name": "a"}), field("env"), key({"name": "LEVEL"}), field("valueFrom"))
    paths = field_set(obj, POD)
    assert (*env, field("configMapKeyRef")) in paths
    assert (*env, field("configMapKeyRef"), field("key")) not in paths


# --- nulls and duplicates in an applied configuration ------------------------------------------------------------


def test_null_fields_in_an_applied_configuration_are_not_stored() -> None:
    live = apply(None, configmap({"owner": "a"}, key="v"), manager="first")
    config = configmap(key="v")
    config["metadata"]["labels"] = None
    config["data"] = None
    applied = apply(live, config, manager="second")
    assert applied["metadata"]["labels"] == {"owner": "a"} and applied["data"] == {"key": "v"}


def test_an_object_created_with_null_labels_has_none() -> None:
    config = configmap()
    config["metadata"]["labels"] = None
    assert "labels" not in apply(None, config)["metadata"]


def test_a_null_label_value_stays_for_the_strategy_to_make_empty() -> None:
    config = configmap({"a": None})  # type: ignore[dict-item]
    assert apply(None, config)["metadata"]["labels"] == {"a": None}


def test_reapplying_a_configuration_with_nulls_changes_nothing() -> None:
    config = configmap(key="v")
    config["metadata"]["labels"] = None
    live = apply(None, config)
    assert apply(copy.deepcopy(live), copy.deepcopy(config)) == live


def test_duplicate_keys_of_an_associative_list_are_named_with_their_list() -> None:
    env = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    config = pod({"name": "a", "image": "x", "env": env})
    assert duplicate_entries(config, POD) == ['.spec.containers[name="a"].env: duplicate entries for key [name="A"]']


def test_duplicate_values_of_a_set_are_named_by_value() -> None:
    config = configmap()
    config["metadata"]["finalizers"] = ["a/b", "a/b"]
    assert duplicate_entries(config, CONFIGMAP) == ['.metadata.finalizers: duplicate entries for key [="a/b"]']


def test_atomic_lists_may_repeat_elements() -> None:
    assert duplicate_entries(pod({"name": "a", "image": "x", "args": ["-v", "-v"]}), POD) == []


def test_a_write_changing_only_entry_times_keeps_the_stored_entries() -> None:
    stored = apply(None, configmap({"owner": "a"}, key="v"))
    stored["metadata"]["managedFields"][0]["time"] = "2020-01-01T00:00:00Z"
    stored["metadata"]["resourceVersion"] = "7"
    rewritten = copy.deepcopy(stored)
    rewritten["metadata"]["managedFields"][0]["time"] = "2026-12-06T01:00:00Z"
    assert (
        keeping_timestamps_of_a_no_op(rewritten, stored)["metadata"]["managedFields"]
        == (stored["metadata"]["managedFields"])
    )


def test_a_write_changing_a_value_keeps_its_new_entry_times() -> None:
    stored = apply(None, configmap({"owner": "a"}, key="v"))
    stored["metadata"]["managedFields"][0]["time"] = "2020-01-01T00:00:00Z"
    changed = apply(copy.deepcopy(stored), configmap({"owner": "a"}, key="w"))
    assert keeping_timestamps_of_a_no_op(changed, stored) == changed


def test_a_non_canonical_quantity_differs_from_the_stored_canonical_one_as_upstream() -> None:
    # structured-merge-diff compares the configuration's text with the stored (normalised) object, so a second
    # manager applying `1000m` over `1` conflicts, as on a real API server.
    owned = pod({"name": "a", "image": "x", "resources": {"limits": {"cpu": "1000m"}}})
    live = apply(None, owned, manager="first")
    live["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "1"
    with pytest.raises(ApiError) as raised:
        apply(live, owned, manager="second")
    assert raised.value.code == 409
