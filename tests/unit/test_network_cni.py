"""podrun's CNI network configuration: ptp + host-local in its own state directory, no default route."""

from pathlib import Path

from podrun.network.cni import conflist, result_ips
from podrun.network.config import NetworkConfig


def test_conflist_routes_only_the_pod_and_service_ranges() -> None:
    ipam = conflist(NetworkConfig.for_roots(Path("/r"), Path("/run/r")))["plugins"][0]["ipam"]
    assert [route["dst"] for route in ipam["routes"]] == ["10.244.0.0/16", "10.96.0.0/16"]
    assert all(route["dst"] != "0.0.0.0/0" for route in ipam["routes"])


def test_conflist_keeps_ipam_state_under_podruns_root() -> None:
    network = conflist(NetworkConfig.for_roots(Path("/r"), Path("/run/r")))
    assert network["plugins"][0]["type"] == "ptp"
    assert network["plugins"][0]["ipam"]["dataDir"] == "/r/network/ipam"
    assert network["plugins"][0]["ipMasq"] is False


def test_result_addresses_drop_the_prefix_length() -> None:
    assert result_ips({"ips": [{"address": "10.244.0.2/24", "gateway": "10.244.0.1"}]}) == ["10.244.0.2"]
