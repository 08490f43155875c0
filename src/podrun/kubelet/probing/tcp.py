"""The TCP probe (`pkg/probe/tcp`): a connection that opens is a success."""

from __future__ import annotations

import asyncio

from podrun.kubelet.probing.outcome import ProbeOutcome
from podrun.kubelet.probing.target import Dial, close_writer, dial_error, join_host_port
from podrun.runtime.protocol import RuntimeError_


async def tcp_probe(dial: Dial, host: str, port: int, timeout: float) -> ProbeOutcome:
    """DoTCPProbe: a connection that opens within `timeout` is a success, even if the peer closes it at once."""
    address = join_host_port(host, port)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await dial(host, port)
    except TimeoutError as exc:
        if exc.errno is None:
            return ProbeOutcome("failure", f"dial tcp {address}: i/o timeout")
        return ProbeOutcome("failure", f"dial tcp {address}: {dial_error(exc)}")
    except (OSError, RuntimeError_) as exc:
        return ProbeOutcome("failure", f"dial tcp {address}: {dial_error(exc)}")
    close_writer(writer)
    return ProbeOutcome("success", "")
