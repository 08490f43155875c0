"""Strategic merge, JSON merge and JSON patches, against the bodies kubectl really sends."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podrun.api.errors import ApiError
from podrun.api.patch import json_merge_patch, json_patch, strategic_merge_patch


def pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": spec,
    }


def container(name: str, image: str = "busybox:1", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **fields}


def smp(original: dict[str, Any], patch: Any, kind: str = "Pod") -> dict[str, Any]:
    return strategic_merge_patch(original, patch, kind)


def refused(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


# -- strategic merge patch: what kubectl apply sends (spec §4.1) -----------------------------------------------


def test_kubectl_image_change_updates_one_container_and_keeps_the_order() -> None:
    live = pod(containers=[container("nginx", "nginx:1.25", ports=[{"containerPort": 80}]), container("sidecar")])
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "old\n"}
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new\n"}},
        "spec": {
            "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
            "containers": [{"image": "nginx:1.26", "name": "nginx"}],
        },
    }
    result = smp(live, patch)
    assert result["spec"]["containers"] == [
        container("nginx", "nginx:1.26", ports=[{"containerPort": 80}]),
        container("sidecar"),
    ]
    assert result["metadata"]["annotations"] == {"kubectl.kubernetes.io/last-applied-configuration": "new\n"}


def test_kubectl_three_way_patch_removes_labels_env_and_ports_and_replaces_tolerations() -> None:
    live = pod(
        activeDeadlineSeconds=600,
        containers=[
            container(
                "c1",
                env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                ports=[{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 81, "protocol": "TCP"}],
            ),
            container("c2"),
        ],
        tolerations=[{"key": "k1", "operator": "Exists"}, {"key": "old", "operator": "Exists"}],
    )
    live["metadata"]["labels"]["tier"] = "fe"
    live["metadata"]["annotations"] = {"note": "x", "kubectl.kubernetes.io/last-applied-configuration": "old"}
    patch = {
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new", "note": None},
            "labels": {"tier": None},
        },
        "spec": {
            "$setElementOrder/containers": [{"name": "c1"}, {"name": "c2"}],
            "activeDeadlineSeconds": 300,
            "containers": [
                {
                    "$setElementOrder/env": [{"name": "A"}],
                    "$setElementOrder/ports": [{"containerPort": 80}],
                    "env": [{"$patch": "delete", "name": "B"}],
                    "image": "busybox:2",
                    "name": "c1",
                    "ports": [{"$patch": "delete", "containerPort": 81}],
                },
                {"image": "busybox:2", "name": "c2"},
            ],
            "tolerations": [{"key": "k1", "operator": "Exists"}, {"key": "k2", "operator": "Exists"}],
        },
    }
    result = smp(live, patch)
    assert result["metadata"]["labels"] == {"app": "web"}
    assert result["metadata"]["annotations"] == {"kubectl.kubernetes.io/last-applied-configuration": "new"}
    assert result["spec"] == {
        "activeDeadlineSeconds": 300,
        "containers": [
            container(
                "c1", "busybox:2", env=[{"name": "A", "value": "1"}], ports=[{"containerPort": 80, "protocol": "TCP"}]
            ),
            container("c2", "busybox:2"),
        ],
        "tolerations": [{"key": "k1", "operator": "Exists"}, {"key": "k2", "operator": "Exists"}],
    }


def test_env_merges_by_name() -> None:
    live = pod(containers=[container("app", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])])
    patch = {
        "spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]}]}
    }
    env = smp(live, patch)["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}]


def test_a_null_inside_a_merged_element_deletes_that_field() -> None:
    live = pod(containers=[container("app", env=[{"name": "A", "value": "1"}])])
    patch = {"spec": {"containers": [{"name": "app", "env": [{"name": "A", "value": None}]}]}}
    assert smp(live, patch)["spec"]["containers"][0]["env"] == [{"name": "A"}]


def test_patch_delete_removes_the_element_with_that_key() -> None:
    live = pod(containers=[container("a"), container("b")])
    patch = {"spec": {"containers": [{"$patch": "delete", "name": "a"}]}}
    assert smp(live, patch)["spec"]["containers"] == [container("b")]


def test_patch_replace_in_a_list_makes_the_patch_the_whole_list() -> None:
    live = pod(containers=[container("a"), container("b")])
    patch = {"spec": {"containers": [container("c"), {"$patch": "replace"}]}}
    assert smp(live, patch)["spec"]["containers"] == [container("c")]


def test_patch_replace_in_a_map_replaces_the_map() -> None:
    live = pod(nodeSelector={"disk": "ssd", "zone": "a"})
    patch = {"spec": {"nodeSelector": {"$patch": "replace", "zone": "b"}}}
    assert smp(live, patch)["spec"]["nodeSelector"] == {"zone": "b"}


def test_patch_delete_in_a_map_empties_it() -> None:
    live = pod(nodeSelector={"disk": "ssd"})
    assert smp(live, {"spec": {"nodeSelector": {"$patch": "delete"}}})["spec"]["nodeSelector"] == {}


def test_patch_merge_in_a_map_is_the_default_merge() -> None:
    live = pod(nodeSelector={"disk": "ssd"})
    patch = {"spec": {"nodeSelector": {"$patch": "merge", "zone": "a"}}}
    assert smp(live, patch)["spec"]["nodeSelector"] == {"disk": "ssd", "zone": "a"}


def test_set_element_order_reorders_the_list() -> None:
    live = pod(containers=[container("a"), container("b")])
    patch = {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}
    assert [c["name"] for c in smp(live, patch)["spec"]["containers"]] == ["b", "a"]


def test_elements_only_on_the_server_keep_their_place() -> None:
    live = pod(containers=[container("a"), container("b"), container("c")])
    patch = {"spec": {"containers": [{"name": "b", "image": "x"}, container("d")]}}
    assert [c["name"] for c in smp(live, patch)["spec"]["containers"]] == ["a", "b", "d", "c"]


def test_a_patch_list_out_of_the_set_element_order_is_refused() -> None:
    live = pod(containers=[container("a"), container("b")])
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b", "image": "x"}, {"name": "a", "image": "y"}],
        }
    }
    assert refused(smp, live, patch).code == 400


def test_finalizers_merge_as_a_set() -> None:
    live = pod()
    live["metadata"]["finalizers"] = ["a", "b"]
    assert smp(live, {"metadata": {"finalizers": ["b", "c"]}})["metadata"]["finalizers"] == ["a", "b", "c"]


def test_delete_from_primitive_list_removes_values() -> None:
    live = pod()
    live["metadata"]["finalizers"] = ["a", "b", "c"]
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}
    assert smp(live, patch)["metadata"]["finalizers"] == ["a", "c"]


def test_retain_keys_drops_the_old_volume_source() -> None:
    live = pod(volumes=[{"name": "data", "emptyDir": {}}])
    patch = {"spec": {"volumes": [{"$retainKeys": ["hostPath", "name"], "name": "data", "hostPath": {"path": "/d"}}]}}
    assert smp(live, patch)["spec"]["volumes"] == [{"name": "data", "hostPath": {"path": "/d"}}]


def test_a_key_missing_from_retain_keys_is_refused() -> None:
    live = pod(volumes=[{"name": "data", "emptyDir": {}}])
    patch = {"spec": {"volumes": [{"$retainKeys": ["name"], "name": "data", "hostPath": {"path": "/d"}}]}}
    assert refused(smp, live, patch).message == "invalid patch format of retainKeys"


def test_owner_references_merge_by_uid() -> None:
    live = pod()
    live["metadata"]["ownerReferences"] = [{"uid": "1", "name": "rs-a"}]
    patch = {"metadata": {"ownerReferences": [{"uid": "2", "name": "rs-b"}]}}
    # normalizeElementOrder puts a new element ahead of the live ones it cannot be ordered against.
    assert [ref["uid"] for ref in smp(live, patch)["metadata"]["ownerReferences"]] == ["2", "1"]


def test_status_conditions_merge_by_type() -> None:
    live = pod()
    live["status"] = {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Initialized", "status": "True"}]}
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert smp(live, patch)["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "Initialized", "status": "True"},
    ]


def test_container_statuses_are_atomic_as_in_core_v1() -> None:
    live = pod()
    live["status"] = {"containerStatuses": [{"name": "a", "ready": True}, {"name": "b", "ready": True}]}
    patch = {"status": {"containerStatuses": [{"name": "a", "ready": False}]}}
    assert smp(live, patch)["status"]["containerStatuses"] == [{"name": "a", "ready": False}]


def test_lists_without_a_strategy_are_replaced() -> None:
    live = pod(containers=[container("app", command=["sh", "-c", "a"])])
    patch = {"spec": {"containers": [{"name": "app", "command": ["sleep"]}]}}
    assert smp(live, patch)["spec"]["containers"][0]["command"] == ["sleep"]


def test_directives_in_a_new_list_are_processed_not_stored() -> None:
    live = pod(containers=[container("app")])
    patch = {
        "spec": {
            "containers": [{"name": "app", "env": [{"name": "A", "value": "1"}, {"$patch": "delete", "name": "B"}]}]
        }
    }
    assert smp(live, patch)["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]


def test_an_element_without_its_merge_key_is_refused() -> None:
    live = pod(containers=[container("app")])
    error = refused(smp, live, {"spec": {"containers": [{"image": "x"}]}})
    assert (error.code, error.message) == (400, 'map: {"image":"x"} does not contain declared merge key: name')


def test_an_unknown_patch_type_is_refused() -> None:
    error = refused(smp, pod(), {"spec": {"$patch": "explode"}})
    assert error.code == 400
    assert error.message.startswith("unknown patch type: explode in map")


def test_an_unknown_directive_is_refused() -> None:
    assert refused(smp, pod(), {"spec": {"$bogus": 1}}).code == 400


def test_config_map_data_merges_and_null_deletes() -> None:
    live = {"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}}
    assert smp(live, {"data": {"a": None, "c": "3"}}, "ConfigMap")["data"] == {"b": "2", "c": "3"}


def test_strategic_merge_patch_leaves_its_inputs_alone() -> None:
    live = pod(containers=[container("a")])
    patch = {"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "a", "image": "x"}]}}
    before_live, before_patch = copy.deepcopy(live), copy.deepcopy(patch)
    smp(live, patch)
    assert (live, patch) == (before_live, before_patch)


# -- JSON merge patch --------------------------------------------------------------------------------------------


def test_merge_patch_null_deletes_and_maps_merge() -> None:
    original = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1}}
    patch = {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": None}
    assert json_merge_patch(original, patch) == {"metadata": {"labels": {"b": "2", "c": "3"}}}


def test_merge_patch_replaces_lists() -> None:
    assert json_merge_patch({"items": [1, 2]}, {"items": [3]}) == {"items": [3]}


def test_merge_patch_must_be_an_object() -> None:
    assert refused(json_merge_patch, {}, [1]).code == 400


# -- JSON patch --------------------------------------------------------------------------------------------------


def test_json_patch_add_replace_and_remove() -> None:
    original = {"metadata": {"labels": {"a": "1"}}, "spec": {"items": [1, 3]}}
    operations = [
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "add", "path": "/spec/items/1", "value": 2},
        {"op": "add", "path": "/spec/items/-", "value": 4},
        {"op": "replace", "path": "/metadata/labels/a", "value": "one"},
        {"op": "remove", "path": "/spec/items/0"},
    ]
    assert json_patch(original, operations) == {
        "metadata": {"labels": {"a": "one", "b": "2"}},
        "spec": {"items": [2, 3, 4]},
    }


def test_json_patch_move_and_copy() -> None:
    original = {"a": {"x": 1}, "b": {}}
    operations = [{"op": "copy", "from": "/a/x", "path": "/b/y"}, {"op": "move", "from": "/a", "path": "/c"}]
    assert json_patch(original, operations) == {"b": {"y": 1}, "c": {"x": 1}}


def test_json_patch_pointers_unescape_tilde_and_slash() -> None:
    original = {"metadata": {"annotations": {"example.com/a~b": "1"}}}
    operations = [{"op": "replace", "path": "/metadata/annotations/example.com~1a~0b", "value": "2"}]
    assert json_patch(original, operations)["metadata"]["annotations"] == {"example.com/a~b": "2"}


def test_json_patch_test_passes_on_an_equal_value() -> None:
    assert json_patch({"a": [1, {"b": True}]}, [{"op": "test", "path": "/a", "value": [1, {"b": True}]}])


def test_json_patch_failed_test_is_invalid() -> None:
    error = refused(json_patch, {"a": 1}, [{"op": "test", "path": "/a", "value": True}])
    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message.startswith("the server rejected our request due to an error in our request: ")


def test_json_patch_on_a_missing_path_is_invalid() -> None:
    assert refused(json_patch, {}, [{"op": "replace", "path": "/spec/x", "value": 1}]).code == 422
    assert refused(json_patch, {"a": {}}, [{"op": "remove", "path": "/a/b"}]).code == 422


def test_json_patch_with_an_index_past_the_end_is_invalid() -> None:
    assert refused(json_patch, {"a": [1]}, [{"op": "add", "path": "/a/5", "value": 2}]).code == 422


def test_json_patch_with_an_unknown_op_is_invalid() -> None:
    error = refused(json_patch, {}, [{"op": "frobnicate", "path": "/a"}])
    assert error.message.endswith("Unexpected kind: frobnicate")


def test_json_patch_that_is_not_a_list_is_a_bad_request() -> None:
    error = refused(json_patch, {}, {"op": "add"})
    assert (error.code, error.message) == (400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch")


def test_json_patch_leaves_the_original_alone() -> None:
    original = {"a": {"b": 1}}
    json_patch(original, [{"op": "replace", "path": "/a/b", "value": 2}])
    assert original == {"a": {"b": 1}}
