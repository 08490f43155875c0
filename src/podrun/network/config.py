"""The ranges and addresses of podrun's pod network, with kind's defaults."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NetworkConfig:
    """Where pods and Services get their addresses, and where the network keeps its files.

    `state_dir` (under the podrun root) holds the CNI conflist, cached ADD results and IPAM files;
    `run_dir` (under the run root) holds the pinned node network namespace.
    """

    state_dir: Path
    run_dir: Path
    pod_cidr: str = "10.244.0.0/16"
    node_pod_cidr: str = "10.244.0.0/24"
    service_cidr: str = "10.96.0.0/16"
    dns_ip: str = "10.96.0.10"
    cluster_domain: str = "cluster.local"

    @classmethod
    def for_roots(cls, root: Path, run_root: Path) -> NetworkConfig:
        """The default configuration for one podrun root (one node network per root)."""
        return cls(state_dir=root / "network", run_dir=run_root / "network")

    def __post_init__(self) -> None:
        pods = ipaddress.ip_network(self.pod_cidr)
        node = ipaddress.ip_network(self.node_pod_cidr)
        services = ipaddress.ip_network(self.service_cidr)
        if node.version != pods.version or not node.subnet_of(pods):  # type: ignore[arg-type]
            raise ValueError(f"node pod CIDR {node} is not inside the pod CIDR {pods}")
        if pods.overlaps(services):
            raise ValueError(f"pod CIDR {pods} overlaps the service CIDR {services}")
        if ipaddress.ip_address(self.dns_ip) not in services:
            raise ValueError(f"DNS address {self.dns_ip} is not inside the service CIDR {services}")

    @property
    def node_gateway(self) -> str:
        """The node's address on every pod's point-to-point link: the first of the node range, as host-local's."""
        return str(next(ipaddress.ip_network(self.node_pod_cidr).hosts()))

    @property
    def node_netns_path(self) -> Path:
        """The bind mount pinning the node network namespace."""
        return self.run_dir / "netns"

    @property
    def cni_dir(self) -> Path:
        """The conflist and the per-sandbox cache of ADD results."""
        return self.state_dir / "cni"

    @property
    def ipam_dir(self) -> Path:
        """host-local's dataDir."""
        return self.state_dir / "ipam"
