"""A node network namespace and pod namespaces made by the test, attached through real CNI plugins."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from podrun.network import netns
from podrun.network.cni import Cni
from podrun.network.config import NetworkConfig
from podrun.runtime import linux


@dataclass
class AttachedPod:
    id: str
    netns: Path
    ip: str


class NodeUnderTest:
    """The node namespace of a throwaway root, and pods attached to it."""

    def __init__(self, base: Path) -> None:
        self.config = NetworkConfig.for_roots(base / "root", base / "run")
        self.pin = self.config.node_netns_path
        self.cni = Cni(self.config, self.pin)
        self.base = base
        self.pods: list[AttachedPod] = []

    def add_pod(self, name: str) -> AttachedPod:
        pin = self.base / f"pod-{name}"
        pin.touch()
        subprocess.run(["unshare", f"--net={pin}", "ip", "link", "set", "lo", "up"], check=True)
        attachment = self.cni.add(name, pin)
        pod = AttachedPod(name, pin, attachment.ips[0])
        self.pods.append(pod)
        return pod

    def remove_pod(self, pod: AttachedPod) -> None:
        self.cni.delete(pod.id)
        linux.unmount_all_under(pod.netns)
        pod.netns.unlink(missing_ok=True)
        self.pods.remove(pod)


@contextlib.contextmanager
def node_network(base: Path) -> Iterator[NodeUnderTest]:
    node = NodeUnderTest(base)
    netns.create(node.pin, node.config.service_cidr, [node.config.dns_ip])
    node.cni.write_conflist()
    try:
        yield node
    finally:
        for pod in list(node.pods):
            node.remove_pod(pod)
        netns.remove(node.pin)


def inside(pin: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={pin}", *argv], capture_output=True, text=True, check=False)


@contextlib.contextmanager
def echo_listener(pin: Path, port: int) -> Iterator[list[str]]:
    """A TCP server inside `pin` that answers each connection with the peer's address; yields the peers seen."""
    server = netns.socket_inside(pin, socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen()
    peers: list[str] = []

    def serve() -> None:
        while True:
            try:
                conn, (peer, _) = server.accept()
            except OSError:
                return
            with conn:
                peers.append(peer)
                conn.sendall(peer.encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield peers
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join()


def connect_from(pin: Path, address: str, port: int) -> str:
    """Connect from inside `pin` and return what the server says (raises OSError when refused)."""
    sock = netns.socket_inside(pin, socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(5)
        sock.connect((address, port))
        return sock.recv(100).decode()
