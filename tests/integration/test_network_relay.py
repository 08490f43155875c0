"""A port published on the host's loopback reaches a listener in a pod's namespace."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from network_fixtures import connect_from, echo_listener, node_network

from podrun.network import nftables
from podrun.network.nftables import ServiceRule
from podrun.network.relay import InboundRelay, Relay


async def test_the_host_loopback_reaches_a_pod_through_the_relay(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        pod = node.add_pod("server")
        relay = Relay(node.pin, "127.0.0.1", 0, (pod.ip, 8080))
        await relay.start()
        try:
            with echo_listener(pod.netns, 8080):
                reader, writer = await asyncio.open_connection("127.0.0.1", relay.host_port)
                seen = await reader.read()  # the server answers, then closes: the close is passed on
                writer.close()
        finally:
            await relay.stop()
    assert seen.decode() == node.config.node_gateway


def test_a_host_ip_outside_loopback_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        Relay(tmp_path, "192.0.2.1", 8080, ("10.244.0.2", 80))


async def test_a_relay_to_a_service_address_is_balanced_by_the_node_rules(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        pod = node.add_pod("server")
        nftables.apply(node.pin, [ServiceRule("ns", "web", "10.96.0.20", 80, endpoints=[(pod.ip, 8080)])])
        relay = Relay(node.pin, "127.0.0.2", 0, ("10.96.0.20", 80))
        await relay.start()
        try:
            with echo_listener(pod.netns, 8080) as peers:
                reader, writer = await asyncio.open_connection("127.0.0.2", relay.host_port)
                seen = await reader.read()
                writer.close()
        finally:
            await relay.stop()
    assert peers == [seen.decode()]  # the endpoint behind the Service address answered


async def test_a_pod_reaches_a_host_loopback_server_through_the_inbound_relay(tmp_path: Path) -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello from the host")
        writer.close()

    host_server = await asyncio.start_server(greet, "127.0.0.1", 0)
    host_port = host_server.sockets[0].getsockname()[1]
    try:
        with node_network(tmp_path) as node:
            relay = InboundRelay(node.pin, node.config.node_gateway, 6443, ("127.0.0.1", host_port))
            await relay.start()  # before any pod: the gateway address is on the node's loopback
            try:
                pod = node.add_pod("client")
                seen = await asyncio.to_thread(connect_from, pod.netns, node.config.node_gateway, 6443)
            finally:
                await relay.stop()
    finally:
        host_server.close()
        await host_server.wait_closed()
    assert seen == "hello from the host"
