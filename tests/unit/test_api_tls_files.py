"""`podrun serve` has a child process make its TLS files and reads them itself (`podrun.api.tls_files`)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from podrun.api.tls_files import ensure_credentials_in_child, read_credentials, server_context


def test_the_child_makes_the_files_and_the_parent_reads_the_same_credentials(tmp_path: Path) -> None:
    credentials = ensure_credentials_in_child(tmp_path / "pki", hostnames=["node-a"])

    assert credentials == read_credentials(tmp_path / "pki")
    assert len(credentials.token) >= 32
    assert credentials.ca_pem().startswith(b"-----BEGIN CERTIFICATE-----")


def test_a_second_start_keeps_the_token_and_the_ca(tmp_path: Path) -> None:
    first = ensure_credentials_in_child(tmp_path, hostnames=["node-a"])
    ca = first.ca_pem()

    second = ensure_credentials_in_child(tmp_path, hostnames=["node-a"])

    assert second.token == first.token
    assert second.ca_pem() == ca


def test_the_server_context_loads_the_childs_certificate_and_key(tmp_path: Path) -> None:
    context = server_context(ensure_credentials_in_child(tmp_path))

    assert isinstance(context, ssl.SSLContext)


def test_a_child_that_cannot_write_raises_os_error_with_its_message(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    with pytest.raises(OSError, match=r"making the API server's credentials in .* failed"):
        ensure_credentials_in_child(blocker / "pki")
