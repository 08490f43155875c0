"""Services with `podrun serve` and the real kubectl: a pod reaches another through its Service's name, and the
host reaches it through a NodePort on 127.0.0.1 (a pod reaching the API server through the `kubernetes` Service
is test_serve_api_from_pods.py). Nothing leaves the machine (pods have no default route)."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from serve_harness import KUBECTL, ServeProcess, serving, wait_until

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

IDLE = "trap 'exit 0' TERM; while true; do sleep 0.2; done"


@pytest.fixture(scope="module")
def serve(test_image_archives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`podrun serve` on fresh roots with busybox and nginx; stopped, and checked for leaks, after the module."""
    work = tmp_path_factory.mktemp("serve-services")
    with serving([test_image_archives["busybox"], test_image_archives["nginx"]], work) as server:
        yield server


def free_node_port() -> int:
    """A port of the NodePort range (30000-32767) that nothing on the host's 127.0.0.1 listens on."""
    for port in range(30000, 32768):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in the NodePort range")


def objects(node_port: int) -> str:
    """An nginx pod behind a NodePort Service, and a busybox client pod."""
    web = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx", "ports": [{"name": "http", "containerPort": 80}]}]},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 8080, "targetPort": "http", "nodePort": node_port}],
        },
    }
    client = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "client"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "shell", "image": "busybox", "command": ["sh", "-c", IDLE]}],
        },
    }
    return yaml.safe_dump_all([web, service, client], sort_keys=False)


def test_a_pod_reaches_another_by_its_service_name_and_the_host_through_its_node_port(serve: ServeProcess) -> None:
    node_port = free_node_port()
    serve.kubectl("apply", "-f", "-", stdin=objects(node_port))
    try:
        serve.kubectl("wait", "--for=condition=Ready", "pod/web", "pod/client", "--timeout=60s", timeout=90)

        def page_from_client() -> str:
            # busybox-static's `wget -T` crashes (SIGSEGV), so the timeout is busybox's own `timeout`
            wget = ["timeout", "5", "wget", "-qO-", "http://web:8080/"]
            fetched = serve.kubectl("exec", "client", "--", *wget, check=False)
            return fetched.stdout if fetched.returncode == 0 else ""

        assert "Welcome to nginx" in wait_until(page_from_client, what="pod client fetching http://web:8080/")

        def page_from_host() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{node_port}/", timeout=5) as answer:
                    return str(answer.read().decode())
            except OSError:  # refused before the relay listens; closed before the Service has its endpoint
                return ""

        assert "Welcome to nginx" in wait_until(page_from_host, what=f"the NodePort 127.0.0.1:{node_port}")
    finally:
        serve.kubectl("delete", "service", "web", "--ignore-not-found")
        serve.delete_all_pods()

