"""Network ranges: kind's defaults, and inconsistent ranges refused."""

from pathlib import Path

import pytest

from podrun.network.config import NetworkConfig


def test_defaults_are_kinds_ranges() -> None:
    config = NetworkConfig.for_roots(Path("/r"), Path("/run/r"))
    assert (config.pod_cidr, config.node_pod_cidr, config.service_cidr, config.dns_ip) == (
        "10.244.0.0/16", "10.244.0.0/24", "10.96.0.0/16", "10.96.0.10")
    assert config.ipam_dir == Path("/r/network/ipam")


def test_dns_address_outside_the_service_range_is_refused() -> None:
    with pytest.raises(ValueError, match="not inside the service CIDR"):
        NetworkConfig(Path("/r"), Path("/run"), dns_ip="10.244.0.10")


def test_node_range_outside_the_pod_range_is_refused() -> None:
    with pytest.raises(ValueError, match="not inside the pod CIDR"):
        NetworkConfig(Path("/r"), Path("/run"), node_pod_cidr="10.245.0.0/24")
