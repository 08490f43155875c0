"""ServiceProxy on a real (in-memory) store and a fake network: what it applies and publishes, and when."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from podrun.api.store import Store
from podrun.json_types import JSON
from podrun.network.config import NetworkConfig
from podrun.network.dns import DnsRecords
from podrun.network.nftables import NftError, ServiceRule
from podrun.network.relay import Relay
from podrun.services.defaults import kube_dns_service
from podrun.services.proxy import ServiceProxy

WAIT_SECONDS = 5.0


class FakeNetwork:
    """Records what the proxy asks of the node network; `taken` ports refuse to be published."""

    def __init__(self, base: Path) -> None:
        self.config = NetworkConfig.for_roots(base / "root", base / "run")
        self.syncs: list[tuple[list[ServiceRule], DnsRecords]] = []
        self.published: dict[int, Relay] = {}
        self.taken: set[int] = set()
        self.refuse_rules = False
        self._changed = asyncio.Condition()

    async def sync_services(self, rules: list[ServiceRule], records: DnsRecords) -> None:
        if self.refuse_rules:
            self.refuse_rules = False
            await self._notify()
            raise NftError("Error: syntax error")
        self.syncs.append((rules, records))
        await self._notify()

    async def publish(self, host_ip: str, host_port: int, target: tuple[str, int]) -> Relay:
        if host_port in self.taken:
            await self._notify()
            raise OSError(errno.EADDRINUSE, "Address already in use")
        relay = Relay(self.config.node_netns_path, host_ip, host_port, target)
        self.published[host_port] = relay
        await self._notify()
        return relay

    async def unpublish(self, relay: Relay) -> None:
        del self.published[relay.host_port]
        await self._notify()

    @property
    def rules(self) -> dict[str, list[tuple[str, int]]]:
        return {rule.key: rule.endpoints for rule in self.syncs[-1][0]} if self.syncs else {}

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        await asyncio.wait_for(wait(), WAIT_SECONDS)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


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


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def network(tmp_path: Path) -> FakeNetwork:
    return FakeNetwork(tmp_path)


@pytest.fixture
async def proxy(store: Store, network: FakeNetwork) -> AsyncIterator[ServiceProxy]:
    proxy = ServiceProxy(store, network, api_port=None)
    yield proxy
    await proxy.stop()


async def test_start_applies_the_stored_services_before_returning(
    store: Store, network: FakeNetwork, proxy: ServiceProxy
) -> None:
    store.create("services", service("web", "10.96.0.20"))
    store.create("endpointslices", endpoint_slice("web", "10.244.0.5"))
    await proxy.start()
    assert network.rules["default/web/tcp/http"] == [("10.244.0.5", 8080)]


async def test_a_readiness_change_in_a_slice_is_applied(
    store: Store, network: FakeNetwork, proxy: ServiceProxy
) -> None:
    store.create("services", service("web", "10.96.0.20"))
    stored = store.create("endpointslices", endpoint_slice("web", "10.244.0.5"))
    await proxy.start()
    stored["endpoints"][0]["conditions"]["ready"] = False
    store.update("endpointslices", stored)
    await network.wait_until(lambda: network.rules.get("default/web/tcp/http") == [])


async def test_a_change_that_leaves_the_snapshot_alone_is_not_applied_again(
    store: Store, network: FakeNetwork, proxy: ServiceProxy
) -> None:
    stored = store.create("services", service("web", "10.96.0.20"))
    await proxy.start()
    stored["metadata"]["annotations"] = {"note": "unrelated"}
    store.update("services", stored)
    store.create("services", service("api", "10.96.0.21"))  # a later change that does alter it
    await network.wait_until(lambda: "default/api/tcp/http" in network.rules)
    assert len(network.syncs) == 2  # at start, and for the new Service


async def test_the_kube_dns_service_leads_to_the_dns_server(
    store: Store, network: FakeNetwork, proxy: ServiceProxy
) -> None:
    dns_ip = network.config.dns_ip
    store.create("services", kube_dns_service(dns_ip))
    await proxy.start()
    assert network.rules["kube-system/kube-dns/udp/dns"] == [(dns_ip, 53)]
    assert network.rules["kube-system/kube-dns/tcp/dns-tcp"] == [(dns_ip, 53)]
    assert store.get("endpoints", "kube-system", "kube-dns")["subsets"][0]["addresses"] == [{"ip": dns_ip}]


async def test_a_node_port_is_published_and_closed_with_its_service(
    store: Store, network: FakeNetwork, proxy: ServiceProxy
) -> None:
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]
    store.create("services", service("web", "10.96.0.20", type="NodePort", ports=ports))
    await proxy.start()
    assert network.published[30080].target == ("10.96.0.20", 80)
    store.delete("services", "default", "web")
    await network.wait_until(lambda: network.published == {})


async def test_a_taken_host_port_is_logged_and_retried_at_the_next_change(
    store: Store, network: FakeNetwork, proxy: ServiceProxy, caplog: pytest.LogCaptureFixture
) -> None:
    network.taken.add(30080)
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]
    store.create("services", service("web", "10.96.0.20", type="NodePort", ports=ports))
    await proxy.start()
    assert network.published == {}
    assert "service default/web: cannot publish NodePort 30080 on 127.0.0.1: Address already in use" in caplog.text
    network.taken.clear()
    store.create("services", service("api", "10.96.0.21"))
    await network.wait_until(lambda: 30080 in network.published)


async def test_a_refused_ruleset_is_logged_and_tried_again_at_the_next_change(
    store: Store, network: FakeNetwork, proxy: ServiceProxy, caplog: pytest.LogCaptureFixture
) -> None:
    network.refuse_rules = True
    store.create("services", service("web", "10.96.0.20"))
    await proxy.start()
    assert network.syncs == []
    assert "nft refused the Service rules: Error: syntax error" in caplog.text
    store.create("services", service("api", "10.96.0.21"))
    await network.wait_until(lambda: {"default/web/tcp/http", "default/api/tcp/http"} <= network.rules.keys())


async def test_stop_closes_every_node_port(store: Store, network: FakeNetwork) -> None:
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]
    store.create("services", service("web", "10.96.0.20", type="NodePort", ports=ports))
    proxy = ServiceProxy(store, network, api_port=None)
    await proxy.start()
    await proxy.stop()
    assert network.published == {}


def test_an_api_server_listening_everywhere_is_dialled_on_the_loopback(store: Store, network: FakeNetwork) -> None:
    assert ServiceProxy(store, network, api_port=6443, api_host="0.0.0.0").api_host == "127.0.0.1"
    assert ServiceProxy(store, network, api_port=6443, api_host="::").api_host == "::1"
