"""Pod volumes on disk and container mounts, as the kubelet's volume plugins and makeMounts make them.

Everything happens under pytest's tmp_path. Tests that mount (tmpfs-backed volumes, pinned subPaths) need
root and are skipped otherwise; a fixture unmounts whatever is left under tmp_path, whatever the test did.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podrun.kubelet.env import ContainerConfigError
from podrun.kubelet.volumes import (
    EMPTY_DIR_EVICTION_MESSAGE,
    VolumeSetupError,
    container_mounts,
    empty_dir_usage,
    mounts_etc_hosts,
    read_termination_message,
    setup_pod_volumes,
    size_limit_exceeded,
    teardown_pod_volumes,
    termination_log_mount,
    update_pod_volumes,
)
from podrun.runtime.protocol import Mount
from podrun.services.accounts import api_access_volume

MiB = 1024**2
GiB = 1024**3
TS_DIR = re.compile(r"^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d+$")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def mounts_under(root: Path) -> list[str]:
    """Mount points at or under `root`, read straight from the kernel (not through the code under test)."""
    prefix = os.path.realpath(root)
    found = []
    with open("/proc/self/mountinfo") as file:
        for line in file:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def fstype_of(path: Path) -> str | None:
    """The type of the topmost filesystem mounted exactly at `path`."""
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as file:
        fields = [line.split() for line in file]
    matches = [parts[parts.index("-") + 1] for parts in fields if parts[4] == target]
    return matches[-1] if matches else None


def tmpfs_size(path: Path) -> int:
    info = os.statvfs(path)
    return info.f_blocks * info.f_frsize


@pytest.fixture(autouse=True)
def no_mounts_left(tmp_path: Path) -> Iterator[None]:
    yield
    for point in sorted(mounts_under(tmp_path), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    assert mounts_under(tmp_path) == []


@pytest.fixture
def pod_dir(tmp_path: Path) -> Path:
    return tmp_path / "pods" / "uid-1"


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


class Store:
    """ConfigMaps, Secrets and service account tokens, as the kubelet's managers give them."""

    def __init__(self) -> None:
        self.configmaps: dict[str, dict[str, Any]] = {
            "cm": {"data": {"a": "A", "b": "B"}, "binaryData": {"bin": b64(b"\x00\x01")}},
        }
        self.secrets: dict[str, dict[str, Any]] = {"s": {"data": {"pw": b64(b"hunter2"), "user": b64(b"me")}}}
        self.token: str | None = "opaque-token"
        self.token_requests: list[tuple[str | None, int]] = []

    def get_configmap(self, name: str) -> dict[str, Any] | None:
        return self.configmaps.get(name)

    def get_secret(self, name: str) -> dict[str, Any] | None:
        return self.secrets.get(name)

    def get_token(self, audience: str | None, expiration_seconds: int) -> str | None:
        self.token_requests.append((audience, expiration_seconds))
        return self.token


@pytest.fixture
def store() -> Store:
    return Store()


def make_pod(*volumes: dict[str, Any], containers: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "shop", "uid": "uid-1", "labels": {"app": "web", "tier": "a"}},
        "spec": {"containers": containers or [{"name": "c"}], "volumes": list(volumes), **spec},
    }


def setup(pod: dict[str, Any], pod_dir: Path, store: Store, memory: int = GiB, **kwargs: Any) -> dict[str, Path]:
    return setup_pod_volumes(
        pod,
        pod_dir,
        get_configmap=store.get_configmap,
        get_secret=store.get_secret,
        get_token=store.get_token,
        node_allocatable_memory=memory,
        **kwargs,
    )


def update(pod: dict[str, Any], pod_dir: Path, store: Store) -> Any:
    return update_pod_volumes(
        pod,
        pod_dir,
        get_configmap=store.get_configmap,
        get_secret=store.get_secret,
        get_token=store.get_token,
        node_allocatable_memory=GiB,
    )


def setup_error(pod: dict[str, Any], pod_dir: Path, store: Store) -> VolumeSetupError:
    with pytest.raises(VolumeSetupError) as caught:
        setup(pod, pod_dir, store)
    return caught.value


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def configmap_volume(**source: Any) -> dict[str, Any]:
    return {"name": "cfg", "configMap": {"name": "cm", "defaultMode": 0o644, **source}}


# --- layout and emptyDir --------------------------------------------------------------------------------


def test_pod_directories_are_created_0750(pod_dir: Path, store: Store) -> None:
    setup(make_pod(), pod_dir, store)
    assert [mode_of(pod_dir / name) for name in (".", "volumes", "plugins")] == [0o750, 0o750, 0o750]


def test_empty_dir_is_a_world_writable_directory_under_its_plugin_dir(pod_dir: Path, store: Store) -> None:
    paths = setup(make_pod({"name": "cache", "emptyDir": {}}), pod_dir, store)
    assert paths == {"cache": pod_dir / "volumes" / "kubernetes.io~empty-dir" / "cache"}
    assert mode_of(paths["cache"]) == 0o777


