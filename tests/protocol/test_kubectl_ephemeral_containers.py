"""`pods/ephemeralcontainers` with the real kubectl (`kubectl debug`) and the official Python client: discovery,
GET/PUT/PATCH (strategic merge, merge and JSON patch), and the API server's 422s.

The fake node does not run the containers; the kubelet's side is tested in tests/integration.
"""

from __future__ import annotations

import json

import pytest
import yaml
from api_harness import Server, pod_manifest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

PATH = "/api/v1/namespaces/default/pods/{}/ephemeralcontainers"
DEBUGGER = {"name": "debugger", "image": "busybox:1.36", "targetContainerName": "web"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}


def create_pod(server: Server, name: str) -> None:
    assert server.api("POST", "/api/v1/namespaces/default/pods", yaml.safe_load(pod_manifest(name))).status == 201


def ephemeral_names(server: Server, name: str) -> list[str]:
    pod = server.api("GET", f"/api/v1/namespaces/default/pods/{name}").json()
    return [c["name"] for c in pod["spec"].get("ephemeralContainers") or []]


def test_discovery_lists_the_subresource_with_its_verbs(server: Server) -> None:
    resources = {r["name"]: r for r in server.api("GET", "/api/v1").json()["resources"]}
    entry = resources["pods/ephemeralcontainers"]
    assert (entry["kind"], sorted(entry["verbs"])) == ("Pod", ["get", "patch", "update"])


def test_kubectl_debug_adds_an_ephemeral_container_targeting_a_container(versioned_server: Server) -> None:
    server = versioned_server
    create_pod(server, "debugged")
    server.kubectl("debug", "debugged", "--image=busybox:1.36", "--target=web", "-c", "debugger")
    pod = server.api("GET", "/api/v1/namespaces/default/pods/debugged").json()
    [debugger] = pod["spec"]["ephemeralContainers"]
    assert (debugger["name"], debugger["image"], debugger["targetContainerName"]) == ("debugger", "busybox:1.36", "web")
    assert debugger["terminationMessagePolicy"] == "File"  # defaulted by the API server
    server.kubectl("delete", "pod", "debugged", "--wait=false")


def test_kubectl_debug_with_an_unknown_target_is_refused_with_the_field(server: Server) -> None:
    create_pod(server, "mistargeted")
    result = server.kubectl("debug", "mistargeted", "--image=busybox:1.36", "--target=nope", check=False)
    assert result.returncode == 1
    assert 'spec.ephemeralContainers[0].targetContainerName: Not found: "nope"' in result.stderr
    assert ephemeral_names(server, "mistargeted") == []


def test_get_answers_with_the_pod(server: Server) -> None:
    create_pod(server, "read")
    answer = server.api("GET", PATH.format("read"))
    assert answer.status == 200 and answer.json()["kind"] == "Pod"


def test_put_changes_only_the_ephemeral_containers(server: Server) -> None:
    create_pod(server, "put")
    pod = server.api("GET", PATH.format("put")).json()
    pod["spec"]["ephemeralContainers"] = [DEBUGGER]
    pod["spec"]["activeDeadlineSeconds"] = 30
    pod["metadata"]["labels"]["extra"] = "ignored"
    updated = server.api("PUT", PATH.format("put"), pod).json()
    assert [c["name"] for c in updated["spec"]["ephemeralContainers"]] == ["debugger"]
    assert "activeDeadlineSeconds" not in updated["spec"] and "extra" not in updated["metadata"]["labels"]
    stale = server.api("PUT", PATH.format("put"), pod)
    assert (stale.status, stale.json()["reason"]) == (409, "Conflict")


def test_merge_and_json_patches_add_ephemeral_containers(server: Server) -> None:
    create_pod(server, "patched")
    merge = {"spec": {"ephemeralContainers": [DEBUGGER]}}
    merge_type = {"Content-Type": "application/merge-patch+json"}
    assert server.api("PATCH", PATH.format("patched"), merge, merge_type).status == 200
    second = dict(DEBUGGER, name="second")
    operations = [{"op": "add", "path": "/spec/ephemeralContainers/-", "value": second}]
    answer = server.api("PATCH", PATH.format("patched"), operations, {"Content-Type": "application/json-patch+json"})
    assert answer.status == 200
    assert ephemeral_names(server, "patched") == ["debugger", "second"]


