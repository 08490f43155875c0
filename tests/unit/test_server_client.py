"""How `podrun timeline` and `podrun dashboard` find `podrun serve`: the kubeconfig's `podrun` context."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from podrun.api.kubeconfig import build_kubeconfig, write_kubeconfig
from podrun.cli.dashboard import dashboard_command
from podrun.cli.server_client import ServerError, podrun_context

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_the_podrun_context_gives_the_server_its_ca_and_token(tmp_path: Path) -> None:
    path = tmp_path / "config"
    write_kubeconfig(path, build_kubeconfig("https://127.0.0.1:6443", CA, "secret"))
    context = podrun_context(path)
    assert (context.server, context.ca_pem, context.token) == ("https://127.0.0.1:6443", CA.decode(), "secret")


def test_a_missing_kubeconfig_says_to_start_the_server(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="start `podrun serve` first"):
        podrun_context(tmp_path / "absent")


def test_a_kubeconfig_without_the_podrun_context_says_so(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nkind: Config\ncontexts: []\nclusters: []\nusers: []\n")
    with pytest.raises(ServerError, match="no usable 'podrun' context"):
        podrun_context(path)


def test_dashboard_without_a_server_prints_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(kubeconfig=tmp_path / "absent", open=False)
    assert dashboard_command(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
