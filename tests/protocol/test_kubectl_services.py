"""The real kubectl against podrun's API server: Services, Endpoints and ServiceAccounts.

The server runs in-process on 127.0.0.1 (TLS and a bearer token, an in-memory store) on an event loop in a
thread, with the services controller but no kubelet: pods are written to the store with an IP and a Ready
condition, as the kubelet would report them. Needs no root.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from podrun.api.kubeconfig import build_kubeconfig, write_kubeconfig
from podrun.api.server import create_app, ensure_defaults, run_server
from podrun.api.store import Store
from podrun.api.tls import ensure_credentials, server_ssl_context
from podrun.json_types import JSON
from podrun.services.controller import ServicesController
from podrun.services.tokens import issue_token

KUBECTL = shutil.which("kubectl")
POLL_TIMEOUT = 20.0

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl")


class _NoNode:
    """Streams and logs: these tests never reach a container."""


class Server:
    """The API server and the services controller on a loop in a thread, and a kubeconfig for kubectl."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        credentials = ensure_credentials(directory / "pki")
        self.token = credentials.token
        self.ca_pem = credentials.ca_pem()
        self.home = directory / "home"
        self.home.mkdir()

    def start(self) -> None:
        self.thread.start()
        self.port = self.call(self._start)
        self.kubeconfig = self.write_kubeconfig(self.token)

    async def _start(self) -> int:
        # The store belongs to the loop's thread (SQLite objects stay in the thread that made them).
        self.store = Store()
        ensure_defaults(self.store, api_endpoint=("127.0.0.1", 6443), ca_pem=self.ca_pem.decode())
        app = create_app(self.store, token=self.token, node_name="node1", streams=_NoNode(), logs=_NoNode())  # type: ignore[arg-type]
        self.runner: web.AppRunner = await run_server(app, "127.0.0.1", 0, server_ssl_context(self.directory / "pki"))
        self.controller = ServicesController(self.store, ca_pem=self.ca_pem.decode())
        self.controller.start()
        return int(self.runner.addresses[0][1])

    def stop(self) -> None:
        async def stop() -> None:
            await self.controller.stop()
            await self.runner.cleanup()
            self.store.close()

        self.call(stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def call(self, function: Callable[[], Any]) -> Any:
        async def run() -> Any:
            result = function()
            return await result if asyncio.iscoroutine(result) else result

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(timeout=30)

    def write_kubeconfig(self, token: str, name: str = "kubeconfig") -> Path:
        path = self.directory / name
        write_kubeconfig(path, build_kubeconfig(f"https://127.0.0.1:{self.port}", self.ca_pem, token))
        return path

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, kubeconfig: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        config = kubeconfig or self.kubeconfig
        command = [KUBECTL, "--kubeconfig", str(config), "--cache-dir", str(self.directory / "cache"), *args]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home)}
        result = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60, env=env, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def add_running_pod(self, name: str, ip: str, labels: JSON, *, ready: bool = True) -> JSON:
        """A pod as the kubelet would have reported it: Running with an IP, Ready or not."""
        pod = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {
                "nodeName": "node1",
                "containers": [{"name": "web", "image": "nginx", "ports": [{"name": "http", "containerPort": 80}]}],
            },
            "status": {
                "phase": "Running",
                "podIP": ip,
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }
        return dict(self.call(lambda: self.store.create("pods", pod)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("kubectl-services"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + POLL_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_the_kubernetes_and_kube_dns_services_exist(server: Server) -> None:
    kubernetes = json.loads(server.kubectl("get", "svc", "kubernetes", "-o", "json").stdout)
    assert kubernetes["spec"]["clusterIP"] == "10.96.0.1"
    assert kubernetes["spec"]["ports"][0]["name"] == "https"
    dns = json.loads(server.kubectl("get", "svc", "kube-dns", "-n", "kube-system", "-o", "json").stdout)
    assert dns["spec"]["clusterIP"] == "10.96.0.10"
    assert [port["name"] for port in dns["spec"]["ports"]] == ["dns", "dns-tcp", "metrics"]


def test_create_service_clusterip_allocates_an_address(server: Server) -> None:
    server.kubectl("create", "service", "clusterip", "alloc", "--tcp=80:8080")
    service = json.loads(server.kubectl("get", "svc", "alloc", "-o", "json").stdout)
    assert service["spec"]["clusterIP"].startswith("10.96.")
    assert service["spec"]["clusterIPs"] == [service["spec"]["clusterIP"]]
    assert service["spec"]["ports"][0]["targetPort"] == 8080
    assert service["spec"]["sessionAffinity"] == "None"


def test_get_svc_prints_kubectls_columns(server: Server) -> None:
    lines = server.kubectl("get", "svc", "kubernetes").stdout.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert lines[1].split()[:5] == ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
    wide = server.kubectl("get", "svc", "kubernetes", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-1] == "SELECTOR"


def test_a_taken_cluster_ip_is_refused_with_422(server: Server) -> None:
    result = server.kubectl("create", "service", "clusterip", "taken", "--tcp=80", "--clusterip=10.96.0.1", check=False)
    assert result.returncode != 0
    assert (
        'Service "taken" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.1"}: '
        "failed to allocate IP 10.96.0.1: provided IP is already allocated"
    ) in result.stderr


def test_expose_pod_gives_endpoints_for_the_ready_pod(server: Server) -> None:
    server.add_running_pod("web-0", "10.244.0.5", {"app": "exposed"})
    server.kubectl("expose", "pod", "web-0", "--port=8080", "--target-port=http", "--name=exposed")

    def endpoints() -> str:
        return server.kubectl(
            "get", "ep", "exposed", "-o", "jsonpath={.subsets[*].addresses[*].ip}", check=False
        ).stdout

    poll(lambda: endpoints() == "10.244.0.5", "the exposed pod's endpoint")
    lines = server.kubectl("get", "ep", "exposed").stdout.splitlines()
    assert lines[0].split() == ["NAME", "ENDPOINTS", "AGE"]
    assert lines[1].split()[:2] == ["exposed", "10.244.0.5:80"]


def test_an_unready_pod_is_a_not_ready_address(server: Server) -> None:
    server.add_running_pod("slow-0", "10.244.0.7", {"app": "slow"}, ready=False)
    server.kubectl("create", "service", "clusterip", "slow", "--tcp=80")
    server.kubectl("label", "svc", "slow", "app=slow")
    server.kubectl("set", "selector", "svc", "slow", "app=slow")

    def not_ready() -> str:
        query = "jsonpath={.subsets[*].notReadyAddresses[*].ip}"
        return server.kubectl("get", "ep", "slow", "-o", query, check=False).stdout

    poll(lambda: not_ready() == "10.244.0.7", "the unready pod's not-ready address")


def test_apply_a_seed_style_service(server: Server) -> None:
    manifest = """
apiVersion: v1
kind: Service
metadata:
  name: myservice
spec:
  ports:
  - protocol: TCP
    port: 80
    targetPort: 9376
"""
    server.kubectl("apply", "-f", "-", stdin=manifest)
    first = json.loads(server.kubectl("get", "svc", "myservice", "-o", "json").stdout)
    server.kubectl("apply", "-f", "-", stdin=manifest.replace("9376", "9377"))
    second = json.loads(server.kubectl("get", "svc", "myservice", "-o", "json").stdout)
    assert second["spec"]["clusterIP"] == first["spec"]["clusterIP"]
    assert second["spec"]["ports"][0]["targetPort"] == 9377


def test_get_sa_lists_the_default_account(server: Server) -> None:
    lines = server.kubectl("get", "sa").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SECRETS", "AGE"]
    assert lines[1].split()[:2] == ["default", "0"]


def test_a_new_namespace_gets_a_default_service_account(server: Server) -> None:
    server.kubectl("create", "namespace", "fresh")
    poll(lambda: server.kubectl("get", "sa", "default", "-n", "fresh", check=False).returncode == 0, "default sa")


def test_a_pod_token_reads_its_namespace_and_nothing_else(server: Server) -> None:
    pod = server.add_running_pod("reader", "10.244.0.9", {"app": "reader"})
    token = server.call(lambda: issue_token(server.store, pod))
    config = server.write_kubeconfig(token, "pod-kubeconfig")
    assert "reader" in server.kubectl("get", "pods", kubeconfig=config).stdout
    denied = server.kubectl("get", "pods", "-n", "kube-system", kubeconfig=config, check=False)
    assert (
        'pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" '
        'in API group "" in the namespace "kube-system"'
    ) in denied.stderr
    deleting = server.kubectl("delete", "pod", "reader", kubeconfig=config, check=False)
    assert 'cannot delete resource "pods"' in deleting.stderr


def test_endpointslices_are_served_in_the_discovery_group(server: Server) -> None:
    server.add_running_pod("sliced-0", "10.244.0.11", {"app": "sliced"})
    server.kubectl("create", "service", "clusterip", "sliced", "--tcp=80")
    server.kubectl("set", "selector", "svc", "sliced", "app=sliced")
    selector = "kubernetes.io/service-name=sliced"

    def addresses() -> str:
        query = "jsonpath={.items[*].endpoints[*].addresses[*]}"
        return server.kubectl("get", "endpointslices", "-l", selector, "-o", query, check=False).stdout

    poll(lambda: addresses() == "10.244.0.11", "the slice's endpoint")
    lines = server.kubectl("get", "endpointslices", "-l", selector).stdout.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert lines[1].split()[1:4] == ["IPv4", "80", "10.244.0.11"]
    resources = server.kubectl("api-resources", "--api-group=discovery.k8s.io").stdout
    assert "endpointslices" in resources and "discovery.k8s.io/v1" in resources


def test_get_svc_ep_endpointslices_together(server: Server) -> None:
    output = server.kubectl("get", "svc,ep,endpointslices", "-n", "default").stdout
    assert "service/kubernetes" in output
    assert "endpoints/kubernetes" in output
    assert "endpointslice.discovery.k8s.io/kubernetes" in output


def test_apply_an_endpoint_slice_by_hand(server: Server) -> None:
    manifest = """
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: external-1
  labels: {kubernetes.io/service-name: external}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints:
- addresses: [192.0.2.10]
  conditions: {ready: true}
"""
    server.kubectl("apply", "-f", "-", stdin=manifest)
    stored = json.loads(server.kubectl("get", "endpointslice", "external-1", "-o", "json").stdout)
    assert stored["apiVersion"] == "discovery.k8s.io/v1"
    assert stored["endpoints"][0]["addresses"] == ["192.0.2.10"]