def test_strategic_merge_keeps_existing_ephemeral_containers(server: Server) -> None:
    create_pod(server, "merged")
    server.api("PATCH", PATH.format("merged"), {"spec": {"ephemeralContainers": [DEBUGGER]}}, STRATEGIC)
    second = dict(DEBUGGER, name="second")
    server.api("PATCH", PATH.format("merged"), {"spec": {"ephemeralContainers": [second]}}, STRATEGIC)
    assert sorted(ephemeral_names(server, "merged")) == ["debugger", "second"]


def test_removing_an_ephemeral_container_is_a_422(server: Server) -> None:
    create_pod(server, "kept")
    server.api("PATCH", PATH.format("kept"), {"spec": {"ephemeralContainers": [DEBUGGER]}}, STRATEGIC)
    operations = [{"op": "remove", "path": "/spec/ephemeralContainers/0"}]
    answer = server.api("PATCH", PATH.format("kept"), operations, {"Content-Type": "application/json-patch+json"})
    body = answer.json()
    assert (answer.status, body["reason"], body["details"]["kind"]) == (422, "Invalid", "Pod")
    assert body["details"]["causes"] == [
        {"reason": "FieldValueForbidden", "field": "spec.ephemeralContainers",
         "message": 'Forbidden: existing ephemeral containers "debugger" may not be removed\n'}
    ]  # fmt: skip


def test_changing_an_ephemeral_container_is_a_422(server: Server) -> None:
    create_pod(server, "frozen")
    server.api("PATCH", PATH.format("frozen"), {"spec": {"ephemeralContainers": [DEBUGGER]}}, STRATEGIC)
    changed = {"spec": {"ephemeralContainers": [dict(DEBUGGER, image="alpine:3")]}}
    answer = server.api("PATCH", PATH.format("frozen"), changed, STRATEGIC)
    assert answer.status == 422
    assert 'existing ephemeral containers \\"debugger\\" may not be changed' in json.dumps(answer.json()["message"])


def test_forbidden_fields_are_422s_with_their_paths(server: Server) -> None:
    create_pod(server, "strict")
    debugger = dict(DEBUGGER, ports=[{"containerPort": 80}], readinessProbe={"exec": {"command": ["true"]}})
    answer = server.api("PATCH", PATH.format("strict"), {"spec": {"ephemeralContainers": [debugger]}}, STRATEGIC)
    fields = [cause["field"] for cause in answer.json()["details"]["causes"]]
    assert answer.status == 422
    assert fields == ["spec.ephemeralContainers[0].ports", "spec.ephemeralContainers[0].readinessProbe"]


def test_a_missing_pod_is_a_404_naming_it(server: Server) -> None:
    answer = server.api("PATCH", PATH.format("ghost"), {"spec": {}}, STRATEGIC)
    assert (answer.status, answer.json()["details"]["name"]) == (404, "ghost")


def test_a_pod_update_cannot_add_ephemeral_containers(server: Server) -> None:
    create_pod(server, "plain")
    patch = {"spec": {"ephemeralContainers": [DEBUGGER]}}
    answer = server.api("PATCH", "/api/v1/namespaces/default/pods/plain", patch, STRATEGIC)
    assert answer.status == 422
    assert answer.json()["details"]["causes"][0]["field"] == "spec"


def test_official_client_patches_and_reads_ephemeral_containers(server: Server, core: client.CoreV1Api) -> None:
    create_pod(server, "pythonic")
    patched = core.patch_namespaced_pod_ephemeralcontainers(
        "pythonic", "default", {"spec": {"ephemeralContainers": [DEBUGGER]}}
    )
    assert [c.name for c in patched.spec.ephemeral_containers] == ["debugger"]
    read = core.read_namespaced_pod_ephemeralcontainers("pythonic", "default")
    assert read.spec.ephemeral_containers[0].target_container_name == "web"
    with pytest.raises(ApiException) as refused:
        core.replace_namespaced_pod_ephemeralcontainers("pythonic", "default", client.V1Pod(
            metadata=client.V1ObjectMeta(name="pythonic"), spec=client.V1PodSpec(containers=read.spec.containers)
        ))  # fmt: skip
    assert refused.value.status == 422
