"""The node network namespace: created with forwarding on and no default route, removed without a trace."""

import subprocess
from pathlib import Path

from podrun.network import netns


def inside(pin: Path, *argv: str) -> str:
    return subprocess.run(["nsenter", f"--net={pin}", *argv], capture_output=True, text=True, check=True).stdout


def test_node_namespace_forwards_carries_the_dns_address_and_has_no_default_route(tmp_path: Path) -> None:
    pin = tmp_path / "netns"
    netns.create(pin, "10.96.0.0/16", ["10.96.0.10"])
    try:
        assert inside(pin, "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"
        assert "10.96.0.10/32" in inside(pin, "ip", "-o", "addr", "show", "dev", "lo")
        assert inside(pin, "ip", "route", "show", "default") == ""
    finally:
        netns.remove(pin)
    assert not pin.exists()


def test_creating_again_adopts_the_pinned_namespace(tmp_path: Path) -> None:
    pin = tmp_path / "netns"
    netns.create(pin, "10.96.0.0/16", ["10.96.0.10"])
    try:
        before = pin.stat().st_ino
        netns.create(pin, "10.96.0.0/16", ["10.96.0.10"])
        assert pin.stat().st_ino == before
    finally:
        netns.remove(pin)


def test_host_forwarding_is_left_alone(tmp_path: Path) -> None:
    host_value = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    pin = tmp_path / "netns"
    netns.create(pin, "10.96.0.0/16", ["10.96.0.10"])
    netns.remove(pin)
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_value
