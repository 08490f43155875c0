"""ServiceProxy on a real NodeNetwork: Services in the store become addresses, names and ports pods and the host
can use. Pods are network namespaces made here and attached through the real CNI plugins; slices are hand-made."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from network_fixtures import connect_from, echo_listener
from test_network_dns import ask_udp
from test_network_node import assert_nothing_left

from podrun.api.store import Store
from podrun.json_types import JSON
from podrun.network.config import NetworkConfig
from podrun.network.node import NodeNetwork
from podrun.runtime import linux
from podrun.services.defaults import ensure_service_defaults
from podrun.services.proxy import ServiceProxy

WAIT_SECONDS = 10.0


@dataclass
class Pod:
    name: str
    netns: Path
    ip: str


class Node:
    """A real node network under a throwaway root, pods attached to it, a store and the proxy between them."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.config = NetworkConfig.for_roots(base / "root", base / "run")
        self.network = NodeNetwork(self.config)
        self.store = Store()
        self.pods: list[Pod] = []

    def add_pod(self, name: str) -> Pod:
        pin = self.base / f"pod-{name}"
        pin.touch()
        subprocess.run(["unshare", f"--net={pin}", "ip", "link", "set", "lo", "up"], check=True)
        pod = Pod(name, pin, self.network.attach(name, pin)[0])
        self.pods.append(pod)
        return pod

    def remove_pods(self) -> None:
        for pod in self.pods:
            self.network.detach(pod.name)
            linux.unmount_all_under(pod.netns)
            pod.netns.unlink(missing_ok=True)
        self.pods.clear()


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    node = Node(tmp_path)
    await node.network.start(set())
    try:
        yield node
    finally:
        node.remove_pods()
        await node.network.stop(remove=True)
        node.store.close()
    assert_nothing_left(node.config)


@pytest.fixture
async def host_api() -> AsyncIterator[int]:
    """A TCP server on the host's 127.0.0.1 standing in for the API server: it says who it is and closes."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"api server")
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
async def proxy(node: Node, host_api: int) -> AsyncIterator[ServiceProxy]:
    ensure_service_defaults(node.store, service_cidr=node.config.service_cidr)  # kubernetes and kube-dns
    proxy = ServiceProxy(node.store, node.network, api_port=host_api)
    await proxy.start()
    yield proxy
    await proxy.stop()


def service(name: str, cluster_ip: str, **spec: object) -> JSON:
    return {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"clusterIP": cluster_ip, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}], **spec},
    }


def endpoint_slice(service_name: str, ip: str, *, ready: bool = True) -> JSON:
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "name": service_name,
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` until it holds (the proxy applies store changes asynchronously)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def free_host_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_pod_reaches_another_through_the_service_address(node: Node, proxy: ServiceProxy) -> None:
    client, server = node.add_pod("client"), node.add_pod("server")
    node.store.create("services", service("web", "10.96.0.20"))
    node.store.create("endpointslices", endpoint_slice("web", server.ip))
    with echo_listener(server.netns, 8080):

        async def answered() -> bool:
            try:
                return await asyncio.to_thread(connect_from, client.netns, "10.96.0.20", 80) == client.ip
            except ConnectionRefusedError:
                return False

        await eventually(answered, "the Service address to answer")


async def test_an_endpoint_that_turns_unready_is_taken_out(node: Node, proxy: ServiceProxy) -> None:
    client, server = node.add_pod("client"), node.add_pod("server")
    node.store.create("services", service("web", "10.96.0.20"))
    node.store.create("endpointslices", endpoint_slice("web", server.ip))
    await eventually(lambda: has_endpoints(proxy, "web"), "the endpoint to be applied")
    stored = node.store.get("endpointslices", "default", "web")
    stored["endpoints"][0]["conditions"]["ready"] = False
    node.store.update("endpointslices", stored)
    with echo_listener(server.netns, 8080):

        async def refused() -> bool:
            try:
                await asyncio.to_thread(connect_from, client.netns, "10.96.0.20", 80)
            except ConnectionRefusedError:
                return True
            return False

        await eventually(refused, "the Service to refuse connections")


async def has_endpoints(proxy: ServiceProxy, name: str) -> bool:
    applied = proxy.applier.applied
    return applied is not None and any(rule.name == name and rule.endpoints for rule in applied.rules)


async def test_a_pod_resolves_a_service_name_through_kube_dns(node: Node, proxy: ServiceProxy) -> None:
    client = node.add_pod("client")
    node.store.create("services", service("web", "10.96.0.20"))

    async def resolved() -> bool:
        reply = await asyncio.to_thread(ask_udp, client.netns, "web.default.svc.cluster.local")
        return [str(rr.rdata) for rr in reply.rr] == ["10.96.0.20"]

    await eventually(resolved, "web.default.svc.cluster.local to resolve")


async def test_a_node_port_is_reachable_on_the_host_loopback(node: Node, proxy: ServiceProxy) -> None:
    server = node.add_pod("server")
    node_port = free_host_port()
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": node_port}]
    node.store.create("services", service("web", "10.96.0.20", type="NodePort", ports=ports))
    node.store.create("endpointslices", endpoint_slice("web", server.ip))
    with echo_listener(server.netns, 8080) as peers:

        async def answered() -> bool:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", node_port)
            except ConnectionRefusedError:
                return False
            seen = await reader.read()
            writer.close()
            return bool(seen)

        await eventually(answered, f"127.0.0.1:{node_port} to answer")
    assert peers  # the pod behind the Service answered


async def test_a_pod_reaches_the_api_server_through_the_kubernetes_service(node: Node, proxy: ServiceProxy) -> None:
    client = node.add_pod("client")
    kubernetes = node.store.get("services", "default", "kubernetes")["spec"]["clusterIP"]
    assert node.store.get("endpointslices", "default", "kubernetes")["endpoints"][0]["addresses"] == [
        node.config.node_gateway
    ]
    assert await asyncio.to_thread(connect_from, client.netns, kubernetes, 443) == "api server"
