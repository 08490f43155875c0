"""The node network namespace: where the pods' host-side interfaces, the Service rules and the DNS server live.

Like kind's node container, it stands between the pods and the host: forwarding is on only here, it has no
default route and no NAT, so nothing a pod sends can leave the machine, and the host's sysctls and firewall are
never touched. It is pinned by a bind mount under the run root (as sandboxes' namespaces are), not a named
`ip netns`, so that each podrun root has its own and a crash leaves only a file under that root to clean.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from podrun.runtime import linux

T = TypeVar("T")


class NodeNetnsError(Exception):
    """Creating or configuring the node network namespace failed."""


def exists(pin: Path) -> bool:
    """True when a node namespace is pinned at `pin`."""
    return linux.is_mountpoint(pin) if pin.exists() else False


def create(pin: Path, service_cidr: str, service_addresses: list[str]) -> bool:
    """Create (or adopt, when already pinned) the node namespace and configure it; True when it was created.

    Inside: loopback up, forwarding on, reverse-path filtering off (masqueraded hairpin traffic need not come
    back on the interface its route names), and the fixed
    service-side addresses (the DNS address) on loopback (the kernel may lack the dummy driver and
    loading modules would change the host). The whole Service range is routed locally, so that a packet to
    a Service address without endpoints reaches the input hook and its reject rather than finding no route.
    No default route is ever added.
    """
    pin.parent.mkdir(parents=True, exist_ok=True)
    created = not exists(pin)
    if created:
        pin.touch()
        _run(["unshare", f"--net={pin}", "true"])
    try:
        _configure(pin, service_cidr, service_addresses)
    except BaseException:
        remove(pin)
        raise
    return created


# Written from a thread inside the namespace: /proc/sys/net shows the namespace of the thread that opens it.
_SYSCTLS = {
    "/proc/sys/net/ipv4/ip_forward": "1",
    "/proc/sys/net/ipv4/conf/all/rp_filter": "0",
    "/proc/sys/net/ipv4/conf/default/rp_filter": "0",
}


def _configure(pin: Path, service_cidr: str, service_addresses: list[str]) -> None:
    # One `ip -batch` from this thread inside the namespace (the child inherits it): no nsenter, shell and
    # `ip` per line, which cost every `podrun run` about 10 ms.
    commands = [
        "link set lo up",
        *(f"addr replace {address}/32 dev lo" for address in service_addresses),
        f"route replace local {service_cidr} dev lo",
    ]
    with linux.in_netns(pin):
        _run(["ip", "-batch", "-"], stdin="\n".join(commands) + "\n")
        for path, value in _SYSCTLS.items():
            try:
                Path(path).write_text(value + "\n")
            except OSError as e:
                raise NodeNetnsError(f"writing {path} in the node namespace: {e}") from e


def remove(pin: Path) -> None:
    """Destroy the node namespace (and with it every pod's host-side veth); nothing when it is gone."""
    if pin.exists():
        linux.unmount_all_under(pin)
        with contextlib.suppress(FileNotFoundError):
            pin.unlink()


def run_inside(pin: Path, fn: Callable[[], T]) -> T:
    """Call `fn` with the calling thread inside the namespace (call from a worker thread, not the event loop's)."""
    with linux.in_netns(pin):
        return fn()


def socket_inside(pin: Path, family: int, kind: int) -> socket.socket:
    """A socket created inside the namespace; it stays there whatever thread uses it later."""
    return run_inside(pin, lambda: socket.socket(family, kind))


def _run(argv: list[str], stdin: str | None = None) -> None:
    done = subprocess.run(
        argv, input=stdin, capture_output=True, text=True, check=False, env={**os.environ, "LC_ALL": "C"}
    )
    if done.returncode != 0:
        raise NodeNetnsError(f"{' '.join(argv[:2])}: {done.stderr.strip() or done.returncode}")
