"""`ServiceProxy`: podrun's kube-proxy, turning the stored Services and EndpointSlices into the node's data path.

    proxy = ServiceProxy(store, network, api_port=6443)
    await proxy.start()     # API relay up, node endpoints written, first sync done, then follows the store
    await proxy.stop()      # watches ended, NodePorts and the API relay closed

It watches Services, EndpointSlices and Endpoints; every change wakes one sync loop (a burst of changes is one
sync), which computes the `DataPlane` snapshot (`podrun.services.dataplane`, pure) and hands rules and DNS
records to the network only when they changed, then opens and closes NodePort relays to match. A NodePort
that cannot be published (its host port taken) is logged and tried again at the next sync.

It also makes the servers of the node itself reachable from pods: the API server on the host's loopback
through an `InboundRelay` on the node's gateway address (the `kubernetes` Service's endpoint, as kube-apiserver
writes its own), and the DNS server (the `kube-dns` Service's endpoint).
"""

from __future__ import annotations

import asyncio
import logging

from podrun.api.followers import stop_following
from podrun.api.store import Store, Watch
from podrun.network.nftables import NftError
from podrun.network.relay import InboundRelay
from podrun.services.applier import DataPlaneApplier, ServiceNetwork
from podrun.services.dataplane import compute_data_plane
from podrun.services.defaults import put_kube_dns_endpoints, put_kubernetes_endpoints

log = logging.getLogger(__name__)

API_RELAY_PORT = 6443
WATCHED = ("services", "endpointslices", "endpoints")
# An API server listening on every address is dialled on the loopback.
_LOOPBACK_FOR_WILDCARD = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


class ServiceProxy:
    """Keeps the node's Service rules, cluster DNS and NodePorts in step with the store.

    `api_port` is the API server's port on the host at `api_host` (a wildcard address is dialled on
    127.0.0.1); None runs no API relay (and leaves the `kubernetes` Endpoints alone).
    """

    def __init__(
        self, store: Store, network: ServiceNetwork, *, api_port: int | None, api_host: str = "127.0.0.1"
    ) -> None:
        self.store = store
        self.network = network
        self.api_port = api_port
        self.api_host = _LOOPBACK_FOR_WILDCARD.get(api_host, api_host)
        self.applier = DataPlaneApplier(network)
        self._api_relay: InboundRelay | None = None
        self._wake = asyncio.Event()
        self._watches: list[Watch] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def api_endpoint(self) -> tuple[str, int]:
        """Where pods reach the API server: the node's gateway address, port 6443."""
        return (self.network.config.node_gateway, API_RELAY_PORT)

    async def start(self) -> None:
        """Start the API relay, write the node's endpoints, sync once, then follow the store."""
        config = self.network.config
        if self.api_port is not None:
            address, port = self.api_endpoint
            self._api_relay = InboundRelay(config.node_netns_path, address, port, (self.api_host, self.api_port))
            await self._api_relay.start()
            put_kubernetes_endpoints(self.store, address, port)
        put_kube_dns_endpoints(self.store, config.dns_ip)
        for resource in WATCHED:
            watch = self.store.watch(resource, None)
            self._watches.append(watch)
            self._tasks.append(asyncio.ensure_future(self._follow(watch)))
        await self._sync_logging_refusals()
        self._tasks.append(asyncio.ensure_future(self._sync_loop()))

    async def stop(self) -> None:
        """End the watches and the sync loop, close every NodePort and the API relay (the rules stay)."""
        await stop_following(self._watches, self._tasks)
        await self.applier.close()
        if self._api_relay is not None:
            await self._api_relay.stop()
            self._api_relay = None

    async def sync(self) -> None:
        """Compute the snapshot from the store and apply it."""
        wanted = compute_data_plane(
            self.store.list("services", None)[0],
            self.store.list("endpointslices", None)[0],
            self.store.list("endpoints", None)[0],
            domain=self.network.config.cluster_domain,
        )
        await self.applier.apply(wanted)

    async def _follow(self, watch: Watch) -> None:
        async for _event in watch:
            self._wake.set()

    async def _sync_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._sync_logging_refusals()

    async def _sync_logging_refusals(self) -> None:
        try:
            await self.sync()
        except NftError as error:
            # `applied` still holds the last snapshot nft took, so the next change tries the whole of it again.
            log.error("service proxy: nft refused the Service rules: %s", error)
