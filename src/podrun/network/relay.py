"""TCP relays across the boundary between the host and the node namespace, both ways.

The host never routes to pods (no route_localnet, no DNAT on the host), so a port published on 127.0.0.1
is a userspace relay, as kube-proxy's local node-port proxy is: `Relay` matches each connection accepted on
the host's loopback with one to `target` made inside the node namespace (a pod address, or a Service address
that the node's nftables table balances). `InboundRelay` is the other way round, for servers on the host that
pods must reach (the API server behind the `kubernetes` Service): it listens on an address of the node
namespace and dials the host's loopback. Bytes are piped both ways, passing each side's half-close on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path

from podrun.network import netns

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Piping(ABC):
    """Accepted connections piped to a freshly dialled upstream; subclasses listen and dial."""

    def __init__(self) -> None:
        self._server: asyncio.base_events.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @abstractmethod
    async def _dial(self) -> Streams:
        """A new connection to where this relay leads."""

    async def stop(self) -> None:
        """Stop listening and cut the connections being relayed."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            upstream_reader, upstream_writer = await self._dial()
            try:
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            finally:
                upstream_writer.close()
        except OSError:
            pass  # the target refused or is unreachable: the client sees its connection closed
        finally:
            self._pipes.discard(task)
            writer.close()


class Relay(_Piping):
    """Listens on `host_ip:host_port` (within 127.0.0.0/8) and relays each connection to `target`."""

    def __init__(self, node_netns: Path, host_ip: str, host_port: int, target: tuple[str, int]) -> None:
        if ipaddress.ip_address(host_ip) not in ipaddress.ip_network("127.0.0.0/8"):
            raise ValueError(f"hostIP {host_ip} is not a loopback address: podrun publishes ports on 127.0.0.0/8 only")
        super().__init__()
        self.node_netns, self.host_ip, self.host_port, self.target = node_netns, host_ip, host_port, target

    async def start(self) -> None:
        """Start listening (port 0 picks a free port, then found in `host_port`)."""
        self._server = await asyncio.start_server(self._relay, self.host_ip, self.host_port)
        self.host_port = self._server.sockets[0].getsockname()[1]

    async def _dial(self) -> Streams:
        sock = await asyncio.to_thread(self._connect_inside)
        return await asyncio.open_connection(sock=sock)

    def _connect_inside(self) -> socket.socket:
        sock = netns.socket_inside(self.node_netns, socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(5)
            sock.connect(self.target)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock


class InboundRelay(_Piping):
    """Listens on `address:port` inside the node namespace and relays each connection to `upstream` on the host.

    `address` is put on the namespace's loopback first, so the relay listens before any pod is attached (ptp
    also puts the node's gateway address on every host-side veth; Linux keeps an address on several links).
    """

    def __init__(self, node_netns: Path, address: str, port: int, upstream: tuple[str, int]) -> None:
        super().__init__()
        self.node_netns, self.address, self.port, self.upstream = node_netns, address, port, upstream

    async def start(self) -> None:
        """Start listening (port 0 picks a free port, then found in `port`)."""
        sock = await asyncio.to_thread(self._listen_inside)
        self._server = await asyncio.start_server(self._relay, sock=sock)
        self.port = self._server.sockets[0].getsockname()[1]

    def _listen_inside(self) -> socket.socket:
        def add_address() -> subprocess.CompletedProcess[str]:
            argv = ["ip", "addr", "replace", f"{self.address}/32", "dev", "lo"]
            return subprocess.run(argv, capture_output=True, text=True, check=False)

        done = netns.run_inside(self.node_netns, add_address)
        if done.returncode != 0:
            raise OSError(f"cannot put {self.address} on the node namespace's loopback: {done.stderr.strip()}")
        sock = netns.socket_inside(self.node_netns, socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, self.port))
            sock.listen(64)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    async def _dial(self) -> Streams:
        return await asyncio.open_connection(*self.upstream)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
