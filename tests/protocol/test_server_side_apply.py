"""Server-side apply and managedFields as the real kubectl and the official Python client see them
(`api_harness.Server`): who owns which field, conflicts between managers, `--force-conflicts`, fields an applier
stops applying, and the Update entries of kubectl's other commands."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from api_harness import KUBECTL, Server, pod_manifest
from kubernetes import client
from kubernetes.client.rest import ApiException

from podrun.json_types import JSON

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

APPLY_YAML = {"Content-Type": "application/apply-patch+yaml"}


def configmap(name: str, labels: dict[str, str], **data: str) -> str:
    obj: JSON = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}}
    if data:
        obj["data"] = data
    return yaml.safe_dump(obj)


def apply(server: Server, manifest: str, *flags: str, check: bool = True) -> Any:
    return server.kubectl("apply", "--server-side", *flags, "-f", "-", stdin=manifest, check=check)


def get(server: Server, kind: str, name: str) -> JSON:
    answer = server.kubectl("get", kind, name, "-o", "json", "--show-managed-fields")
    obj: JSON = json.loads(answer.stdout)
    return obj


def entry(obj: JSON, manager: str, operation: str) -> JSON:
    found = [e for e in obj["metadata"]["managedFields"] if (e["manager"], e["operation"]) == (manager, operation)]
    assert len(found) == 1, obj["metadata"]["managedFields"]
    return found[0]


def test_apply_records_kubectl_as_the_owner_of_the_applied_fields(server: Server) -> None:
    apply(server, configmap("owned", {"owner": "a"}, key="v"))
    applied = entry(get(server, "configmap", "owned"), "kubectl", "Apply")
    assert applied["apiVersion"] == "v1" and applied["fieldsType"] == "FieldsV1" and applied["time"].endswith("Z")
    assert applied["fieldsV1"] == {"f:data": {"f:key": {}}, "f:metadata": {"f:labels": {"f:owner": {}}}}


def test_managed_fields_are_shown_only_with_show_managed_fields(server: Server) -> None:
    apply(server, configmap("hidden", {"owner": "a"}))
    assert "managedFields" not in server.kubectl("get", "configmap", "hidden", "-o", "yaml").stdout
    shown = server.kubectl("get", "configmap", "hidden", "-o", "yaml", "--show-managed-fields").stdout
    assert "managedFields" in shown and "manager: kubectl" in shown


def test_another_manager_changing_an_owned_field_is_refused_with_the_conflict(server: Server) -> None:
    apply(server, configmap("contested", {"owner": "a"}))
    result = apply(server, configmap("contested", {"owner": "b"}), "--field-manager=other", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        'error: Apply failed with 1 conflict: conflict with "kubectl": .metadata.labels.owner'
    )
    assert get(server, "configmap", "contested")["metadata"]["labels"] == {"owner": "a"}


def test_the_conflict_status_names_each_field_in_its_causes(server: Server) -> None:
    apply(server, configmap("causes", {"owner": "a"}))
    body = configmap("causes", {"owner": "b"}).encode()
    answer = server.api("PATCH", "/api/v1/namespaces/default/configmaps/causes?fieldManager=other", body, APPLY_YAML)
    assert answer.status == 409
    assert answer.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Apply failed with 1 conflict: conflict with "kubectl": .metadata.labels.owner',
        "reason": "Conflict",
        "details": {
            "causes": [
                {
                    "type": "FieldManagerConflict",
                    "message": 'conflict with "kubectl"',
                    "field": ".metadata.labels.owner",
                }
            ]
        },
        "code": 409,
    }


def test_force_conflicts_takes_the_field_from_its_owner(server: Server) -> None:
    apply(server, configmap("forced", {"owner": "a", "team": "x"}))
    apply(server, configmap("forced", {"owner": "b"}), "--field-manager=other", "--force-conflicts")
    obj = get(server, "configmap", "forced")
    assert obj["metadata"]["labels"] == {"owner": "b", "team": "x"}
    assert entry(obj, "other", "Apply")["fieldsV1"] == {"f:metadata": {"f:labels": {"f:owner": {}}}}
    assert entry(obj, "kubectl", "Apply")["fieldsV1"] == {"f:metadata": {"f:labels": {"f:team": {}}}}


def test_a_label_the_applier_no_longer_applies_is_removed(server: Server) -> None:
    apply(server, configmap("pruned", {"owner": "a", "team": "x"}))
    apply(server, configmap("pruned", {"owner": "a"}))
    assert get(server, "configmap", "pruned")["metadata"]["labels"] == {"owner": "a"}


def test_a_dropped_label_another_manager_set_stays(server: Server) -> None:
    apply(server, configmap("kept", {"owner": "a", "team": "x"}))
    server.kubectl("label", "configmap", "kept", "team=y", "--overwrite")
    apply(server, configmap("kept", {"owner": "a"}))
    obj = get(server, "configmap", "kept")
    assert obj["metadata"]["labels"] == {"owner": "a", "team": "y"}
    assert entry(obj, "kubectl-label", "Update")["fieldsV1"] == {"f:metadata": {"f:labels": {"f:team": {}}}}


def test_reapplying_a_pod_changes_nothing_and_diff_shows_nothing(server: Server) -> None:
    manifest = pod_manifest("steady")
    apply(server, manifest)
    before = get(server, "pod", "steady")["metadata"]["resourceVersion"]
    assert apply(server, manifest).stdout == "pod/steady serverside-applied\n"
    assert get(server, "pod", "steady")["metadata"]["resourceVersion"] == before
    diff = server.kubectl("diff", "--server-side", "-f", "-", stdin=manifest, check=False)
    assert (diff.returncode, diff.stdout) == (0, "")
    server.kubectl("delete", "pod", "steady", "--wait=false")


def test_a_server_side_dry_run_leaves_nothing(server: Server) -> None:
    apply(server, configmap("dry", {"owner": "a"}), "--dry-run=server")
    assert server.kubectl("get", "configmap", "dry", check=False).returncode == 1
    apply(server, configmap("dry", {"owner": "a"}))
    apply(server, configmap("dry", {"owner": "b"}), "--dry-run=server")
    assert get(server, "configmap", "dry")["metadata"]["labels"] == {"owner": "a"}


def test_the_applied_result_is_validated(server: Server) -> None:
    apply(server, configmap("valid", {"owner": "a"}))
    result = apply(server, configmap("valid", {"owner": "not valid!"}), check=False)
    assert result.returncode == 1 and "Invalid value" in result.stderr


def test_kubectl_commands_record_update_entries_under_their_names(server: Server) -> None:
    server.kubectl("create", "configmap", "made", "--from-literal=key=v")
    server.kubectl("label", "configmap", "made", "owner=a")
    obj = get(server, "configmap", "made")
    assert entry(obj, "kubectl-create", "Update")["fieldsV1"] == {"f:data": {".": {}, "f:key": {}}}
    assert entry(obj, "kubectl-label", "Update")["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:owner": {}}}}
    result = apply(server, configmap("made", {"owner": "b"}), check=False)
    assert 'conflict with "kubectl-label" using v1: .metadata.labels.owner' in result.stderr


def test_the_python_client_applies_with_its_field_manager_and_gets_conflicts(core: client.CoreV1Api) -> None:
    body = yaml.safe_load(configmap("py", {"owner": "a"}))
    core.patch_namespaced_config_map(
        "py", "default", body, field_manager="py", _content_type="application/apply-patch+yaml"
    )
    body["metadata"]["labels"]["owner"] = "b"
    with pytest.raises(ApiException) as raised:
        core.patch_namespaced_config_map(
            "py", "default", body, field_manager="other", _content_type="application/apply-patch+yaml"
        )
    assert raised.value.status == 409
    assert json.loads(raised.value.body)["message"].endswith('conflict with "py": .metadata.labels.owner')
    forced = core.patch_namespaced_config_map(
        "py", "default", body, field_manager="other", force=True, _content_type="application/apply-patch+yaml"
    )
    assert [(e.manager, e.operation) for e in forced.metadata.managed_fields] == [("other", "Apply")]


def test_the_python_clients_updates_are_recorded_under_its_user_agent(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", yaml.safe_load(configmap("agent", {"owner": "a"})))
    assert [(e.manager, e.operation) for e in created.metadata.managed_fields] == [("OpenAPI-Generator", "Update")]


def test_switching_from_client_side_to_server_side_apply_migrates_the_owner(server: Server) -> None:
    manifest = pod_manifest("migrated")
    server.kubectl("apply", "-f", "-", stdin=manifest)
    switched = apply(server, manifest)
    assert (switched.stdout, switched.stderr) == ("pod/migrated serverside-applied\n", "")
    managers = [(e["manager"], e["operation"]) for e in get(server, "pod", "migrated")["metadata"]["managedFields"]]
    assert ("kubectl", "Apply") in managers and ("kubectl-client-side-apply", "Update") not in managers
    server.kubectl("delete", "pod", "migrated", "--wait=false")


def test_a_pods_creator_does_not_own_what_admission_added(server: Server) -> None:
    server.kubectl("run", "admitted", "--image=busybox")
    spec = entry(get(server, "pod", "admitted"), "kubectl-run", "Update")["fieldsV1"]["f:spec"]
    assert "f:imagePullPolicy" in spec["f:containers"]['k:{"name":"admitted"}']
    assert not {"f:volumes", "f:tolerations", "f:serviceAccountName", "f:nodeName"} & set(spec)
    server.kubectl("delete", "pod", "admitted", "--wait=false")


def test_force_conflicts_changes_a_pods_image_another_manager_set(server: Server) -> None:
    apply(server, pod_manifest("imaged"))
    server.kubectl("set", "image", "pod/imaged", "web=nginx:1.28")
    conflict = apply(server, pod_manifest("imaged", "nginx:1.29"), check=False)
    assert 'conflict with "kubectl-set" using v1: .spec.containers[name="web"].image' in conflict.stderr
    apply(server, pod_manifest("imaged", "nginx:1.29"), "--force-conflicts")
    assert get(server, "pod", "imaged")["spec"]["containers"][0]["image"] == "nginx:1.29"
    server.kubectl("delete", "pod", "imaged", "--wait=false")


def test_a_namespaces_creator_owns_its_defaulted_name_label(server: Server) -> None:
    server.kubectl("create", "namespace", "owned-ns")
    created = entry(get(server, "namespace", "owned-ns"), "kubectl-create", "Update")
    assert created["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}}


def test_null_fields_in_an_applied_manifest_are_not_stored(server: Server) -> None:
    apply(server, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nulls\n  labels: null\ndata: null\n")
    stored = get(server, "configmap", "nulls")
    assert "labels" not in stored["metadata"] and "data" not in stored


def test_duplicate_env_names_in_an_applied_pod_are_a_bad_request(server: Server) -> None:
    manifest = yaml.safe_load(pod_manifest("dup"))
    manifest["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    result = apply(server, yaml.safe_dump(manifest), check=False)
    container = manifest["spec"]["containers"][0]["name"]
    assert result.returncode == 1
    assert "Error from server (BadRequest): failed to create typed patch object (default/dup; /v1, Kind=Pod)" in (
        result.stderr
    )
    assert f'.spec.containers[name="{container}"].env: duplicate entries for key [name="A"]' in result.stderr


def test_duplicate_finalizers_in_an_applied_manifest_are_a_bad_request(server: Server) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fin\n  finalizers: [a/b, a/b]\n"
    result = apply(server, manifest, check=False)
    assert result.returncode == 1 and "(BadRequest)" in result.stderr
    assert '.metadata.finalizers: duplicate entries for key [="a/b"]' in result.stderr
    assert server.kubectl("get", "configmap", "fin", check=False).returncode == 1


def test_an_unknown_field_in_an_applied_manifest_is_a_bad_request(server: Server) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unknown\nfoo: bar\n"
    result = apply(server, manifest, check=False)
    assert result.returncode == 1
    assert (
        "Error from server (BadRequest): failed to create typed patch object (default/unknown; /v1, Kind=ConfigMap):"
        " .foo: field not declared in schema"
    ) in result.stderr


def test_reapplying_non_canonical_quantities_keeps_the_resource_version(server: Server) -> None:
    resources = {"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}}
    manifest = yaml.safe_load(pod_manifest("quantities"))
    manifest["spec"]["containers"][0]["resources"] = resources
    apply(server, yaml.safe_dump(manifest))
    assert get(server, "pod", "quantities")["spec"]["containers"][0]["resources"]["limits"] == {
        "cpu": "1",
        "memory": "1Gi",
    }
    # An old time on the Apply entry, so that a re-apply recording a new one would show (with another change, as
    # a write changing only times is itself a no-op).
    old_time = [
        {"op": "replace", "path": "/metadata/managedFields/0/time", "value": "2020-01-01T00:00:00Z"},
        {"op": "add", "path": "/metadata/annotations", "value": {"note": "x"}},
    ]
    server.kubectl("patch", "pod", "quantities", "--type=json", "-p", json.dumps(old_time))
    first = get(server, "pod", "quantities")
    assert entry(first, "kubectl", "Apply")["time"] == "2020-01-01T00:00:00Z"
    apply(server, yaml.safe_dump(manifest))
    assert get(server, "pod", "quantities")["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