def test_volume_without_a_source_is_an_empty_dir(pod_dir: Path, store: Store) -> None:
    paths = setup(make_pod({"name": "scratch"}), pod_dir, store)
    assert paths["scratch"].parent.name == "kubernetes.io~empty-dir"


def test_setup_again_keeps_empty_dir_content(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {}})
    (setup(pod, pod_dir, store)["cache"] / "kept").write_text("x")
    assert (setup(pod, pod_dir, store)["cache"] / "kept").read_text() == "x"


def test_empty_dir_with_an_unknown_medium_fails(pod_dir: Path, store: Store) -> None:
    error = setup_error(make_pod({"name": "huge", "emptyDir": {"medium": "HugePages"}}), pod_dir, store)
    assert (error.volume, error.message) == ("huge", 'unknown storage medium "HugePages"')


def test_unsupported_volume_type_fails_as_no_plugin_matched(pod_dir: Path, store: Store) -> None:
    error = setup_error(make_pod({"name": "data", "persistentVolumeClaim": {"claimName": "x"}}), pod_dir, store)
    assert (error.volume, error.message) == ("data", "no volume plugin matched")


@needs_root
def test_memory_empty_dir_is_a_tmpfs_of_its_size_limit(pod_dir: Path, store: Store) -> None:
    paths = setup(make_pod({"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}), pod_dir, store)
    assert (fstype_of(paths["mem"]), tmpfs_size(paths["mem"])) == ("tmpfs", 8 * MiB)


@needs_root
def test_memory_empty_dir_is_capped_by_the_pod_memory_limit(pod_dir: Path, store: Store) -> None:
    containers = [{"name": "a", "resources": {"limits": {"memory": "16Mi"}}}]
    pod = make_pod({"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}, containers=containers)
    assert tmpfs_size(setup(pod, pod_dir, store)["mem"]) == 16 * MiB


@needs_root
def test_memory_empty_dir_counts_sidecars_and_the_largest_init_container(pod_dir: Path, store: Store) -> None:
    containers = [{"name": "a", "resources": {"limits": {"memory": "16Mi"}}}]
    init = [
        {"name": "side", "restartPolicy": "Always", "resources": {"limits": {"memory": "8Mi"}}},
        {"name": "init", "resources": {"limits": {"memory": "20Mi"}}},
    ]
    pod = make_pod({"name": "mem", "emptyDir": {"medium": "Memory"}}, containers=containers, initContainers=init)
    # The init container runs beside the sidecar: 20Mi + 8Mi beats 16Mi + 8Mi.
    assert tmpfs_size(setup(pod, pod_dir, store)["mem"]) == 28 * MiB


@needs_root
def test_memory_empty_dir_is_node_allocatable_when_a_container_has_no_limit(pod_dir: Path, store: Store) -> None:
    containers: list[dict[str, Any]] = [{"name": "a", "resources": {"limits": {"memory": "16Mi"}}}, {"name": "b"}]
    pod = make_pod({"name": "mem", "emptyDir": {"medium": "Memory"}}, containers=containers)
    assert tmpfs_size(setup(pod, pod_dir, store, memory=64 * MiB)["mem"]) == 64 * MiB


@needs_root
def test_memory_empty_dir_is_mounted_once(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "mem", "emptyDir": {"medium": "Memory"}})
    setup(pod, pod_dir, store)
    setup(pod, pod_dir, store)
    assert len(mounts_under(pod_dir)) == 1


@needs_root
def test_memory_empty_dir_root_keeps_the_tmpfs_sticky_bit(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "mem", "emptyDir": {"medium": "Memory"}})
    setup(pod, pod_dir, store)
    assert mode_of(setup(pod, pod_dir, store)["mem"]) == 0o1777


# --- hostPath -------------------------------------------------------------------------------------------


def host_path(path: Path | str, kind: str = "") -> dict[str, Any]:
    return {"name": "host", "hostPath": {"path": str(path), "type": kind}}


def test_host_path_is_used_in_place(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    assert setup(make_pod(host_path(tmp_path / "elsewhere")), pod_dir, store) == {"host": tmp_path / "elsewhere"}


def test_host_path_without_type_is_not_checked(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    setup(make_pod(host_path(tmp_path / "missing")), pod_dir, store)
    assert not (tmp_path / "missing").exists()


def test_host_path_with_backsteps_fails(pod_dir: Path, store: Store) -> None:
    error = setup_error(make_pod(host_path("/var/../etc", "Directory")), pod_dir, store)
    assert error.message == "invalid HostPath `/var/../etc`: must not contain '..'"


def test_directory_or_create_makes_missing_directories_0755(
    pod_dir: Path, store: Store, tmp_path: Path, umask_022: None
) -> None:
    target = tmp_path / "made" / "here"
    setup(make_pod(host_path(target, "DirectoryOrCreate")), pod_dir, store)
    assert (mode_of(target.parent), mode_of(target)) == (0o755, 0o755)


def test_directory_or_create_keeps_an_existing_directory(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(0o700)
    setup(make_pod(host_path(tmp_path / "d", "DirectoryOrCreate")), pod_dir, store)
    assert mode_of(tmp_path / "d") == 0o700


def test_directory_or_create_on_a_file_fails(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    error = setup_error(make_pod(host_path(tmp_path / "f", "DirectoryOrCreate")), pod_dir, store)
    assert error.message == f"hostPath type check failed: {tmp_path / 'f'} is not a directory"


def test_directory_that_is_missing_fails(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    error = setup_error(make_pod(host_path(tmp_path / "nope", "Directory")), pod_dir, store)
    assert error.message == f"hostPath type check failed: {tmp_path / 'nope'} is not a directory"


def test_file_or_create_makes_an_empty_0644_file(pod_dir: Path, store: Store, tmp_path: Path, umask_022: None) -> None:
    setup(make_pod(host_path(tmp_path / "new.txt", "FileOrCreate")), pod_dir, store)
    assert ((tmp_path / "new.txt").read_bytes(), mode_of(tmp_path / "new.txt")) == (b"", 0o644)


def test_file_or_create_does_not_create_the_parent(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    target = tmp_path / "no-parent" / "f"
    error = setup_error(make_pod(host_path(target, "FileOrCreate")), pod_dir, store)
    assert error.message == f"open {target}: no such file or directory"


def test_file_that_is_a_directory_fails(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    error = setup_error(make_pod(host_path(tmp_path, "File")), pod_dir, store)
    assert error.message == f"hostPath type check failed: {tmp_path} is not a file"


def test_socket_type_accepts_a_socket(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.sock"))
        assert setup(make_pod(host_path(tmp_path / "s.sock", "Socket")), pod_dir, store)["host"].is_socket()


def test_socket_type_rejects_a_regular_file(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    error = setup_error(make_pod(host_path(tmp_path / "f", "Socket")), pod_dir, store)
    assert error.message == f"hostPath type check failed: {tmp_path / 'f'} is not a socket file"


def test_char_device_type_accepts_dev_null(pod_dir: Path, store: Store) -> None:
    assert setup(make_pod(host_path("/dev/null", "CharDevice")), pod_dir, store) == {"host": Path("/dev/null")}


def test_block_device_type_rejects_a_character_device(pod_dir: Path, store: Store) -> None:
    error = setup_error(make_pod(host_path("/dev/null", "BlockDevice")), pod_dir, store)
    assert error.message == "hostPath type check failed: /dev/null is not a block device"


def test_unknown_host_path_type_fails(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    error = setup_error(make_pod(host_path(tmp_path, "Folder")), pod_dir, store)
    assert error.message == "Folder is an invalid volume type"


# --- configMap and the atomic writer --------------------------------------------------------------------


def test_configmap_keys_are_links_into_the_data_directory(pod_dir: Path, store: Store) -> None:
    path = setup(make_pod(configmap_volume()), pod_dir, store)["cfg"]
    assert path == pod_dir / "volumes" / "kubernetes.io~configmap" / "cfg"
    assert TS_DIR.match(os.readlink(path / "..data"))
    assert {name: os.readlink(path / name) for name in ("a", "b", "bin")} == {
        "a": "..data/a",
        "b": "..data/b",
        "bin": "..data/bin",
    }


def test_configmap_data_and_binary_data_become_file_content(pod_dir: Path, store: Store) -> None:
    path = setup(make_pod(configmap_volume()), pod_dir, store)["cfg"]
    assert ((path / "a").read_text(), (path / "bin").read_bytes()) == ("A", b"\x00\x01")


def test_configmap_volume_modes(pod_dir: Path, store: Store) -> None:
    path = setup(make_pod(configmap_volume()), pod_dir, store)["cfg"]
    ts_dir = path / os.readlink(path / "..data")
    assert (mode_of(path), mode_of(ts_dir), mode_of(ts_dir / "a")) == (0o777, 0o755, 0o644)


def test_configmap_default_mode_applies_to_every_file(pod_dir: Path, store: Store) -> None:
    path = setup(make_pod(configmap_volume(defaultMode=0o400)), pod_dir, store)["cfg"]
    assert mode_of((path / "a").resolve()) == 0o400


def test_configmap_items_choose_keys_paths_and_modes(pod_dir: Path, store: Store) -> None:
    items = [{"key": "a", "path": "conf/app/a.txt", "mode": 0o600}, {"key": "b", "path": "b.txt"}]
    path = setup(make_pod(configmap_volume(items=items)), pod_dir, store)["cfg"]
    assert sorted(name for name in os.listdir(path) if not name.startswith("..")) == ["b.txt", "conf"]
    assert os.readlink(path / "conf") == "..data/conf"
    assert (path / "conf/app/a.txt").read_text() == "A"
    assert (mode_of((path / "conf/app/a.txt").resolve()), mode_of((path / "b.txt").resolve())) == (0o600, 0o644)


def test_configmap_item_with_a_missing_key_fails(pod_dir: Path, store: Store) -> None:
    error = setup_error(make_pod(configmap_volume(items=[{"key": "zz", "path": "zz"}])), pod_dir, store)
    assert (error.volume, error.message) == ("cfg", "configmap references non-existent config key: zz")


def test_optional_configmap_item_with_a_missing_key_is_skipped(pod_dir: Path, store: Store) -> None:
    items = [{"key": "zz", "path": "zz"}, {"key": "a", "path": "a"}]
    path = setup(make_pod(configmap_volume(items=items, optional=True)), pod_dir, store)["cfg"]
    assert sorted(name for name in os.listdir(path) if not name.startswith("..")) == ["a"]


def test_missing_configmap_fails_with_not_found(pod_dir: Path, store: Store) -> None:
    error = setup_error(make_pod(configmap_volume(name="gone")), pod_dir, store)
    assert error.message == 'configmap "gone" not found'


def test_missing_optional_configmap_gives_an_empty_volume(pod_dir: Path, store: Store) -> None:
    path = setup(make_pod(configmap_volume(name="gone", optional=True)), pod_dir, store)["cfg"]
    assert [name for name in os.listdir(path) if not name.startswith("..")] == []
    assert (path / "..data").is_dir()


def test_volume_without_default_mode_fails(pod_dir: Path, store: Store) -> None:
    error = setup_error(make_pod({"name": "cfg", "configMap": {"name": "cm"}}), pod_dir, store)
    assert error.message == "no defaultMode used, not even the default value for it"


def test_item_path_starting_with_two_dots_fails(pod_dir: Path, store: Store) -> None:
    error = setup_error(make_pod(configmap_volume(items=[{"key": "a", "path": "..a"}])), pod_dir, store)
    assert error.message == "invalid path: must not start with '..': ..a"


def test_update_without_change_writes_nothing(pod_dir: Path, store: Store) -> None:
    pod = make_pod(configmap_volume())
    path = setup(pod, pod_dir, store)["cfg"]
    before = os.readlink(path / "..data")
    result = update(pod, pod_dir, store)
    assert (result.changed, result.errors, os.readlink(path / "..data")) == ([], [], before)


def test_update_swaps_in_changed_content_and_removes_the_old_directory(pod_dir: Path, store: Store) -> None:
    pod = make_pod(configmap_volume())
    path = setup(pod, pod_dir, store)["cfg"]
    before = os.readlink(path / "..data")
    store.configmaps["cm"]["data"]["a"] = "A2"
    assert update(pod, pod_dir, store).changed == ["cfg"]
    assert (path / "a").read_text() == "A2"
    assert os.readlink(path / "..data") != before
    assert not (path / before).exists()


def test_update_removes_the_link_of_a_deleted_key(pod_dir: Path, store: Store) -> None:
    pod = make_pod(configmap_volume())
    path = setup(pod, pod_dir, store)["cfg"]
    del store.configmaps["cm"]["data"]["b"]
    update(pod, pod_dir, store)
    assert not os.path.lexists(path / "b")


def test_update_adds_a_link_for_a_new_key(pod_dir: Path, store: Store) -> None:
    pod = make_pod(configmap_volume())
    path = setup(pod, pod_dir, store)["cfg"]
    store.configmaps["cm"]["data"]["c"] = "C"
    update(pod, pod_dir, store)
    assert (os.readlink(path / "c"), (path / "c").read_text()) == ("..data/c", "C")


def test_update_keeps_content_and_reports_when_the_configmap_is_gone(pod_dir: Path, store: Store) -> None:
    pod = make_pod(configmap_volume())
    path = setup(pod, pod_dir, store)["cfg"]
    del store.configmaps["cm"]
    result = update(pod, pod_dir, store)
    assert [(error.volume, error.message) for error in result.errors] == [("cfg", 'configmap "cm" not found')]
    assert (path / "a").read_text() == "A"


def test_update_leaves_empty_dirs_alone(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {}})
    setup(pod, pod_dir, store)
    assert update(pod, pod_dir, store).changed == []


def test_update_restores_a_missing_user_visible_link(pod_dir: Path, store: Store) -> None:
    pod = make_pod(configmap_volume())
    path = setup(pod, pod_dir, store)["cfg"]
    (path / "a").unlink()
    assert update(pod, pod_dir, store).changed == []
    assert (path / "a").read_text() == "A"


# --- secret, downwardAPI, projected ---------------------------------------------------------------------


def secret_volume(**source: Any) -> dict[str, Any]:
    return {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o644, **source}}


@needs_root
def test_secret_volume_is_a_tmpfs_with_decoded_files(pod_dir: Path, store: Store) -> None:
    path = setup(make_pod(secret_volume()), pod_dir, store)["sec"]
    assert path == pod_dir / "volumes" / "kubernetes.io~secret" / "sec"
    assert fstype_of(path) == "tmpfs"
    assert ((path / "pw").read_text(), os.readlink(path / "pw")) == ("hunter2", "..data/pw")


@needs_root
def test_secret_items_choose_keys_and_modes(pod_dir: Path, store: Store) -> None:
    path = setup(make_pod(secret_volume(items=[{"key": "pw", "path": "p", "mode": 0o400}])), pod_dir, store)["sec"]
    assert sorted(name for name in os.listdir(path) if not name.startswith("..")) == ["p"]
    assert mode_of((path / "p").resolve()) == 0o400


def test_secret_item_with_a_missing_key_fails(pod_dir: Path, store: Store) -> None:
    error = setup_error(make_pod(secret_volume(items=[{"key": "zz", "path": "zz"}])), pod_dir, store)
    assert error.message == "references non-existent secret key: zz"


def test_missing_secret_fails_before_anything_is_mounted(pod_dir: Path, store: Store) -> None:
    error = setup_error(make_pod(secret_volume(secretName="gone")), pod_dir, store)
    assert (error.message, mounts_under(pod_dir)) == ('secret "gone" not found', [])


@needs_root
def test_secret_update_rewrites_changed_content(pod_dir: Path, store: Store) -> None:
    pod = make_pod(secret_volume())
    path = setup(pod, pod_dir, store)["sec"]
    store.secrets["s"]["data"]["pw"] = b64(b"new")
    assert (update(pod, pod_dir, store).changed, (path / "pw").read_text()) == (["sec"], "new")


def downward_volume(*items: dict[str, Any]) -> dict[str, Any]:
    return {"name": "info", "downwardAPI": {"defaultMode": 0o644, "items": list(items)}}


def field_item(path: str, field_path: str) -> dict[str, Any]:
    return {"path": path, "fieldRef": {"apiVersion": "v1", "fieldPath": field_path}}


@needs_root
def test_downward_api_files_hold_pod_fields(pod_dir: Path, store: Store) -> None:
    volume = downward_volume(field_item("name", "metadata.name"), field_item("labels", "metadata.labels"))
    path = setup(make_pod(volume), pod_dir, store)["info"]
    assert path.parent.name == "kubernetes.io~downward-api"
    assert fstype_of(path) == "tmpfs"
    assert ((path / "name").read_text(), (path / "labels").read_text()) == ("web", 'app="web"\ntier="a"')


@needs_root
def test_downward_api_resource_file_uses_node_allocatable_for_an_unset_limit(pod_dir: Path, store: Store) -> None:
    ref = {"containerName": "c", "resource": "limits.cpu", "divisor": "1m"}
    pod = make_pod(downward_volume({"path": "cpu", "resourceFieldRef": ref}))
    path = setup(pod, pod_dir, store, node_allocatable={"cpu": 2000})["info"]
    assert (path / "cpu").read_text() == "2000"


@needs_root
def test_downward_api_labels_are_rewritten_when_they_change(pod_dir: Path, store: Store) -> None:
    pod = make_pod(downward_volume(field_item("labels", "metadata.labels")))
    path = setup(pod, pod_dir, store)["info"]
    pod["metadata"]["labels"]["tier"] = "b"
    assert (update(pod, pod_dir, store).changed, (path / "labels").read_text()) == (["info"], 'app="web"\ntier="b"')


def test_downward_api_field_errors_are_aggregated(pod_dir: Path, store: Store) -> None:
    volume = downward_volume(field_item("x", "spec.nodeName"), field_item("y", "status.phase"))
    error = setup_error(make_pod(volume), pod_dir, store)
    assert error.message == "[unsupported fieldPath: spec.nodeName, unsupported fieldPath: status.phase]"


def projected_volume(*sources: dict[str, Any]) -> dict[str, Any]:
    return {"name": "all", "projected": {"defaultMode": 0o644, "sources": list(sources)}}


@needs_root
def test_projected_volume_merges_its_sources(pod_dir: Path, store: Store) -> None:
    volume = projected_volume(
        {"configMap": {"name": "cm", "items": [{"key": "a", "path": "cfg/a"}]}},
        {"secret": {"name": "s", "items": [{"key": "pw", "path": "pw", "mode": 0o400}]}},
        {"downwardAPI": {"items": [field_item("name", "metadata.name")]}},
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
    )
    path = setup(make_pod(volume), pod_dir, store)["all"]
    assert path.parent.name == "kubernetes.io~projected"
    assert fstype_of(path) == "tmpfs"
    assert sorted(name for name in os.listdir(path) if not name.startswith("..")) == ["cfg", "name", "pw", "token"]
    assert ((path / "cfg/a").read_text(), (path / "pw").read_text(), (path / "name").read_text()) == (
        "A",
        "hunter2",
        "web",
    )
    assert mode_of((path / "pw").resolve()) == 0o400


@needs_root
def test_a_token_projection_writes_the_hosts_token_with_the_volumes_default_mode(pod_dir: Path, store: Store) -> None:
    volume = projected_volume({"serviceAccountToken": {"path": "sa/token", "expirationSeconds": 7200, "audience": "x"}})
    path = setup(make_pod(volume), pod_dir, store)["all"]
    assert (path / "sa/token").read_text() == "opaque-token"
    assert mode_of((path / "sa/token").resolve()) == 0o644
    assert store.token_requests == [("x", 7200)]


@needs_root
def test_the_kube_api_access_volume_holds_token_ca_and_namespace(pod_dir: Path, store: Store) -> None:
    store.configmaps["kube-root-ca.crt"] = {"data": {"ca.crt": "PEM"}}
    path = setup(make_pod(api_access_volume("kube-api-access-abcde")), pod_dir, store)["kube-api-access-abcde"]
    files = {name: (path / name).read_text() for name in ("token", "ca.crt", "namespace")}
    assert files == {"token": "opaque-token", "ca.crt": "PEM", "namespace": "shop"}
    assert {mode_of((path / name).resolve()) for name in files} == {0o644}
    assert store.token_requests == [(None, 3607)]


@needs_root
def test_an_unchanged_token_leaves_the_volume_as_it_is(pod_dir: Path, store: Store) -> None:
    pod = make_pod(projected_volume({"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}))
    setup(pod, pod_dir, store)
    assert update(pod, pod_dir, store).changed == []
    store.token = "rotated"
    assert update(pod, pod_dir, store).changed == ["all"]


def test_projected_source_errors_are_aggregated(pod_dir: Path, store: Store) -> None:
    volume = projected_volume({"configMap": {"name": "gone"}}, {"secret": {"name": "lost"}})
    error = setup_error(make_pod(volume), pod_dir, store)
    assert error.message == '[configmap "gone" not found, secret "lost" not found]'


def test_a_token_the_host_cannot_issue_fails_the_mount(pod_dir: Path, store: Store) -> None:
    store.token = None
    pod = make_pod(projected_volume({"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}))
    pod["spec"]["serviceAccountName"] = "robot"
    error = setup_error(pod, pod_dir, store)
    assert error.message == "failed to fetch token: no token issued for service account shop/robot"


# --- teardown -------------------------------------------------------------------------------------------


@needs_root
def test_teardown_unmounts_every_tmpfs_and_removes_the_pod_dir(pod_dir: Path, store: Store) -> None:
    setup(make_pod(secret_volume(), {"name": "mem", "emptyDir": {"medium": "Memory"}}), pod_dir, store)
    assert len(mounts_under(pod_dir)) == 2
    teardown_pod_volumes(pod_dir)
    assert (mounts_under(pod_dir), pod_dir.exists()) == ([], False)


@needs_root
def test_teardown_detaches_a_busy_mount(pod_dir: Path, store: Store) -> None:
    path = setup(make_pod({"name": "mem", "emptyDir": {"medium": "Memory"}}), pod_dir, store)["mem"]
    with open(path / "open-file", "w"):
        teardown_pod_volumes(pod_dir)
        assert (mounts_under(pod_dir), pod_dir.exists()) == ([], False)


def test_teardown_of_a_pod_dir_that_does_not_exist_does_nothing(pod_dir: Path) -> None:
    teardown_pod_volumes(pod_dir)
    assert not pod_dir.exists()


def test_teardown_removes_a_disk_only_pod_dir(pod_dir: Path, store: Store) -> None:
    setup(make_pod(configmap_volume(), {"name": "cache", "emptyDir": {}}), pod_dir, store)
    teardown_pod_volumes(pod_dir)
    assert not pod_dir.exists()


# --- container mounts -----------------------------------------------------------------------------------


def mounts_for(
    pod: dict[str, Any], pod_dir: Path, store: Store, mounts: list[dict[str, Any]], env: dict[str, str] | None = None
) -> list[Mount]:
    paths = setup(pod, pod_dir, store)
    container = {"name": "app", "volumeMounts": mounts}
    return container_mounts(pod, container, paths, pod_dir=pod_dir, env=env or {})


def mount_error(pod: dict[str, Any], pod_dir: Path, store: Store, mounts: list[dict[str, Any]], **env: str) -> str:
    with pytest.raises(ContainerConfigError) as caught:
        mounts_for(pod, pod_dir, store, mounts, env)
    return caught.value.message


def test_mounts_bind_the_volume_directory_in_order(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {}}, configmap_volume())
    mounts = mounts_for(
        pod, pod_dir, store, [{"name": "cfg", "mountPath": "/etc/app"}, {"name": "cache", "mountPath": "/c"}]
    )
    assert mounts == [
        Mount("/etc/app", str(pod_dir / "volumes/kubernetes.io~configmap/cfg"), readonly=True),
        Mount("/c", str(pod_dir / "volumes/kubernetes.io~empty-dir/cache"), readonly=False),
    ]


def test_mount_read_only_flag_is_honoured(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {}})
    assert mounts_for(pod, pod_dir, store, [{"name": "cache", "mountPath": "/c", "readOnly": True}])[0].readonly


def test_host_path_mounts_are_writable(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    mount = mounts_for(make_pod(host_path(tmp_path)), pod_dir, store, [{"name": "host", "mountPath": "/h"}])[0]
    assert (mount.host_path, mount.readonly) == (str(tmp_path), False)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(None, "private"), ("None", "private"), ("HostToContainer", "rslave"), ("Bidirectional", "rshared")],
)
def test_mount_propagation_is_translated(pod_dir: Path, store: Store, mode: str | None, expected: str) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {}})
    mount = {"name": "cache", "mountPath": "/c", "mountPropagation": mode}
    assert mounts_for(pod, pod_dir, store, [mount])[0].propagation == expected


def test_mount_of_an_unknown_volume_fails(pod_dir: Path, store: Store) -> None:
    message = mount_error(make_pod(), pod_dir, store, [{"name": "ghost", "mountPath": "/g"}])
    assert message == 'cannot find volume "ghost" to mount into container "app"'


def test_absolute_sub_path_fails(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {}})
    message = mount_error(pod, pod_dir, store, [{"name": "cache", "mountPath": "/c", "subPath": "/etc"}])
    assert message == "error SubPath `/etc` must not be an absolute path"


def test_sub_path_with_backsteps_fails(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {}})
    message = mount_error(pod, pod_dir, store, [{"name": "cache", "mountPath": "/c", "subPath": "a/../../b"}])
    assert message == "unable to provision SubPath `a/../../b`: must not contain '..'"


@needs_root
def test_sub_path_is_created_with_the_volume_permissions_and_pinned(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {}})
    mount = mounts_for(pod, pod_dir, store, [{"name": "cache", "mountPath": "/c", "subPath": "a/b"}])[0]
    volume = pod_dir / "volumes/kubernetes.io~empty-dir/cache"
    assert (mode_of(volume / "a"), mode_of(volume / "a/b")) == (0o777, 0o777)
    assert mount.host_path == str(pod_dir / "volume-subpaths/cache/app/0")
    Path(mount.host_path, "through-the-pin").write_text("x")
    assert (volume / "a/b/through-the-pin").read_text() == "x"


@needs_root
def test_sub_path_to_a_configmap_key_pins_the_file(pod_dir: Path, store: Store) -> None:
    mount = mounts_for(
        make_pod(configmap_volume()), pod_dir, store, [{"name": "cfg", "mountPath": "/a", "subPath": "a"}]
    )[0]
    assert (Path(mount.host_path).read_text(), mount.readonly) == ("A", True)


@needs_root
def test_sub_path_pin_is_reused_by_the_next_container_instance(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {}})
    spec = [{"name": "cache", "mountPath": "/c", "subPath": "d"}]
    first = mounts_for(pod, pod_dir, store, spec)
    assert mounts_for(pod, pod_dir, store, spec) == first
    assert len(mounts_under(pod_dir / "volume-subpaths")) == 1


def test_sub_path_escaping_through_a_symlink_fails(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    pod = make_pod({"name": "cache", "emptyDir": {}})
    paths = setup(pod, pod_dir, store)
    (paths["cache"] / "link").symlink_to(tmp_path / "outside")
    container = {"name": "app", "volumeMounts": [{"name": "cache", "mountPath": "/c", "subPath": "link"}]}
    with pytest.raises(ContainerConfigError) as caught:
        container_mounts(pod, container, paths, pod_dir=pod_dir, env={})
    assert caught.value.message == 'failed to prepare subPath for volumeMount "cache" of container "app"'


def test_sub_path_is_not_created_through_an_escaping_symlink(pod_dir: Path, store: Store, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    pod = make_pod({"name": "cache", "emptyDir": {}})
    paths = setup(pod, pod_dir, store)
    (paths["cache"] / "link").symlink_to(tmp_path / "outside")
    container = {"name": "app", "volumeMounts": [{"name": "cache", "mountPath": "/c", "subPath": "link/new"}]}
    with pytest.raises(ContainerConfigError) as caught:
        container_mounts(pod, container, paths, pod_dir=pod_dir, env={})
    assert caught.value.message == 'failed to create subPath directory for volumeMount "cache" of container "app"'
    assert not (tmp_path / "outside" / "new").exists()


@needs_root
def test_sub_path_expr_is_expanded_from_the_container_env(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {}})
    mounts = [{"name": "cache", "mountPath": "/c", "subPathExpr": "logs/$(POD_NAME)"}]
    mounts_for(pod, pod_dir, store, mounts, {"POD_NAME": "web-1"})
    assert (pod_dir / "volumes/kubernetes.io~empty-dir/cache/logs/web-1").is_dir()


def test_sub_path_expr_with_unset_or_empty_vars_fails(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {}})
    mounts = [{"name": "cache", "mountPath": "/c", "subPathExpr": "$(B)/$(A)/$(C)"}]
    assert mount_error(pod, pod_dir, store, mounts, C="set", A="") == "missing value for A, B"


def test_container_mounting_etc_hosts_is_detected() -> None:
    assert mounts_etc_hosts({"name": "c", "volumeMounts": [{"name": "h", "mountPath": "/etc/hosts"}]})


def test_container_without_an_etc_hosts_mount_is_detected() -> None:
    assert not mounts_etc_hosts({"name": "c", "volumeMounts": [{"name": "h", "mountPath": "/etc/hostname"}]})


# --- termination log ------------------------------------------------------------------------------------


def test_termination_log_is_a_new_0666_file_per_container_instance(pod_dir: Path) -> None:
    container = {"name": "app", "terminationMessagePath": "/dev/termination-log"}
    first = termination_log_mount(pod_dir, container)
    second = termination_log_mount(pod_dir, container)
    assert first.container_path == "/dev/termination-log"
    assert Path(first.host_path).parent == pod_dir / "containers" / "app"
    assert re.fullmatch(r"[0-9a-f]{8}", Path(first.host_path).name)
    assert first.host_path != second.host_path
    assert (mode_of(Path(first.host_path)), Path(first.host_path).read_bytes()) == (0o666, b"")


def test_termination_log_honours_a_custom_path(pod_dir: Path) -> None:
    mount = termination_log_mount(pod_dir, {"name": "app", "terminationMessagePath": "/tmp/why"})
    assert (mount.container_path, mount.readonly) == ("/tmp/why", False)


def test_termination_message_is_read_back(tmp_path: Path) -> None:
    (tmp_path / "log").write_text("bye")
    assert read_termination_message(tmp_path / "log") == "bye"


def test_termination_message_keeps_the_last_bytes(tmp_path: Path) -> None:
    (tmp_path / "log").write_text("a" * 5000 + "END")
    message = read_termination_message(tmp_path / "log")
    assert (len(message), message[-3:]) == (4096, "END")


def test_missing_termination_log_is_an_empty_message(tmp_path: Path) -> None:
    assert read_termination_message(tmp_path / "absent") == ""


def test_termination_message_replaces_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "log").write_bytes(b"ok\xff")
    assert read_termination_message(tmp_path / "log") == "ok\ufffd"


def test_unreadable_termination_log_gives_the_kubelet_error(tmp_path: Path) -> None:
    message = read_termination_message(tmp_path)
    assert message.startswith(f"Error on reading termination log {tmp_path}: ")


# --- emptyDir usage and sizeLimit -----------------------------------------------------------------------


def test_empty_dir_usage_counts_allocated_blocks(tmp_path: Path) -> None:
    before = empty_dir_usage(tmp_path)
    (tmp_path / "f").write_bytes(os.urandom(64 * 1024))
    assert empty_dir_usage(tmp_path) - before >= 64 * 1024


def test_empty_dir_usage_counts_hard_links_once(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(64 * 1024))
    before = empty_dir_usage(tmp_path)
    os.link(tmp_path / "f", tmp_path / "g")
    assert empty_dir_usage(tmp_path) == before


def test_empty_dir_usage_does_not_follow_symlinks(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(os.urandom(256 * 1024))
    (tmp_path / "vol").mkdir()
    before = empty_dir_usage(tmp_path / "vol")
    (tmp_path / "vol" / "link").symlink_to(tmp_path / "big")
    assert empty_dir_usage(tmp_path / "vol") - before < 256 * 1024


def test_empty_dir_over_its_size_limit_is_reported(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {"sizeLimit": "16Ki"}}, {"name": "roomy", "emptyDir": {}})
    paths = setup(pod, pod_dir, store)
    (paths["cache"] / "f").write_bytes(os.urandom(64 * 1024))
    assert size_limit_exceeded(pod, paths) == ("cache", "16Ki")


def test_empty_dir_under_its_size_limit_is_not_reported(pod_dir: Path, store: Store) -> None:
    pod = make_pod({"name": "cache", "emptyDir": {"sizeLimit": "1Mi"}})
    paths = setup(pod, pod_dir, store)
    (paths["cache"] / "f").write_bytes(os.urandom(4 * 1024))
    assert size_limit_exceeded(pod, paths) is None


def test_eviction_message_has_the_kubelet_wording() -> None:
    assert (
        EMPTY_DIR_EVICTION_MESSAGE.format("cache", "16Ki")
        == 'Usage of EmptyDir volume "cache" exceeds the limit "16Ki". '
    )
