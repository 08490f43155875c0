"""The remote-command channel protocols (`v5.channel.k8s.io`, `v4.channel.k8s.io`) over an aiohttp WebSocket.

Every message is binary: one channel byte, then the payload (apimachinery `util/remotecommand/constants.go`).
v4 carries the command's outcome as a JSON `metav1.Status` on the error channel; v5 adds the CLOSE signal,
`[255, channel]`, with which the client half-closes a channel (stdin at EOF). The base64 variants and the
kubelet's own WebSocket port-forward protocol are not implemented: kubectl never uses them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from aiohttp import WSMsgType, web

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
CHANNEL_PROTOCOLS = (V5, V4)  # in the server's order of preference

STDIN = 0
STDOUT = 1
STDERR = 2
ERROR = 3
RESIZE = 4
CLOSE = 255  # v5 only


def is_websocket_request(request: web.BaseRequest) -> bool:
    """True for a WebSocket upgrade request."""
    return request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket"


def offered_subprotocols(request: web.BaseRequest) -> list[str]:
    """The `Sec-WebSocket-Protocol` values, repeated and/or comma-separated, in the client's order."""
    return [p.strip() for value in request.headers.getall("Sec-WebSocket-Protocol", []) for p in value.split(",")
            if p.strip()]  # fmt: skip


def choose_subprotocol(offered: Iterable[str], supported: Sequence[str]) -> str | None:
    """The first of `supported` (server preference) that the client offered."""
    offered_set = set(offered)
    return next((p for p in supported if p in offered_set), None)


class ChannelSocket:
    """A WebSocket speaking the channel protocol: channel-tagged messages both ways."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    @property
    def protocol(self) -> str:
        """The negotiated subprotocol."""
        return self.ws.ws_protocol or ""

    async def write(self, channel: int, data: bytes) -> None:
        """Send `data` on `channel` as one message; `ConnectionError` once the connection is gone."""
        await self.ws.send_bytes(bytes((channel,)) + data)

    async def write_status(self, status: Mapping[str, Any]) -> None:
        """Send the command's outcome, a `metav1.Status`, on the error channel."""
        await self.write(ERROR, json.dumps(status, separators=(",", ":")).encode())

    async def messages(self) -> AsyncIterator[tuple[int, bytes]]:
        """(channel, payload) of every data message from the client until it closes the connection.

        Binary and text messages alike start with the channel byte, as the kubelet reads them (the Python client's
        `write_stdin` sends text); empty messages carry nothing and are skipped; pings are answered by aiohttp.
        """
        async for message in self.ws:
            if message.type == WSMsgType.BINARY and message.data:
                yield message.data[0], message.data[1:]
            elif message.type == WSMsgType.TEXT and message.data:
                data = message.data.encode()
                yield data[0], data[1:]

    async def close(self) -> None:
        """Close normally (code 1000), which the client reads as the end of every channel."""
        await self.ws.close()


async def accept_channels(request: web.BaseRequest, protocol: str) -> ChannelSocket:
    """Complete the WebSocket handshake, echoing `protocol` (without the echo clients fall back to v1 framing)."""
    ws = web.WebSocketResponse(protocols=(protocol,))
    await ws.prepare(request)
    return ChannelSocket(ws)
