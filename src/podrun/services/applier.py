"""`DataPlaneApplier`: hands `DataPlane` snapshots to the node network (rules and DNS records, NodePort relays).

Shared by `ServiceProxy` (snapshots from the store, under `podrun serve`) and `InMemoryServices` (snapshots from
a run's own pods, under `podrun run`); it imports nothing of the API, so `podrun run` does not load it.
"""

from __future__ import annotations

import logging
from typing import Protocol

from podrun.network.config import NetworkConfig
from podrun.network.dns import DnsRecords
from podrun.network.nftables import ServiceRule
from podrun.network.relay import Relay
from podrun.services.dataplane import DataPlane, NodePortRule

log = logging.getLogger(__name__)

NODE_PORT_HOST_IP = "127.0.0.1"


class ServiceNetwork(Protocol):
    """What the proxy needs of `podrun.network.node.NodeNetwork`."""

    config: NetworkConfig

    async def sync_services(self, rules: list[ServiceRule], records: DnsRecords) -> None: ...

    async def publish(self, host_ip: str, host_port: int, target: tuple[str, int]) -> Relay: ...

    async def unpublish(self, relay: Relay) -> None: ...


class DataPlaneApplier:
    """Applies `DataPlane` snapshots to the node network: rules and DNS records when they changed, NodePorts matched.

    Shared by `ServiceProxy` (snapshots from the store) and `podrun run` (snapshots from its own pods).
    """

    def __init__(self, network: ServiceNetwork) -> None:
        self.network = network
        self.applied: DataPlane | None = None
        self._node_ports: dict[NodePortRule, Relay] = {}

    async def apply(self, wanted: DataPlane) -> None:
        """Make the node carry `wanted`; a ruleset nft refuses raises NftError and is tried whole next time."""
        applied = self.applied
        if applied is None or (applied.rules, applied.records) != (wanted.rules, wanted.records):
            await self.network.sync_services(wanted.rules, wanted.records)
        self.applied = wanted
        await self._publish_node_ports(wanted.node_ports)

    async def close(self) -> None:
        """Close every NodePort (the rules and records stay until the network is stopped)."""
        for rule in list(self._node_ports):
            await self.network.unpublish(self._node_ports.pop(rule))

    async def _publish_node_ports(self, wanted: list[NodePortRule]) -> None:
        for rule in [rule for rule in self._node_ports if rule not in wanted]:
            await self.network.unpublish(self._node_ports.pop(rule))
        for rule in wanted:
            if rule in self._node_ports:
                continue
            try:
                self._node_ports[rule] = await self.network.publish(NODE_PORT_HOST_IP, rule.node_port, rule.target)
            except OSError as error:
                log.warning(
                    "service %s/%s: cannot publish NodePort %d on %s: %s (tried again at the next change)",
                    rule.namespace, rule.name, rule.node_port, NODE_PORT_HOST_IP, error.strerror or error,
                )  # fmt: skip
