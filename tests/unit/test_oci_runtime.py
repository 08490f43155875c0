"""Choosing the OCI runtime: crun where it works, runc on hybrid cgroup hosts, clear errors when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from podrun.runtime import oci_runtime
from podrun.runtime.oci_runtime import MissingTool, cgroup_mode, choose_runtime, find_conmon


def fake_which(available: set[str]):  # type: ignore[no-untyped-def]
    return lambda name: f"/usr/bin/{name}" if name in available else None


@pytest.fixture
def no_sbin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what `shutil.which` reports exists (the real /usr/sbin/runc of the host is hidden)."""
    monkeypatch.setattr(oci_runtime, "_sbin", lambda name: None)


def test_a_unified_cgroup_hierarchy_is_detected(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    assert cgroup_mode(tmp_path) == "unified"


def test_v1_beside_a_cgroup2_mount_with_a_controller_is_hybrid(tmp_path: Path) -> None:
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    assert cgroup_mode(tmp_path) == "hybrid"


def test_v1_with_an_empty_cgroup2_mount_is_legacy(tmp_path: Path) -> None:
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("\n")
    assert cgroup_mode(tmp_path) == "legacy"


def test_crun_is_preferred_where_it_works(monkeypatch: pytest.MonkeyPatch, no_sbin: None) -> None:
    monkeypatch.setattr(oci_runtime.shutil, "which", fake_which({"crun", "runc"}))
    assert choose_runtime("auto", mode="unified").name == "crun"


def test_runc_is_used_on_hybrid_hosts_and_says_why(monkeypatch: pytest.MonkeyPatch, no_sbin: None) -> None:
    monkeypatch.setattr(oci_runtime.shutil, "which", fake_which({"crun", "runc"}))
    chosen = choose_runtime("auto", mode="hybrid")
    assert (chosen.name, chosen.why) == ("runc", "crun does not support cgroups in hybrid mode on this host")


def test_a_missing_runtime_names_the_debian_package(monkeypatch: pytest.MonkeyPatch, no_sbin: None) -> None:
    monkeypatch.setattr(oci_runtime.shutil, "which", fake_which(set()))
    with pytest.raises(MissingTool, match=r"runc is not installed: install the Debian package 'runc'"):
        choose_runtime("auto", mode="hybrid")


def test_asking_for_crun_when_only_runc_is_installed_fails(monkeypatch: pytest.MonkeyPatch, no_sbin: None) -> None:
    monkeypatch.setattr(oci_runtime.shutil, "which", fake_which({"runc"}))
    with pytest.raises(MissingTool, match="apt-get install crun"):
        choose_runtime("crun", mode="unified")


def test_a_missing_conmon_names_the_debian_package(monkeypatch: pytest.MonkeyPatch, no_sbin: None) -> None:
    monkeypatch.setattr(oci_runtime.shutil, "which", fake_which(set()))
    monkeypatch.setattr(oci_runtime, "Path", lambda *a: Path("/nonexistent/conmon"))
    with pytest.raises(MissingTool, match=r"conmon is not installed: install the Debian package 'conmon'"):
        find_conmon()
