"""Service addresses through podrun's nftables table in the node namespace: DNAT, hairpin, reject, removal."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from network_fixtures import connect_from, echo_listener, inside, node_network

from podrun.network import nftables
from podrun.network.nftables import ServiceRule


def test_a_service_address_reaches_its_endpoint(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        server, client = node.add_pod("server"), node.add_pod("client")
        nftables.apply(node.pin, [ServiceRule("ns", "web", "10.96.0.20", 80, endpoints=[(server.ip, 8080)])])
        with echo_listener(server.netns, 8080):
            assert connect_from(client.netns, "10.96.0.20", 80) == client.ip


def test_a_pod_reaches_itself_through_its_own_service(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        server = node.add_pod("server")
        nftables.apply(node.pin, [ServiceRule("ns", "web", "10.96.0.20", 80, endpoints=[(server.ip, 8080)])])
        with echo_listener(server.netns, 8080):
            # masqueraded to the node's address, so the reply goes back through the node and is un-NATed
            assert connect_from(server.netns, "10.96.0.20", 80) == node.config.node_gateway


def test_a_service_without_endpoints_refuses_connections(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        client = node.add_pod("client")
        nftables.apply(node.pin, [ServiceRule("ns", "empty", "10.96.0.30", 80)])
        with pytest.raises(ConnectionRefusedError):
            connect_from(client.netns, "10.96.0.30", 80)


def test_removing_the_table_leaves_no_podrun_table(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        nftables.apply(node.pin, [])
        nftables.remove(node.pin)
        nftables.remove(node.pin)
        assert "podrun" not in inside(node.pin, "nft", "list", "tables").stdout


def test_the_hosts_ruleset_is_untouched(tmp_path: Path) -> None:
    before = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    with node_network(tmp_path) as node:
        nftables.apply(node.pin, [ServiceRule("ns", "web", "10.96.0.20", 80)])
    assert subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout == before
