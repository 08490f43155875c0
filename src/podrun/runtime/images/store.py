"""The content-addressed image store.

Layout under `<root>/images`:

    blobs/sha256/<hex>      every blob: manifests, configs, compressed layers (verified on the way in)
    layers/<diffid-hex>/    one unpacked layer, in overlayfs format (whiteouts as 0/0 char devices),
                            shared by every image that has it
    records/<id-hex>.json   one image: its config digest (the image ID), manifest, layers, tags
    tags.json               reference -> image ID
    tmp/                    ingests in progress; nothing here is ever read as finished

Every write goes to `tmp/` first and is renamed into place, so a crash or a bad blob leaves nothing
half-made that could be mistaken for content. Tag and record updates are serialised by a flock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from podrun.runtime.reference import Reference, is_digest, parse

MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST)
INDEX_TYPES = (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)


class ImageStoreError(Exception):
    """A store operation failed; the message is meant for the user."""


class DigestMismatch(ImageStoreError):
    """Content did not hash to the digest it was announced with."""


class ImageNotFound(ImageStoreError):
    """No image is known under that reference or ID."""


class ImageInUse(ImageStoreError):
    """The image backs a container and cannot be removed."""


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an OCI image config a container is built from."""

    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""
    exposed_ports: list[str] = field(default_factory=list)
    stop_signal: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ImageConfig:
        """Read the `config` object of an OCI/Docker image configuration."""
        c = doc.get("config") or {}
        return cls(
            entrypoint=list(c.get("Entrypoint") or []),
            cmd=list(c.get("Cmd") or []),
            env=list(c.get("Env") or []),
            working_dir=c.get("WorkingDir") or "",
            user=c.get("User") or "",
            exposed_ports=sorted((c.get("ExposedPorts") or {}).keys()),
            stop_signal=c.get("StopSignal") or "",
            labels=dict(c.get("Labels") or {}),
        )


@dataclass
class ImageRecord:
    """One image in the store. `id` is the config digest, as Docker and containerd use it."""

    id: str
    manifest_digest: str
    layers: list[str]  # diff IDs, base first
    layer_blobs: list[str]  # compressed blob digests, base first (same order)
    size: int  # bytes of the compressed layers plus config, as registries report
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    created: str = ""
    architecture: str = ""
    os: str = ""

    def to_json(self) -> dict[str, Any]:
        """The record as stored on disk and printed by `podrun image inspect`."""
        return asdict(self)


