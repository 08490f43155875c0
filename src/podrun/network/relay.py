"""hostPort and NodePort on the host's loopback: a TCP relay that dials from inside the node namespace.

The host never routes to pods (no route_localnet, no DNAT on the host), so a port published on 127.0.0.1
is a userspace relay, as kube-proxy's local node-port proxy is: each accepted connection is matched with
one to `target` made inside the node namespace (a pod address, or a Service address that the node's
nftables table balances), and bytes are piped both ways, passing each side's half-close on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from pathlib import Path

from podrun.network import netns


class Relay:
    """Listens on `host_ip:host_port` (within 127.0.0.0/8) and relays each connection to `target`."""

    def __init__(self, node_netns: Path, host_ip: str, host_port: int, target: tuple[str, int]) -> None:
        if ipaddress.ip_address(host_ip) not in ipaddress.ip_network("127.0.0.0/8"):
            raise ValueError(f"hostIP {host_ip} is not a loopback address: podrun publishes ports on 127.0.0.0/8 only")
        self.node_netns, self.host_ip, self.host_port, self.target = node_netns, host_ip, host_port, target
        self._server: asyncio.base_events.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Start listening (port 0 picks a free port, then found in `host_port`)."""
        self._server = await asyncio.start_server(self._relay, self.host_ip, self.host_port)
        self.host_port = self._server.sockets[0].getsockname()[1]

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
            sock = await asyncio.to_thread(self._dial)
            upstream_reader, upstream_writer = await asyncio.open_connection(sock=sock)
            try:
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            finally:
                upstream_writer.close()
        except OSError:
            pass  # the target refused or is unreachable: the client sees its connection closed
        finally:
            self._pipes.discard(task)
            writer.close()

    def _dial(self) -> socket.socket:
        sock = netns.socket_inside(self.node_netns, socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(5)
            sock.connect(self.target)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
