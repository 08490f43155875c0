"""Fixtures for the protocol tests: podrun's API server in process with a fake node, and the real kubectl.

Nothing here starts a container or needs root.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_harness import MINORS, Server
from kubernetes import client, config


def _serve(tmp_path_factory: pytest.TempPathFactory, minor: int) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp(f"kubectl-1.{minor}"), minor)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server reporting v1.32, so that the dispatcher runs kubectl 1.32."""
    yield from _serve(tmp_path_factory, 32)


@pytest.fixture(scope="module", params=MINORS, ids=lambda minor: f"kubectl-1.{minor}")
def versioned_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server per installed kubectl minor version."""
    yield from _serve(tmp_path_factory, request.param)


@pytest.fixture
def core(server: Server) -> Iterator[client.CoreV1Api]:
    """The official Python client's CoreV1Api, configured from the server's kubeconfig."""
    api = config.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        yield client.CoreV1Api(api)
    finally:
        api.close()