def sha256_hex(data: bytes) -> str:
    """`sha256:<hex>` of the bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ImageStore:
    """Blobs, unpacked layers, image records and tags under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "images"
        self.blobs = self.root / "blobs" / "sha256"
        self.layers_dir = self.root / "layers"
        self.records = self.root / "records"
        self.tmp = self.root / "tmp"
        for d in (self.blobs, self.layers_dir, self.records, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self._tags_file = self.root / "tags.json"
        self._lock_file = self.root / "lock"

    # -- locking and small helpers -------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's write lock (shared by every podrun process using this root)."""
        with open(self._lock_file, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _write_json_atomic(self, path: Path, doc: Any) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix=".json-")
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)

    def _tags(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._tags_file.read_text()))
        except FileNotFoundError:
            return {}

    # -- blobs ------------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Where the blob with this digest lives (it may not exist yet)."""
        if not is_digest(digest):
            raise ImageStoreError(f"unsupported digest {digest!r}")
        return self.blobs / digest.split(":", 1)[1]

    def has_blob(self, digest: str) -> bool:
        """True when the blob is already in the store."""
        return self.blob_path(digest).exists()

    def read_blob(self, digest: str) -> bytes:
        """The bytes of a stored blob."""
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise ImageStoreError(f"blob {digest} is not in the store") from None

    @contextlib.contextmanager
    def blob_writer(self, expected_digest: str | None) -> Iterator[_BlobWriter]:
        """Write a blob in pieces; on leaving the block it is verified and renamed into place.

        If the content does not hash to `expected_digest`, `DigestMismatch` is raised and nothing
        is left behind. Without an expected digest the computed one is used (`writer.digest`).
        """
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix=".blob-")
        writer = _BlobWriter(os.fdopen(fd, "wb"))
        try:
            yield writer
            writer.close()
            digest = writer.digest
            if expected_digest is not None and digest != expected_digest:
                raise DigestMismatch(f"digest mismatch: expected {expected_digest}, got {digest}")
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.blob_path(digest))
        finally:
            writer.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def put_blob(self, data: bytes, expected_digest: str | None = None) -> str:
        """Store bytes as a blob and return their digest."""
        with self.blob_writer(expected_digest) as w:
            w.write(data)
        return w.digest

    def put_blob_file(self, src: IO[bytes], expected_digest: str | None = None) -> str:
        """Copy a readable file into the store as a blob and return its digest."""
        with self.blob_writer(expected_digest) as w:
            while chunk := src.read(1 << 20):
                w.write(chunk)
        return w.digest

    # -- layers -----------------------------------------------------------------------------------

    def layer_path(self, diff_id: str) -> Path:
        """The directory an unpacked layer lives in."""
        if not is_digest(diff_id):
            raise ImageStoreError(f"invalid layer diff ID {diff_id!r}")
        return self.layers_dir / diff_id.split(":", 1)[1]

    def _ensure_layer(self, blob_digest: str, diff_id: str) -> None:
        dest = self.layer_path(diff_id)
        if dest.exists():
            return
        # Here, not at the top: tarfile and zstandard load only when a layer is unpacked, never for a run of
        # images already present.
        from podrun.runtime.images.layers import LayerError, unpack_layer

        work = Path(tempfile.mkdtemp(dir=self.tmp, prefix=".layer-"))
        try:
            try:
                got = unpack_layer(self.blob_path(blob_digest), work / "root")
            except LayerError as exc:
                raise ImageStoreError(f"layer {blob_digest}: {exc}") from exc
            if got != diff_id:
                raise DigestMismatch(
                    f"layer {blob_digest}: uncompressed digest {got} does not match diff ID {diff_id}"
                )
            try:
                os.rename(work / "root", dest)
            except OSError:
                if not dest.exists():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # -- images -----------------------------------------------------------------------------------

    def commit(
        self,
        manifest: bytes,
        tags: Iterable[Reference] = (),
        repository: Reference | None = None,
        repo_digest: str | None = None,
    ) -> ImageRecord:
        """Record an image whose manifest, config and layer blobs are already stored.

        Unpacks any layer not yet unpacked (checking each against its diff ID), writes the image
        record and points `tags` at it. `repository` (where it was pulled from) adds a repo digest:
        `repo_digest` when given (the digest of the index a platform manifest was picked from, as
        Docker records it), else the manifest's own digest.
        """
        manifest_digest = self.put_blob(manifest)
        doc = json.loads(manifest)
        media = doc.get("mediaType", MEDIA_OCI_MANIFEST)
        if media in INDEX_TYPES or "manifests" in doc:
            raise ImageStoreError("an image index must be resolved to one platform's manifest before commit")
        config_digest = doc["config"]["digest"]
        config_doc = json.loads(self.read_blob(config_digest))
        diff_ids = list((config_doc.get("rootfs") or {}).get("diff_ids") or [])
        layer_blobs = [layer["digest"] for layer in doc.get("layers", [])]
        if len(diff_ids) != len(layer_blobs):
            raise ImageStoreError(
                f"image config lists {len(diff_ids)} layers but the manifest has {len(layer_blobs)}"
            )
        for blob, diff_id in zip(layer_blobs, diff_ids, strict=True):
            if not self.has_blob(blob):
                raise ImageStoreError(f"layer blob {blob} is not in the store")
            self._ensure_layer(blob, diff_id)
        size = int(doc["config"].get("size", 0)) + sum(int(x.get("size", 0)) for x in doc.get("layers", []))
        with self.locked():
            record = self._load_record(config_digest) or ImageRecord(
                id=config_digest,
                manifest_digest=manifest_digest,
                layers=diff_ids,
                layer_blobs=layer_blobs,
                size=size,
                created=config_doc.get("created", ""),
                architecture=config_doc.get("architecture", ""),
                os=config_doc.get("os", ""),
            )
            record.manifest_digest = manifest_digest
            if repository is not None:
                pinned = str(repository.with_digest(repo_digest or manifest_digest))
                if pinned not in record.repo_digests:
                    record.repo_digests.append(pinned)
            tag_index = self._tags()
            for ref in tags:
                self._retag(tag_index, str(ref), record)
            self._write_json_atomic(self._record_path(config_digest), record.to_json())
            self._write_json_atomic(self._tags_file, tag_index)
        return record

    def _retag(self, tag_index: dict[str, str], ref: str, record: ImageRecord) -> None:
        previous = tag_index.get(ref)
        if previous and previous != record.id:
            old = self._load_record(previous)
            if old and ref in old.repo_tags:
                old.repo_tags.remove(ref)
                self._write_json_atomic(self._record_path(previous), old.to_json())
        tag_index[ref] = record.id
        if ref not in record.repo_tags:
            record.repo_tags.append(ref)

    def tag(self, ref: Reference, image_id: str) -> None:
        """Point a reference at an existing image."""
        with self.locked():
            record = self._load_record(image_id)
            if record is None:
                raise ImageNotFound(f"image {image_id} not found")
            tags = self._tags()
            self._retag(tags, str(ref), record)
            self._write_json_atomic(self._record_path(image_id), record.to_json())
            self._write_json_atomic(self._tags_file, tags)

    def _record_path(self, image_id: str) -> Path:
        return self.records / f"{image_id.split(':', 1)[1]}.json"

    def _load_record(self, image_id: str) -> ImageRecord | None:
        try:
            return ImageRecord(**json.loads(self._record_path(image_id).read_text()))
        except FileNotFoundError:
            return None

    def images(self) -> list[ImageRecord]:
        """Every image in the store, newest record file first."""
        paths = sorted(self.records.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        return [ImageRecord(**json.loads(p.read_text())) for p in paths]

    def resolve(self, name: str) -> ImageRecord | None:
        """Find an image by reference (`busybox`, `x@sha256:…`), full ID, or unique ID prefix."""
        with contextlib.suppress(ValueError):
            ref = parse(name)
            if ref.digest:
                for record in self.images():
                    pinned = (d.endswith("@" + ref.digest) for d in record.repo_digests)
                    if record.id == ref.digest or any(pinned):
                        return record
                return None
            image_id = self._tags().get(str(ref))
            if image_id:
                return self._load_record(image_id)
        hexpart = name.removeprefix("sha256:")
        if len(hexpart) >= 4 and all(c in "0123456789abcdef" for c in hexpart):
            matches = [r for r in self.images() if r.id.split(":", 1)[1].startswith(hexpart)]
            if len(matches) == 1:
                return matches[0]
        return None

    def config(self, record: ImageRecord) -> ImageConfig:
        """The image's container configuration (entrypoint, cmd, env, user, ...)."""
        return ImageConfig.from_json(json.loads(self.read_blob(record.id)))

    def layer_dirs(self, record: ImageRecord) -> list[Path]:
        """Unpacked layer directories, base first."""
        return [self.layer_path(d) for d in record.layers]

    def remove(self, name: str, in_use: Callable[[str], bool] = lambda _id: False) -> list[str]:
        """Untag `name`; when no tag is left (or an ID was given) delete the image and its unused content.

        Refuses with `ImageInUse` when `in_use(image_id)` says a container still uses the image.
        Returns what was done, as lines (`Untagged: …`, `Deleted: …`) for the CLI.
        """
        with self.locked():
            record = self.resolve(name)
            if record is None:
                raise ImageNotFound(f"image {name!r} not found")
            tags = self._tags()
            done: list[str] = []
            by_tag = False
            with contextlib.suppress(ValueError):
                ref = str(parse(name))
                if ref in tags and not parse(name).digest:
                    by_tag = True
                    if len(record.repo_tags) > 1:
                        del tags[ref]
                        record.repo_tags.remove(ref)
                        self._write_json_atomic(self._record_path(record.id), record.to_json())
                        self._write_json_atomic(self._tags_file, tags)
                        return [f"Untagged: {ref}"]
            if in_use(record.id):
                what = "tag" if by_tag else "image"
                raise ImageInUse(
                    f"unable to remove {what} {name!r}: image {record.id} is in use by a container"
                )
            for t in record.repo_tags:
                tags.pop(t, None)
                done.append(f"Untagged: {t}")
            self._write_json_atomic(self._tags_file, tags)
            self._record_path(record.id).unlink()
            done.append(f"Deleted: {record.id}")
            self._collect_garbage()
            return done

    def _collect_garbage(self) -> None:
        """Delete blobs and layers that no image refers to any more."""
        keep_blobs: set[str] = set()
        keep_layers: set[str] = set()
        for record in self.images():
            keep_blobs.update([record.id, record.manifest_digest, *record.layer_blobs])
            keep_layers.update(record.layers)
        for blob in self.blobs.iterdir():
            if f"sha256:{blob.name}" not in keep_blobs:
                blob.unlink(missing_ok=True)
        for layer in self.layers_dir.iterdir():
            if f"sha256:{layer.name}" not in keep_layers:
                shutil.rmtree(layer, ignore_errors=True)


class _BlobWriter:
    """Hashes what it writes; `digest` is valid after `close`."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self._fh.write(data)
        self.size += len(data)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()
