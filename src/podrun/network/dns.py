"""Cluster DNS: answers for Services and pods as CoreDNS's kubernetes plugin does, and nothing else.

`ClusterResolver` answers from a `DnsRecords` snapshot (pure, replaceable at any time); `DnsServer` serves it
over UDP and TCP from sockets made inside the node network namespace, on podrun's own asyncio loop.
Nothing is ever forwarded: a name outside the cluster domain is NXDOMAIN.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from podrun.network import netns

if TYPE_CHECKING:
    from dnslib import DNSRecord

TTL = 5


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class Endpoint:
    """A ready endpoint of a Service; `hostname` (a pod's hostname under its subdomain) names it for headless ones."""

    ip: str
    hostname: str = ""


@dataclass(frozen=True)
class ServiceRecord:
    """A Service as DNS sees it: `cluster_ip` empty (or "None") for a headless Service."""

    namespace: str
    name: str
    cluster_ip: str = ""
    ports: list[ServicePort] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)

    @property
    def headless(self) -> bool:
        return self.cluster_ip in ("", "None")


@dataclass(frozen=True)
class DnsRecords:
    """Everything cluster DNS knows at one moment."""

    services: list[ServiceRecord] = field(default_factory=list)
    domain: str = "cluster.local"


class ClusterResolver:
    """A resolver over a records snapshot, with dnslib's `BaseResolver` interface (`resolve(request, handler)`);
    `update` swaps the snapshot atomically. dnslib is imported at the first query: most runs never make one."""

    def __init__(self, records: DnsRecords | None = None) -> None:
        self.update(records or DnsRecords())

    def update(self, records: DnsRecords) -> None:
        """Answer from `records` from now on."""
        addresses: dict[str, list[str]] = {}
        srv: dict[str, list[tuple[int, str]]] = {}
        ptr: dict[str, str] = {}
        for service in records.services:
            base = f"{service.name}.{service.namespace}.svc.{records.domain}"
            if service.headless:
                addresses[base] = [ep.ip for ep in service.endpoints]
                for ep in service.endpoints:
                    if ep.hostname:
                        addresses.setdefault(f"{ep.hostname}.{base}", []).append(ep.ip)
                        ptr[ep.ip] = f"{ep.hostname}.{base}"
                targets = [f"{ep.hostname or ep.ip.replace('.', '-')}.{base}" for ep in service.endpoints]
                for ep, target in zip(service.endpoints, targets, strict=True):
                    addresses.setdefault(target, [ep.ip])
            else:
                addresses[base] = [service.cluster_ip]
                ptr[service.cluster_ip] = base
                targets = [base]
            for port in service.ports:
                if port.name:
                    srv[f"_{port.name}._{port.protocol.lower()}.{base}"] = [(port.port, t) for t in targets]
        self._domain = records.domain
        self._addresses, self._srv, self._ptr = addresses, srv, ptr

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        """The answer to one query, as the kubernetes plugin gives it (TTL 5, NXDOMAIN for unknown names)."""
        from dnslib import PTR, QTYPE, RCODE, RR, SRV, A, DNSLabel

        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = request.q.qtype
        addresses, srv, ptr = self._addresses, self._srv, self._ptr
        if qname.endswith(".in-addr.arpa"):
            target = ptr.get(_reverse_to_ip(qname))
            if target is None:
                reply.header.rcode = RCODE.NXDOMAIN
            elif qtype in (QTYPE.PTR, QTYPE.ANY):
                reply.add_answer(RR(request.q.qname, QTYPE.PTR, rdata=PTR(target + "."), ttl=TTL))
            return reply
        pod_ip = self._pod_address(qname)
        if pod_ip is not None:
            addresses = {**addresses, qname: [pod_ip]}
        if qname in addresses:
            if qtype in (QTYPE.A, QTYPE.ANY):
                for ip in addresses[qname]:
                    reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(ip), ttl=TTL))
            return reply  # AAAA and other types of an existing name: empty NOERROR
        if qname in srv:
            if qtype in (QTYPE.SRV, QTYPE.ANY):
                weight = 100 // max(1, len(srv[qname]))
                for port, target in srv[qname]:
                    rdata = SRV(priority=0, weight=weight, port=port, target=target + ".")
                    reply.add_answer(RR(request.q.qname, QTYPE.SRV, rdata=rdata, ttl=TTL))
                    for ip in addresses.get(target, []):
                        reply.add_ar(RR(DNSLabel(target + "."), QTYPE.A, rdata=A(ip), ttl=TTL))
            return reply
        reply.header.rcode = RCODE.NXDOMAIN
        return reply

    def _pod_address(self, qname: str) -> str | None:
        """`1-2-3-4.<ns>.pod.<domain>` names its own address (CoreDNS's `pods insecure`)."""
        suffix = f".pod.{self._domain}"
        if not qname.endswith(suffix):
            return None
        labels = qname[: -len(suffix)].split(".")
        if len(labels) != 2:
            return None
        try:
            return str(ipaddress.IPv4Address(labels[0].replace("-", ".")))
        except ValueError:
            return None


def _reverse_to_ip(qname: str) -> str:
    return ".".join(reversed(qname[: -len(".in-addr.arpa")].split(".")))




class DnsServer:
    """Serves a ClusterResolver on `address:53` (UDP and TCP) inside the node namespace, on the running loop."""

    def __init__(self, node_netns: Path, address: str, resolver: ClusterResolver, port: int = 53) -> None:
        self.node_netns, self.address, self.port, self.resolver = node_netns, address, port, resolver
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        """Bind both sockets inside the node namespace and start answering."""
        loop = asyncio.get_running_loop()
        udp = netns.socket_inside(self.node_netns, socket.AF_INET, socket.SOCK_DGRAM)
        tcp = netns.socket_inside(self.node_netns, socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((self.address, self.port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.address, self.port))
            tcp.listen(64)
            tcp.setblocking(False)
            udp.setblocking(False)
        except BaseException:
            udp.close()
            tcp.close()
            raise
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=udp)
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp)

    def answer(self, query: bytes) -> bytes | None:
        """The packed reply to a packed query (None for a packet that is not a DNS query)."""
        from dnslib import DNSRecord

        try:
            request = DNSRecord.parse(query)
        except Exception:  # dnslib raises several types for malformed packets; drop them as a server does
            return None
        reply: bytes = self.resolver.resolve(request, None).pack()
        return reply

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = self.answer(await reader.readexactly(length))
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        writer.close()

    async def stop(self) -> None:
        """Close both sockets."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = self.server.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)
