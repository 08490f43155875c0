"""`podrun image load`: images copied in through skopeo from a Podman/Buildah store, a Docker daemon or an archive."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from podrun.runtime.images.skopeo_load import LoadError, default_name, load_image
from podrun.runtime.images.store import ImageStore


def _podrun_image(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    roots = ["--root", str(tmp_path / "root"), "--run-root", str(tmp_path / "run")]
    return subprocess.run(
        [sys.executable, "-m", "podrun.cli.main", "image", *args, *roots],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


@pytest.fixture
def podman_store(test_image_archives: dict[str, Path], tmp_path: Path) -> str:
    """A temporary Podman/Buildah store (vfs, so nothing is mounted) holding busybox as localhost/mybox:1."""
    spec = f"[vfs@{tmp_path / 'storage'}+{tmp_path / 'storage-run'}]"
    subprocess.run(
        ["skopeo", "--insecure-policy", "copy", "--quiet", f"docker-archive:{test_image_archives['busybox']}",
         f"containers-storage:{spec}localhost/mybox:1"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return spec


@pytest.fixture
def docker_host(test_image_archives: dict[str, Path], tmp_path: Path) -> Iterator[str]:
    """A private Docker daemon (its own socket and data root; no bridge, iptables or forwarding, so the host's
    network is untouched) holding busybox as myorg/tool:1.0; its DOCKER_HOST."""
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.skip("no Docker daemon to load from (Debian: apt install docker.io)")
    base = Path("/tmp") / f"podrun-dockerd-{os.getpid()}"  # the socket path must fit in 108 bytes
    base.mkdir()
    host = f"unix://{base}/docker.sock"
    # dockerd says READY=1 on a systemd notify socket once its API serves: the barrier to wait on.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(base / "notify"))
    notify.settimeout(120)
    daemon = subprocess.Popen(
        ["dockerd", "--data-root", str(base / "data"), "--exec-root", str(base / "exec"), "-H", host,
         "--pidfile", str(base / "docker.pid"), "--iptables=false", "--ip6tables=false", "--bridge=none",
         "--ip-forward=false", "--ip-masq=false", "--userland-proxy=false"],
        stdout=subprocess.DEVNULL, stderr=(base / "dockerd.log").open("w"),
        env={**os.environ, "NOTIFY_SOCKET": str(base / "notify")},
    )  # fmt: skip
    env = {**os.environ, "DOCKER_HOST": host}
    try:
        while b"READY=1" not in notify.recv(4096):
            pass
        subprocess.run(["docker", "load", "-i", str(test_image_archives["busybox"])], env=env, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        subprocess.run(["docker", "tag", "busybox:latest", "myorg/tool:1.0"], env=env, check=True,
                       capture_output=True, timeout=60)  # fmt: skip
        yield host
    finally:
        notify.close()
        daemon.terminate()
        daemon.wait(timeout=60)
        shutil.rmtree(base)


def test_an_image_in_the_docker_daemon_docker_host_names_is_loaded(docker_host: str, tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": docker_host}

    done = _podrun_image(tmp_path, "load", "docker-daemon:myorg/tool:1.0", env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout == "Loaded image: docker.io/myorg/tool:1.0\n"
    assert ImageStore(tmp_path / "root").resolve("myorg/tool:1.0") is not None


def test_an_image_in_a_podman_store_is_loaded_under_its_own_name(podman_store: str, tmp_path: Path) -> None:
    done = _podrun_image(tmp_path, "load", f"containers-storage:{podman_store}localhost/mybox:1")

    assert done.returncode == 0, done.stderr
    assert done.stdout == "Loaded image: localhost/mybox:1\n"
    assert ImageStore(tmp_path / "root").resolve("localhost/mybox:1") is not None


def test_an_oci_archive_is_loaded_under_the_name_given(test_image_archives: dict[str, Path], tmp_path: Path) -> None:
    archive = tmp_path / "busybox-oci.tar"
    subprocess.run(
        ["skopeo", "--insecure-policy", "copy", "--quiet", f"docker-archive:{test_image_archives['busybox']}",
         f"oci-archive:{archive}:app"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip

    done = _podrun_image(tmp_path, "load", "--name", "example.com/app:2", f"oci-archive:{archive}")

    assert done.returncode == 0, done.stderr
    assert ImageStore(tmp_path / "root").resolve("example.com/app:2") is not None


def test_an_image_missing_from_the_store_is_a_clear_error_and_leaves_nothing(podman_store: str, tmp_path: Path) -> None:
    done = _podrun_image(tmp_path, "load", f"containers-storage:{podman_store}localhost/absent:1")

    assert done.returncode == 1
    assert done.stderr.startswith("error: containers-storage:") and "does not resolve to an image" in done.stderr
    store = ImageStore(tmp_path / "root")
    assert store.images() == []
    assert list(store.tmp.iterdir()) == []


def test_without_skopeo_load_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"skopeo not found.*apt install skopeo"):
        load_image(ImageStore(tmp_path), "docker-daemon:app:1", skopeo="no-such-skopeo")


def test_a_source_that_is_no_transport_is_refused_by_name(tmp_path: Path) -> None:
    done = _podrun_image(tmp_path, "load", "busybox.tar")

    assert done.returncode == 1
    assert "'busybox.tar' is not a source image load reads" in done.stderr


def test_a_docker_archive_without_a_reference_keeps_the_names_it_holds(
    test_image_archives: dict[str, Path], tmp_path: Path
) -> None:
    done = _podrun_image(tmp_path, "load", f"docker-archive:{test_image_archives['busybox']}")

    assert done.returncode == 0, done.stderr
    assert ImageStore(tmp_path / "root").resolve("busybox:1.28") is not None


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("containers-storage:[vfs@/s+/r]localhost/app:1", "localhost/app:1"),
        ("docker-daemon:app:latest", "app:latest"),
        ("oci-archive:/x.tar:app:2", "app:2"),
        ("docker-archive:/x.tar", None),
    ],
)
def test_the_default_name_is_the_sources_own(source: str, name: str | None) -> None:
    assert default_name(source) == name
