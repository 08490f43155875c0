"""The official Kubernetes Python client and kr8s against podrun's API server (`api_harness.Server`).

These clients ask for paths kubectl never does (`/version/`, `/api/` with a trailing slash) and send exec stdin
in WebSocket text frames.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import kr8s
import pytest
import yaml
from api_harness import Server, pod_manifest, wait_until
from kubernetes import client, config
from kubernetes.stream import stream
from kubernetes.stream.ws_client import WSClient

TIMEOUT = 10


@pytest.fixture
def api_client(server: Server) -> Iterator[client.ApiClient]:
    """The official client configured from the server's kubeconfig."""
    api = config.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        yield api
    finally:
        api.close()


def create_running_pod(server: Server, name: str) -> None:
    """Create the pod and wait until the fake kubelet reports it Running."""
    assert server.api("POST", "/api/v1/namespaces/default/pods", yaml.safe_load(pod_manifest(name))).status == 201
    path = f"/api/v1/namespaces/default/pods/{name}"
    wait_until(lambda: server.api("GET", path).json()["status"].get("phase") == "Running")


def read_stdout_until(resp: WSClient, text: str) -> str:
    """What the exec wrote to stdout, read until `text` appeared in it (or a generous timeout passed)."""
    output, deadline = "", time.monotonic() + TIMEOUT
    while text not in output and resp.is_open() and time.monotonic() < deadline:
        output += resp.read_stdout(timeout=1)
    return output


def test_official_client_reads_version_and_discovery(server: Server, api_client: client.ApiClient) -> None:
    assert client.VersionApi(api_client).get_code().git_version == server.version
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    assert "pods" in [resource.name for resource in client.CoreV1Api(api_client).get_api_resources().resources]
    client.ApisApi(api_client).get_api_versions()


@pytest.mark.parametrize(
    "path", ["/version/", "/api/", "/apis/", "/api/v1/", "/healthz/", "/livez/", "/readyz/", "/openapi/v3/"]
)
def test_fixed_paths_answer_with_a_trailing_slash(server: Server, path: str) -> None:
    with_slash = server.api("GET", path)
    assert with_slash.status == 200
    assert with_slash.body == server.api("GET", path.rstrip("/")).body


def test_resource_paths_answer_with_a_trailing_slash(server: Server) -> None:
    answer = server.api("GET", "/api/v1/namespaces/")
    assert answer.status == 200
    assert "default" in [item["metadata"]["name"] for item in answer.json()["items"]]
    assert server.api("GET", "/api/v1/namespaces/default/").json()["metadata"]["name"] == "default"


def test_kr8s_connects_and_lists(server: Server) -> None:
    api = kr8s.api(kubeconfig=str(server.kubeconfig))
    assert api.version()["gitVersion"] == server.version
    assert "default" in [namespace.name for namespace in api.get("namespaces")]


def test_official_client_exec_sends_stdin_in_text_frames(server: Server, api_client: client.ApiClient) -> None:
    create_running_pod(server, "typist")
    resp = stream(
        client.CoreV1Api(api_client).connect_get_namespaced_pod_exec,
        "typist",
        "default",
        command=["cat"],
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    try:
        resp.write_stdin("hello\n")
        assert read_stdout_until(resp, "hello\n") == "web: cat\nhello\n"
    finally:
        resp.close()
    server.api("DELETE", "/api/v1/namespaces/default/pods/typist")
