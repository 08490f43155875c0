"""`podrun image load`: images from a Podman/Buildah store, a Docker daemon or an archive, through `skopeo`.

skopeo copies the source into a temporary OCI layout, which `image import` then reads: one import path,
and nothing is tagged unless the whole image arrived (the layout is removed whatever happens).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from podrun.runtime.images.importer import ArchiveError, import_archive
from podrun.runtime.images.store import ImageRecord, ImageStore

TRANSPORTS = ("containers-storage", "docker-daemon", "oci-archive", "docker-archive")
# `containers-storage:[overlay@/var/lib/containers/storage+/run/containers/storage]busybox`
_STORE_SPEC = re.compile(r"^\[[^\]]*\]")


class LoadError(ArchiveError):
    """The image could not be loaded; the message is meant for the user."""


def default_name(source: str) -> str | None:
    """The name an image loaded from `source` gets when none is given, or None if the source names none.

    A store or daemon image keeps its own name (`containers-storage:busybox` → `busybox`), an archive
    the reference after its path (`oci-archive:/x.tar:app:1` → `app:1`), as `kind load` keeps them.
    """
    transport, _, rest = source.partition(":")
    if transport in ("containers-storage", "docker-daemon"):
        name = _STORE_SPEC.sub("", rest)
        return name or None
    if transport in ("oci-archive", "docker-archive"):
        _, sep, ref = rest.partition(":")
        return ref if sep and ref else None
    return None


def _check_source(source: str) -> None:
    transport, sep, rest = source.partition(":")
    if not sep or transport not in TRANSPORTS or not rest:
        raise LoadError(
            f"{source!r} is not a source image load reads: use containers-storage:IMAGE, docker-daemon:IMAGE, "
            "oci-archive:PATH[:REF] or docker-archive:PATH[:REF] (and `podrun image import FILE` for a plain file)"
        )


def _skopeo_message(done: subprocess.CompletedProcess[str]) -> str:
    """skopeo's last error line, without logrus's `time=… level=fatal msg="…"` wrapping."""
    lines = done.stderr.strip().splitlines()
    if not lines:
        return f"exit status {done.returncode}"
    wrapped = re.search(r'msg="((?:[^"\\]|\\.)*)"', lines[-1])
    return re.sub(r"\\(.)", r"\1", wrapped[1]) if wrapped else lines[-1]


def skopeo_copy_command(skopeo: str, source: str, destination: str, environ: Mapping[str, str]) -> list[str]:
    """The skopeo command that copies `source` to `destination`.

    skopeo ignores `DOCKER_HOST`, which the docker CLI honours (rootless Docker, a remote or second daemon), so
    a `docker-daemon:` source is read from the daemon `docker images` lists only with it passed on by hand.
    """
    # No signature policy: the source is on this machine, and `image import` of the same archive checks none.
    command = [skopeo, "--insecure-policy", "copy", "--quiet"]
    docker_host = environ.get("DOCKER_HOST", "")
    if source.startswith("docker-daemon:") and docker_host:
        command += ["--src-daemon-host", docker_host]
    return [*command, source, destination]


def load_image(store: ImageStore, source: str, *, name: str | None = None, skopeo: str = "skopeo") -> list[ImageRecord]:
    """Copy `source` (a skopeo transport reference) into `store` under `name` (or its own name).

    An archive given without a reference or `name` is imported as `image import` would, keeping the names
    it holds. Raises `LoadError` (an `ArchiveError`) when skopeo is missing, the source is not a supported
    transport or cannot be read; nothing is left in the store in that case.
    """
    _check_source(source)
    name = name or default_name(source)
    if name is None:
        # An archive with no reference after its path: podrun reads both formats itself, names included.
        return import_archive(store, Path(source.partition(":")[2]))
    executable = shutil.which(skopeo)
    if executable is None:
        raise LoadError(f"{skopeo} not found: image load copies images with skopeo (Debian: apt install skopeo)")
    with tempfile.TemporaryDirectory(dir=store.tmp, prefix="load-") as tmp:
        layout = Path(tmp) / "layout"
        command = skopeo_copy_command(executable, source, f"oci:{layout}", os.environ)
        copied = subprocess.run(command, capture_output=True, text=True, check=False)
        if copied.returncode != 0:
            raise LoadError(f"{source}: skopeo could not copy the image: {_skopeo_message(copied)}")
        return import_archive(store, layout, name=name)
