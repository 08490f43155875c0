"""Pod addresses from real CNI plugins (ptp + host-local) behind a node namespace, and nothing left after."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

from network_fixtures import connect_from, echo_listener, inside, node_network


def host_veths() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip() for line in out.stdout.splitlines()}


def test_pods_get_addresses_in_the_node_range_and_reach_each_other(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        a, b = node.add_pod("a"), node.add_pod("b")
        for pod in (a, b):
            assert ipaddress.ip_address(pod.ip) in ipaddress.ip_network("10.244.0.0/24")
        with echo_listener(a.netns, 8080):
            assert connect_from(b.netns, a.ip, 8080) == b.ip


def test_a_pod_has_no_route_out_of_the_machine(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        pod = node.add_pod("a")
        assert inside(pod.netns, "ip", "route", "get", "203.0.113.1").returncode != 0
        assert inside(node.pin, "ip", "route", "get", "203.0.113.1").returncode != 0


def test_check_passes_for_an_attached_pod(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        node.add_pod("a")
        node.cni.check("a")


def test_host_side_veths_live_in_the_node_namespace_only(tmp_path: Path) -> None:
    before = host_veths()
    with node_network(tmp_path) as node:
        node.add_pod("a")
        assert host_veths() == before
        assert "veth" in inside(node.pin, "ip", "-o", "link", "show", "type", "veth").stdout


def test_delete_frees_the_address_even_when_the_pod_namespace_is_gone(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        pod = node.add_pod("a")
        subprocess.run(["umount", str(pod.netns)], check=True)
        pod.netns.unlink()
        node.cni.delete("a")
        node.pods.remove(pod)
        assert not (node.config.ipam_dir / "podrun" / pod.ip).exists()


def test_reclaim_frees_addresses_of_sandboxes_that_no_longer_exist(tmp_path: Path) -> None:
    with node_network(tmp_path) as node:
        kept, gone = node.add_pod("kept"), node.add_pod("gone")
        assert node.cni.reclaim({"kept"}) == ["gone"]
        node.pods.remove(gone)
        subprocess.run(["umount", str(gone.netns)], check=True)
        assert not (node.config.ipam_dir / "podrun" / gone.ip).exists()
        assert (node.config.ipam_dir / "podrun" / kept.ip).exists()
