"""What a pod worker needs to know about its node and where it keeps a pod's files.

`NodeFacts` is the node's side of a pod's network identity (host IP, pod IPs, /etc/hosts,
resolv.conf) and capacity; it is an object handed to the workers, so a node with CNI networking
or one joined to a real cluster can replace it without touching the worker.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from podrun.json_types import JSON
from podrun.network.config import NetworkConfig
from podrun.network.resolv import parse_resolv_conf, pod_hosts_file, pod_resolv_conf

DEFAULT_ROOT = Path("/var/lib/podrun")
NAME_MAX = 255  # the longest file name Linux file systems take, in bytes

# Where a pod without an address of its own finds its name (as Debian names the host).
NO_ADDRESS_HOST = "127.0.1.1"


def node_memory_bytes() -> int:
    """Total memory of this machine (the node's capacity and allocatable memory)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _read_resolv_conf() -> str:
    try:
        return Path("/etc/resolv.conf").read_text()
    except OSError:
        return ""


@dataclass
class NodeFacts:
    """The node's name, capacity and network facts, as the workers see them.

    With a pod network (`pod_cidr` set) pods get their own addresses, the kubelet's managed /etc/hosts
    naming them, and a resolv.conf pointing at cluster DNS (`dns_ip`); without one, pods have loopback only.
    """

    node_name: str
    memory: int
    allocatable: dict[str, int]
    resolv_conf: str = ""
    host_ip: str = "127.0.0.1"
    pod_cidr: str = ""
    dns_ip: str = ""
    cluster_domain: str = "cluster.local"

    @classmethod
    def of_this_machine(cls, node_name: str, network: NetworkConfig | None = None) -> NodeFacts:
        """This machine's memory and CPUs, its own resolv.conf and, with `network`, its pod network."""
        memory = node_memory_bytes()
        allocatable = {"cpu": (os.cpu_count() or 1) * 1000, "memory": memory, "ephemeral-storage": 0}
        facts = cls(node_name=node_name, memory=memory, allocatable=allocatable, resolv_conf=_read_resolv_conf())
        if network is not None:
            # The node's own address is the pods' gateway, the one address of the node every pod can reach.
            facts.host_ip = network.node_gateway
            facts.pod_cidr = network.node_pod_cidr
            facts.dns_ip = network.dns_ip
            facts.cluster_domain = network.cluster_domain
        return facts

    @property
    def pod_network(self) -> bool:
        """Pods get addresses of their own (through CNI)."""
        return bool(self.pod_cidr)

    def pod_resolv_conf(self, pod: JSON) -> str:
        """The pod's /etc/resolv.conf from its dnsPolicy and dnsConfig (the kubelet's GetPodDNS)."""
        host = parse_resolv_conf(self.resolv_conf)
        return pod_resolv_conf(pod, host, self.dns_ip, self.cluster_domain).render()

    def hosts_file(self, pod: JSON, hostname: str, ips: Sequence[str] = ()) -> str:
        """The kubelet's managed /etc/hosts: the pod's addresses name it; without any, 127.0.1.1 does."""
        return pod_hosts_file(pod, list(ips) or [NO_ADDRESS_HOST], self.cluster_domain, hostname)


@dataclass(frozen=True)
class PodPaths:
    """Where the kubelet keeps a pod's volumes and its containers' CRI logs."""

    pods_dir: Path
    logs_dir: Path

    @classmethod
    def under(cls, root: Path) -> PodPaths:
        """The layout under podrun's root: the system root logs to /var/log/pods, as the kubelet does."""
        logs = Path("/var/log/pods") if root == DEFAULT_ROOT else root / "logs" / "pods"
        return cls(pods_dir=root / "pods", logs_dir=logs)

    def pod_dir(self, uid: str) -> Path:
        """`<root>/pods/<uid>`: the pod's volumes and termination-log files."""
        return self.pods_dir / uid

    def pod_log_dir(self, pod: JSON) -> Path:
        """`<logs>/<ns>_<pod>_<uid>`, as the kubelet lays logs out (see `pod_log_dir_name` for long names)."""
        meta = pod["metadata"]
        return self.logs_dir / pod_log_dir_name(meta.get("namespace", "default"), meta["name"], meta["uid"])

    def log_path(self, pod: JSON, container: str, restart_count: int) -> Path:
        """`<logs>/<ns>_<pod>_<uid>/<container>/<restartCount>.log`."""
        return self.pod_log_dir(pod) / container / f"{restart_count}.log"


def pod_log_dir_name(namespace: str, name: str, uid: str) -> str:
    """`<ns>_<pod>_<uid>`, or, when that is longer than a file name may be (a valid pod name has up to 253
    characters), `<ns>_<start of pod>-<hash of pod>_<uid>` of exactly `NAME_MAX` bytes: every valid pod gets a
    directory of its own, still named after its namespace, name and uid."""
    full = f"{namespace}_{name}_{uid}"
    if len(full.encode()) <= NAME_MAX:
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    keep = NAME_MAX - len(f"{namespace}_-{digest}_{uid}".encode())
    return f"{namespace}_{name.encode()[:keep].decode(errors='ignore')}-{digest}_{uid}"
