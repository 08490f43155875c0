"""Cluster DNS served inside the node namespace, asked from a pod's namespace."""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path

from dnslib import RCODE, DNSRecord
from network_fixtures import node_network

from podrun.network import netns
from podrun.network.dns import ClusterResolver, DnsRecords, DnsServer, ServiceRecord

RECORDS = DnsRecords([ServiceRecord("shop", "web", "10.96.0.20")])


def ask_udp(pin: Path, name: str) -> DNSRecord:
    sock = netns.socket_inside(pin, socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(5)
        sock.sendto(DNSRecord.question(name).pack(), ("10.96.0.10", 53))
        return DNSRecord.parse(sock.recv(4096))


def ask_tcp(pin: Path, name: str) -> DNSRecord:
    sock = netns.socket_inside(pin, socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(5)
        sock.connect(("10.96.0.10", 53))
        query = DNSRecord.question(name).pack()
        sock.sendall(struct.pack("!H", len(query)) + query)
        (length,) = struct.unpack("!H", sock.recv(2))
        return DNSRecord.parse(sock.recv(length, socket.MSG_WAITALL))


async def test_a_pod_resolves_a_service_over_udp_and_tcp(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        pod = node.add_pod("client")
        server = DnsServer(node.pin, node.config.dns_ip, ClusterResolver(RECORDS))
        await server.start()
        try:
            udp = await asyncio.to_thread(ask_udp, pod.netns, "web.shop.svc.cluster.local")
            tcp = await asyncio.to_thread(ask_tcp, pod.netns, "web.shop.svc.cluster.local")
            outside = await asyncio.to_thread(ask_udp, pod.netns, "example.com")
        finally:
            await server.stop()
    assert [str(rr.rdata) for rr in udp.rr] == [str(rr.rdata) for rr in tcp.rr] == ["10.96.0.20"]
    assert outside.header.rcode == RCODE.NXDOMAIN
