"""What a pull says when it cannot connect to a registry: the connection's failure, as an event shows it, on
127.0.0.1 only. No root needed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from podrun.runtime.images.endpoints import PullError
from podrun.runtime.images.registry import pull_image
from podrun.runtime.images.registry_config import RegistryConfig
from podrun.runtime.images.store import ImageStore
from podrun.runtime.reference import parse


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_registry_that_refuses_the_connection_is_named_without_the_tls_context(tmp_path: Path) -> None:
    port = _closed_port()
    with pytest.raises(PullError) as raised:
        await pull_image(ImageStore(tmp_path), parse(f"127.0.0.1:{port}/app:1"), RegistryConfig(), timeout=5)

    assert raised.value.kind == "unreachable"
    assert f"Cannot connect to host 127.0.0.1:{port} [" in str(raised.value)
    assert "SSLContext" not in str(raised.value)
