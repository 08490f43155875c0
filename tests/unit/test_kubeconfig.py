"""The kubeconfig `podrun serve` writes: its `podrun` entries, and merging them into a user's file as kind does."""

from __future__ import annotations

import base64
import os
import pwd
import stat
from pathlib import Path

import pytest
import yaml

from podrun.api.kubeconfig import (
    build_kubeconfig,
    default_kubeconfig_path,
    install_kubeconfig,
    merge_kubeconfig,
    podrun_entries,
    read_kubeconfig,
    sudo_invoker,
    write_kubeconfig,
)
from podrun.cli.main import main

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _other() -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {"colors": True},
        "clusters": [
            {"name": "prod", "cluster": {"server": "https://prod.example:6443"}},
            {"name": "podrun", "cluster": {"server": "https://127.0.0.1:1111"}},
        ],
        "users": [
            {"name": "prod-admin", "user": {"token": "prod-token"}},
            {"name": "podrun", "user": {"token": "old"}},
        ],
        "contexts": [
            {"name": "prod", "context": {"cluster": "prod", "user": "prod-admin"}},
            {"name": "podrun", "context": {"cluster": "podrun", "user": "podrun"}},
        ],
        "current-context": "prod",
        "extensions": [{"name": "x", "extension": {"a": 1}}],
    }


def test_build() -> None:
    config = build_kubeconfig("https://127.0.0.1:6443", CA, "s3cret")
    assert config == {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": "podrun",
                "cluster": {
                    "server": "https://127.0.0.1:6443",
                    "certificate-authority-data": base64.b64encode(CA).decode(),
                },
            }
        ],
        "users": [{"name": "podrun", "user": {"token": "s3cret"}}],
        "contexts": [{"name": "podrun", "context": {"cluster": "podrun", "user": "podrun", "namespace": "default"}}],
        "current-context": "podrun",
    }


def test_merge_into_nothing_is_ours() -> None:
    ours = build_kubeconfig("https://127.0.0.1:6443", CA, "t")
    assert merge_kubeconfig(None, ours) == ours


def test_merge_replaces_podrun_entries_and_keeps_the_rest() -> None:
    ours = build_kubeconfig("https://127.0.0.1:6443", CA, "new", namespace="apps")
    merged = merge_kubeconfig(_other(), ours)
    assert [c["name"] for c in merged["clusters"]] == ["prod", "podrun"]
    assert merged["clusters"][0] == _other()["clusters"][0]  # type: ignore[index]
    assert merged["clusters"][1]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert merged["users"] == [{"name": "prod-admin", "user": {"token": "prod-token"}}, ours["users"][0]]
    assert merged["contexts"][1]["context"]["namespace"] == "apps"
    assert merged["current-context"] == "podrun"
    assert merged["preferences"] == {"colors": True}
    assert merged["extensions"] == [{"name": "x", "extension": {"a": 1}}]


def test_merge_leaves_its_input_alone() -> None:
    original = _other()
    merge_kubeconfig(original, build_kubeconfig("https://127.0.0.1:6443", CA, "t"))
    assert original == _other()


def test_write_is_private_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "config"
    write_kubeconfig(path, build_kubeconfig("https://127.0.0.1:6443", CA, "t"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert yaml.safe_load(path.read_text())["current-context"] == "podrun"
    assert [p.name for p in path.parent.iterdir()] == ["config"]


def test_install_merges_into_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(_other()))
    os.chmod(path, 0o644)
    assert install_kubeconfig("https://127.0.0.1:7443", CA, "tok", path=path) == path
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "podrun"
    assert [u["name"] for u in config["users"]] == ["prod-admin", "podrun"]
    assert config["users"][1]["user"] == {"token": "tok"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Installing again changes nothing but what is ours.
    install_kubeconfig("https://127.0.0.1:7443", CA, "tok", path=path)
    assert yaml.safe_load(path.read_text()) == config


def test_read(tmp_path: Path) -> None:
    assert read_kubeconfig(tmp_path / "missing") is None
    (tmp_path / "empty").write_text("")
    assert read_kubeconfig(tmp_path / "empty") is None
    (tmp_path / "list").write_text("- a\n")
    with pytest.raises(ValueError, match="not a kubeconfig"):
        read_kubeconfig(tmp_path / "list")


def test_default_path_honours_kubeconfig() -> None:
    environ = {"KUBECONFIG": os.pathsep.join(["", "/first/config", "/second/config"]), "HOME": "/home/u"}
    assert default_kubeconfig_path(environ) == Path("/first/config")


def test_default_path_is_under_home() -> None:
    assert default_kubeconfig_path({"HOME": "/home/u"}) == Path("/home/u/.kube/config")
    assert default_kubeconfig_path({"KUBECONFIG": "", "HOME": "/home/u"}) == Path("/home/u/.kube/config")


def test_under_sudo_the_kubeconfig_is_the_invoking_users() -> None:
    nobody = pwd.getpwnam("nobody")

    path = default_kubeconfig_path({"HOME": "/root", "SUDO_USER": "nobody"}, euid=0)

    assert path == Path(nobody.pw_dir) / ".kube" / "config"


def test_sudo_user_counts_only_when_running_as_root() -> None:
    assert sudo_invoker({"SUDO_USER": "nobody"}, euid=1000) is None
    assert sudo_invoker({"SUDO_USER": "root"}, euid=0) is None


def test_podrun_entries_are_the_podrun_cluster_user_and_context_made_current() -> None:
    entries = podrun_entries(_other())

    assert entries is not None
    assert [entry["name"] for section in ("clusters", "users", "contexts") for entry in entries[section]] == [
        "podrun"
    ] * 3
    assert entries["users"][0]["user"] == {"token": "old"}
    assert entries["current-context"] == "podrun"


def test_a_kubeconfig_without_a_podrun_user_has_no_podrun_entries() -> None:
    config = _other()
    config["users"] = [{"name": "prod-admin", "user": {"token": "prod-token"}}]

    assert podrun_entries(config) is None


def test_without_root_podrun_kubeconfig_prints_what_serve_wrote_for_the_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    written = tmp_path / "config"
    write_kubeconfig(written, _other())
    monkeypatch.setenv("KUBECONFIG", str(written))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)

    status = main(["kubeconfig", "--root", str(tmp_path / "root-only")])

    assert status == 0
    assert yaml.safe_load(capsys.readouterr().out) == podrun_entries(_other())


def test_without_root_or_a_written_kubeconfig_podrun_kubeconfig_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)

    status = main(["kubeconfig", "--root", str(tmp_path / "root-only")])

    assert status == 1
    assert "run `sudo podrun serve` once" in capsys.readouterr().err
