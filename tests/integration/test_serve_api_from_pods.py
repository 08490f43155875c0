"""A pod talks to `podrun serve`'s API as a pod talks to a cluster's: `https://kubernetes.default.svc` with the
token and CA of its service account volume (the Python of the seed's Django image is the client)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from leaks import pod_sandbox_ids
from serve_harness import ServeProcess, serving, wait_until

pytestmark = pytest.mark.root

# Reads with the pod's own credentials, as client libraries' in-cluster configuration does.
API_CLIENT = """
import json, ssl, urllib.error, urllib.request
base = "/var/run/secrets/kubernetes.io/serviceaccount/"
token = open(base + "token").read()
context = ssl.create_default_context(cafile=base + "ca.crt")
def call(method, path):
    request = urllib.request.Request("https://kubernetes.default.svc" + path, method=method,
                                     headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
status, pods = call("GET", "/api/v1/namespaces/default/pods")
print(json.dumps({"list": status, "names": [p["metadata"]["name"] for p in pods.get("items", [])],
                  "delete": call("DELETE", "/api/v1/namespaces/default/pods/api-client")[0],
                  "other_namespace": call("GET", "/api/v1/namespaces/kube-system/configmaps")[0]}))
"""


@pytest.fixture(scope="module")
def serve(test_image_archives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`podrun serve` with the Django image (it has Python)."""
    with serving([test_image_archives["django"]], tmp_path_factory.mktemp("serve")) as server:
        yield server


@pytest.fixture(autouse=True)
def no_pods_left(serve: ServeProcess) -> Iterator[None]:
    """After each test its pods are deleted, and their sandboxes gone (a finished pod's API object goes first)."""
    yield
    serve.delete_all_pods()
    wait_until(lambda: not pod_sandbox_ids(serve.root, serve.run_root), timeout=10, what="no pod sandboxes on disk")


def test_a_pod_reads_its_namespace_through_the_kubernetes_service_with_its_token(serve: ServeProcess) -> None:
    """TLS verifies against the mounted CA for the name kubernetes.default.svc; the token may read, not delete."""
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-client"},
        "spec": {"restartPolicy": "Never", "containers": [
            {"name": "client", "image": "my-web-app:latest", "command": ["python", "-c", API_CLIENT]},
        ]},
    }  # fmt: skip
    serve.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(pod))
    wait_until(lambda: serve.pod("api-client")["status"].get("phase") in ("Succeeded", "Failed"), what="the client")

    answer = json.loads(serve.kubectl("logs", "api-client").stdout)
    assert answer == {"list": 200, "names": ["api-client"], "delete": 403, "other_namespace": 403}
