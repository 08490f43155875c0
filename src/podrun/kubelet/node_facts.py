"""What a pod worker needs to know about its node and where it keeps a pod's files.

`NodeFacts` is the node's side of a pod's network identity (host IP, pod IPs, /etc/hosts,
resolv.conf) and capacity; it is an object handed to the workers, so a node with CNI networking
or one joined to a real cluster can replace it without touching the worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from podrun.json_types import JSON

DEFAULT_ROOT = Path("/var/lib/podrun")

HOSTS_HEADER = """# Kubernetes-managed hosts file.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
fe00::0	ip6-mcastprefix
fe00::1	ip6-allnodes
fe00::2	ip6-allrouters
"""


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
    """The node's name, capacity and network facts, as the workers see them."""

    node_name: str
    memory: int
    allocatable: dict[str, int]
    resolv_conf: str = ""
    host_ip: str = "127.0.0.1"
    extra_hosts: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of_this_machine(cls, node_name: str) -> NodeFacts:
        """This machine's memory and CPUs, and its own resolv.conf."""
        memory = node_memory_bytes()
        allocatable = {"cpu": (os.cpu_count() or 1) * 1000, "memory": memory, "ephemeral-storage": 0}
        return cls(node_name=node_name, memory=memory, allocatable=allocatable, resolv_conf=_read_resolv_conf())

    def pod_ips(self, pod: JSON) -> list[str]:
        """The pod's IPs: none, while pods share the host's loopback."""
        return []

    def hosts_file(self, pod: JSON, hostname: str) -> str:
        """The kubelet's managed /etc/hosts; the pod's own name maps to loopback (pods have no IP here)."""
        text = HOSTS_HEADER + f"127.0.1.1\t{hostname}\n"
        aliases = pod["spec"].get("hostAliases") or []
        if aliases:
            text += "\n# Entries added by HostAliases.\n"
            for alias in aliases:
                text += f"{alias.get('ip', '')}\t" + "\t".join(alias.get("hostnames") or []) + "\n"
        return text


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
        """`<logs>/<ns>_<pod>_<uid>`, as the kubelet lays logs out."""
        meta = pod["metadata"]
        return self.logs_dir / f"{meta.get('namespace', 'default')}_{meta['name']}_{meta['uid']}"

    def log_path(self, pod: JSON, container: str, restart_count: int) -> Path:
        """`<logs>/<ns>_<pod>_<uid>/<container>/<restartCount>.log`."""
        return self.pod_log_dir(pod) / container / f"{restart_count}.log"
