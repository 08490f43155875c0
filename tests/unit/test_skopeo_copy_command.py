"""The skopeo command behind `podrun image load` reads a Docker daemon where the docker CLI would."""

from __future__ import annotations

from podrun.runtime.images.skopeo_load import skopeo_copy_command


def test_a_docker_daemon_source_is_read_from_the_daemon_docker_host_names() -> None:
    command = skopeo_copy_command("skopeo", "docker-daemon:app:1", "oci:/t/layout", {"DOCKER_HOST": "unix:///d.sock"})

    assert command[-4:] == ["--src-daemon-host", "unix:///d.sock", "docker-daemon:app:1", "oci:/t/layout"]


def test_without_docker_host_skopeo_uses_the_default_daemon() -> None:
    command = skopeo_copy_command("skopeo", "docker-daemon:app:1", "oci:/t/layout", {})

    assert "--src-daemon-host" not in command


def test_docker_host_does_not_apply_to_other_sources() -> None:
    command = skopeo_copy_command("skopeo", "oci-archive:/x.tar", "oci:/t/layout", {"DOCKER_HOST": "unix:///d.sock"})

    assert "--src-daemon-host" not in command
