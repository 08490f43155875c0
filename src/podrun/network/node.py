"""`NodeNetwork`: the pod network of one podrun root, in one object for the kubelet, `podrun run` and `serve`.

    network = NodeNetwork(NetworkConfig.for_roots(root, run_root))
    await network.start(live_sandbox_ids)          # node namespace, stale state reclaimed, DNS up
    Sandboxes(root, run_root, network)             # sandboxes with config.network get an IP
    await network.sync_services(rules, records)    # Service rules and DNS answers, whole snapshots
    relay = await network.publish("127.0.0.1", 8080, (pod_ip, 80))   # hostPort / NodePort
    await network.stop(remove=True)                # `podrun run` at its end; serve keeps the namespace
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

from podrun.json_types import JSON
from podrun.network import netns, nftables
from podrun.network.cni import Cni, CniError
from podrun.network.config import NetworkConfig
from podrun.network.dns import ClusterResolver, DnsRecords, DnsServer
from podrun.network.nftables import ServiceRule
from podrun.network.relay import Relay
from podrun.network.resolv import parse_resolv_conf, pod_hosts_file, pod_resolv_conf
from podrun.runtime.protocol import PortMapping

HOST_RESOLV_CONF = Path("/etc/resolv.conf")


class NetworkError(Exception):
    """The pod network could not be set up (a missing CNI plugin, nft, or a namespace that cannot be made)."""


class NodeNetwork:
    """The node namespace, CNI attachments, Service rules, cluster DNS and published ports of one podrun root."""

    def __init__(self, config: NetworkConfig) -> None:
        self.config = config
        self.cni = Cni(config, config.node_netns_path)
        self.resolver = ClusterResolver(DnsRecords(domain=config.cluster_domain))
        self._dns: DnsServer | None = None
        self._relays: set[Relay] = set()
        self._ports: dict[str, list[Relay]] = {}
        self._rules: list[ServiceRule] | None = None  # what podrun's table now carries, once applied
        self._deferred: set[str] | None = None  # sandboxes detached in name only (`defer_detach`)

    @property
    def netns_path(self) -> Path:
        """The pinned node network namespace."""
        return self.config.node_netns_path

    @property
    def node_address(self) -> str:
        """The node's address in its namespace: the pods' gateway, and host-network pods' address."""
        return self.config.node_gateway

    async def start(self, live_sandbox_ids: set[str] | None = None, *, lazy_table: bool = False) -> None:
        """Create (or adopt) the node namespace, reclaim addresses of sandboxes not in the set, start DNS.

        `lazy_table`: in a namespace made now, podrun's nftables table is made by the first Service rules (without
        Services, by nobody: `podrun run` of pods alone runs no `nft`); else it is (re)made empty here, which also
        proves `nft` works. Raises `NetworkError` with what failed; nothing is left half-made then.
        """
        try:
            await self._start(live_sandbox_ids, lazy_table)
        except (CniError, netns.NodeNetnsError, nftables.NftError) as e:
            await self.stop(remove=False)
            raise NetworkError(f"the pod network could not be set up: {e}") from e

    async def _start(self, live_sandbox_ids: set[str] | None, lazy_table: bool) -> None:
        pin = self.netns_path
        # The node's own address (the pods' gateway) is on loopback too, so that it exists before the first pod
        # and host-network pods, which share this namespace, have it.
        addresses = [self.config.dns_ip, self.config.node_gateway]
        created = await asyncio.to_thread(netns.create, pin, self.config.service_cidr, addresses)
        self.cni.write_conflist()
        if live_sandbox_ids is not None:
            await asyncio.to_thread(self.cni.reclaim, live_sandbox_ids)
        if not (created and lazy_table):
            # An adopted namespace may still carry an earlier podrun's Service rules: back to none.
            await asyncio.to_thread(nftables.apply, pin, [])
        # A new namespace without the table rewrites and filters nothing, as the table without rules does.
        self._rules = []
        self._dns = DnsServer(pin, self.config.dns_ip, self.resolver)
        await self._dns.start()

    async def stop(self, remove: bool = True) -> None:
        """Stop DNS and relays; with `remove`, also delete the table, every address and the node namespace."""
        for relay in list(self._relays):
            await relay.stop()
        self._relays.clear()
        self._ports.clear()
        if self._dns is not None:
            await self._dns.stop()
            self._dns = None
        if remove:
            await asyncio.to_thread(self._remove)
        elif self._deferred:
            await asyncio.to_thread(self._detach_deferred)
        self._deferred = None

    def defer_detach(self) -> None:
        """From now on, `detach` only notes the sandbox; `stop` DELs the noted ones unless it removes the network.

        For `podrun run`, whose node namespace usually goes when it ends: a DEL (two plugin processes, ~25 ms) on
        the way out of every pod is work that removing the namespace and the address store does anyway.
        """
        self._deferred = set()

    def _detach_deferred(self) -> None:
        for sandbox_id in sorted(self._deferred or ()):
            with contextlib.suppress(CniError):
                self.cni.delete(sandbox_id)

    def _remove(self) -> None:
        pin = self.netns_path
        if netns.exists(pin):
            # No `nft` to delete the table: it lives in the namespace, and goes with it. Nor a DEL for the
            # deferred detachments: their pod namespaces are gone, and with them the veth pairs and routes.
            self.cni.reclaim(self._deferred or set())
        self._rules = None
        netns.remove(pin)
        shutil.rmtree(self.config.ipam_dir, ignore_errors=True)
        shutil.rmtree(self.cni.results, ignore_errors=True)

    async def sync_services(self, rules: list[ServiceRule], records: DnsRecords) -> None:
        """Make the Service rules and DNS answers exactly these snapshots."""
        if rules != self._rules:
            # The table is podrun's alone: a ruleset it already carries (a run without Services) needs no `nft`.
            self._rules = None
            await asyncio.to_thread(nftables.apply, self.netns_path, rules)
            self._rules = list(rules)
        self.resolver.update(records)

    async def publish(self, host_ip: str, host_port: int, target: tuple[str, int]) -> Relay:
        """Publish `target` (pod or Service address) on the host's `host_ip:host_port` (127.0.0.0/8)."""
        relay = Relay(self.netns_path, host_ip, host_port, target)
        await relay.start()
        self._relays.add(relay)
        return relay

    async def unpublish(self, relay: Relay) -> None:
        """Stop one published port."""
        self._relays.discard(relay)
        await relay.stop()

    async def publish_ports(self, sandbox_id: str, target_ip: str, mappings: tuple[PortMapping, ...]) -> None:
        """Publish a sandbox's hostPorts (TCP; `hostIP` within 127.0.0.0/8, 127.0.0.1 when unset), all or none.

        A port already taken raises OSError after closing those already opened, as the portmap plugin fails ADD.
        """
        opened: list[Relay] = []
        try:
            for mapping in mappings:
                if mapping.protocol.upper() != "TCP":
                    continue  # UDP and SCTP hostPorts are not relayed (documented)
                host_ip = mapping.host_ip or "127.0.0.1"
                opened.append(await self.publish(host_ip, mapping.host_port, (target_ip, mapping.container_port)))
        except (OSError, ValueError) as e:
            for relay in opened:
                await self.unpublish(relay)
            raise OSError(str(e)) from e
        self._ports[sandbox_id] = opened

    async def unpublish_ports(self, sandbox_id: str) -> None:
        """Close a sandbox's hostPorts."""
        for relay in self._ports.pop(sandbox_id, []):
            await self.unpublish(relay)

    def attach(self, sandbox_id: str, netns_path: Path) -> list[str]:
        """CNI ADD of a sandbox's namespace (blocking: call from a worker thread); returns its addresses."""
        return self.cni.add(sandbox_id, netns_path).ips

    def detach(self, sandbox_id: str) -> None:
        """CNI DEL of a sandbox (blocking), or only a note of it after `defer_detach`. A failing plugin leaves an
        allocation that the next start reclaims."""
        if self._deferred is not None:
            self._deferred.add(sandbox_id)
            return
        with contextlib.suppress(CniError):
            self.cni.delete(sandbox_id)

    def reclaim(self, live_sandbox_ids: set[str]) -> None:
        """Release the addresses of every sandbox not in the set (blocking)."""
        self.cni.reclaim(live_sandbox_ids)

    def resolv_conf(self, pod: JSON, host_resolv_conf: Path = HOST_RESOLV_CONF) -> str:
        """The pod's /etc/resolv.conf text."""
        try:
            host = parse_resolv_conf(host_resolv_conf.read_text())
        except OSError:
            host = parse_resolv_conf("")
        return pod_resolv_conf(pod, host, self.config.dns_ip, self.config.cluster_domain).render()

    def hosts_file(self, pod: JSON, ips: list[str]) -> str:
        """The pod's /etc/hosts text for its addresses."""
        return pod_hosts_file(pod, ips, self.config.cluster_domain)


def has_sandboxes(root: Path) -> bool:
    """Pod sandboxes exist under the podrun root: their pods still use the node network.

    `podrun run` and `podrun serve` remove the node network when they stop only when none are left (the last
    one out), so a run never pulls the network from under a `serve` or another run on the same root.
    """
    sandboxes = root / "sandboxes"
    return sandboxes.is_dir() and any((d / "sandbox.json").exists() for d in sandboxes.iterdir())
