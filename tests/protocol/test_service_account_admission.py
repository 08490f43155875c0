"""The ServiceAccount admission on pod create, over HTTP and through kubectl (`api_harness.Server`, no root)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import yaml
from api_harness import KUBECTL, Server, pod_manifest

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_pod(server: Server, namespace: str = "default", **spec: Any) -> Any:
    body = yaml.safe_load(pod_manifest(unique("sa"), **spec))
    return server.api("POST", f"/api/v1/namespaces/{namespace}/pods", body)


def test_a_new_pod_runs_as_the_default_account_with_the_api_access_volume(server: Server) -> None:
    answer = create_pod(server)
    assert answer.status == 201
    spec = answer.json()["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    [volume] = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == len("kube-api-access-") + 5
    assert volume["projected"]["defaultMode"] == 420
    assert spec["containers"][0]["volumeMounts"] == [
        {"name": volume["name"], "readOnly": True, "mountPath": MOUNT_PATH}
    ]


def test_a_pod_naming_a_missing_account_is_forbidden(server: Server) -> None:
    body = yaml.safe_load(pod_manifest("lonely", serviceAccountName="robot"))
    answer = server.api("POST", "/api/v1/namespaces/default/pods", body)
    assert answer.status == 403
    status = answer.json()
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        'pods "lonely" is forbidden: error looking up service account default/robot: serviceaccount "robot" not found'
    )
    assert status["details"] == {"name": "lonely", "kind": "pods"}


def test_a_pod_naming_an_existing_account_runs_as_it(server: Server) -> None:
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"}}
    assert server.api("POST", "/api/v1/namespaces/default/serviceaccounts", account).status == 201
    answer = create_pod(server, serviceAccountName="builder")
    assert answer.status == 201
    assert answer.json()["spec"]["serviceAccount"] == "builder"


def test_automount_off_on_the_pod_adds_no_volume(server: Server) -> None:
    answer = create_pod(server, automountServiceAccountToken=False)
    assert answer.status == 201
    assert "volumes" not in answer.json()["spec"]
    assert "volumeMounts" not in answer.json()["spec"]["containers"][0]


def test_automount_off_on_the_account_adds_no_volume(server: Server) -> None:
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "quiet"},
               "automountServiceAccountToken": False}  # fmt: skip
    assert server.api("POST", "/api/v1/namespaces/default/serviceaccounts", account).status == 201
    answer = create_pod(server, serviceAccountName="quiet")
    assert answer.status == 201
    assert "volumes" not in answer.json()["spec"]


def test_a_pod_created_right_after_its_namespace_is_admitted(server: Server) -> None:
    namespace = unique("fresh")
    assert server.api("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}}).status == 201
    answer = create_pod(server, namespace)
    assert answer.status == 201, answer.json()
    assert answer.json()["spec"]["serviceAccountName"] == "default"
    assert server.api("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/default").status == 200


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_shows_the_mutation_and_the_refusal(server: Server) -> None:
    name = unique("shown")
    server.kubectl("apply", "-f", "-", stdin=pod_manifest(name))
    pod = yaml.safe_load(server.kubectl("get", "pod", name, "-o", "yaml").stdout)
    assert pod["spec"]["serviceAccountName"] == "default"
    assert pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == MOUNT_PATH
    refused = server.kubectl("run", "lost", "--image=busybox", "--overrides",
                             '{"spec": {"serviceAccountName": "ghost"}}', check=False)  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): pods "lost" is forbidden: '
        'error looking up service account default/ghost: serviceaccount "ghost" not found'
    )
