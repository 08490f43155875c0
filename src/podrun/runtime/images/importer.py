"""Importing images from files into the store: `docker save` archives, OCI image layouts, rootfs tars.

The format is found from the content, not the file name:

- a tar whose top-level `manifest.json` lists `Config`/`Layers` entries is a `docker save` archive
  (Docker 25+ archives are also OCI layouts; `manifest.json` wins, as it carries the tags);
- a directory, or a tar of one, with `oci-layout` and `index.json` is an OCI image layout;
- any other tar is a root filesystem, imported as a one-layer image the way `docker import` does.

Any of these tars may be gzip or zstd compressed. Every blob is verified on its way into the store,
and images are committed only once all the blobs of all of them are in and checked, so a bad file
leaves no tag and no record behind (at most blobs that hash to their names, which the store's
garbage collection drops).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import posixpath
import re
import shlex
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from podrun.runtime.images.layers import (
    STREAM_ERRORS,
    TAR_BUFSIZE,
    HashingReader,
    compression_of,
    diff_id,
    stream_members,
    uncompressed,
)
from podrun.runtime.images.store import (
    INDEX_TYPES,
    MEDIA_DOCKER_MANIFEST,
    DigestMismatch,
    ImageRecord,
    ImageStore,
    ImageStoreError,
)
from podrun.runtime.reference import Reference, is_digest, parse
from podrun.timestamps import now_time

MEDIA_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MEDIA_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"

_LAYER_MEDIA = {"": MEDIA_DOCKER_LAYER, "gzip": MEDIA_DOCKER_LAYER_GZIP, "zstd": MEDIA_OCI_LAYER_ZSTD}
# Manifests, indexes and configs are small; a hostile one must not be able to fill memory.
_MAX_METADATA = 32 << 20
_MAX_INDEX_DEPTH = 4
_ARCHITECTURES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
}
# Where a name inside an archive itself says the digest: `blobs/sha256/<hex>`, or `<hex>.json` for
# the config of a classic `docker save` archive (its name is the image ID).
_DIGEST_IN_NAME = re.compile(r"(?:^|/)(?:blobs/sha256/([0-9a-f]{64})|([0-9a-f]{64})\.json)$")
_PORT = re.compile(r"(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?")


class ArchiveError(ImageStoreError):
    """The file cannot be imported; the message is meant for the user."""


def host_architecture() -> str:
    """This machine's architecture in OCI terms (`amd64`, `arm64`, ...)."""
    machine = platform.machine()
    return _ARCHITECTURES.get(machine, machine)


def import_archive(
    store: ImageStore, path: Path, *, name: str | None = None, changes: Sequence[str] = ()
) -> list[ImageRecord]:
    """Import the images in a `docker save` archive, an OCI layout (directory or tar) or a rootfs tar.

    `name` is a whole reference, as `docker tag` reads it (no tag means `latest`): an OCI layout's image
    gets it instead of the layout's own names, a `docker save` archive's image gets it besides its
    RepoTags, and a rootfs tar requires it. `changes` are Dockerfile-like
    instructions (`CMD`, `ENTRYPOINT`, `ENV`, `WORKDIR`, `USER`, `EXPOSE`, `STOPSIGNAL`, `LABEL`) for
    the config of a rootfs import. Returns the records of the imported images. Raises `ArchiveError`
    for a file that cannot be imported, `DigestMismatch` for corrupt content and `ValueError` for a
    bad change; none of these leaves a tag or a record behind.
    """
    path = Path(path)
    name_ref = _parse_name(name) if name is not None else None
    config = config_from_changes(changes)
    if path.is_dir():
        if not (path / "oci-layout").is_file():
            raise ArchiveError(f"{path}: a directory can only be imported as an OCI layout (no oci-layout)")
        _refuse_changes(changes, path, "an OCI image layout")
        return _commit_all(store, _oci_images(store, _DirSource(path), name, str(path)), str(path))
    if not path.exists():
        raise ArchiveError(f"{path}: no such file or directory")
    if not path.is_file():
        raise ArchiveError(f"{path}: not a regular file")
    scan = _scan(path)
    kind = _kind(scan.files)
    if kind == "rootfs":
        if name_ref is None:
            raise ArchiveError(f"{path} is a plain rootfs tar: importing it needs a name for the image")
        return [_import_rootfs(store, path, scan, name_ref, config)]
    _refuse_changes(changes, path, "a docker archive" if kind == "docker" else "an OCI image layout")
    with _plain_tar(store, path, scan.compression) as tar_path, tarfile.open(tar_path, "r:") as tar:
        source = _TarSource(tar, path)
        if kind == "docker":
            pending = _docker_images(store, source, scan.files["manifest.json"], name_ref, str(path))
        else:
            pending = _oci_images(store, source, name, str(path))
    return _commit_all(store, pending, str(path))


def config_from_changes(changes: Sequence[str]) -> dict[str, Any]:
    """The `config` object of an image config built from `--change` instructions, as `docker import` does.

    Raises `ValueError` naming the instruction that is unknown or malformed.
    """
    config: dict[str, Any] = {}
    for change in changes:
        words = change.strip().split(None, 1)
        if not words:
            raise ValueError("empty --change instruction")
        instruction = words[0].upper()
        handler = _CHANGES.get(instruction)
        if handler is None:
            raise ValueError(f'unsupported --change instruction "{words[0]}"')
        if len(words) < 2:
            raise ValueError(f"--change {instruction} needs an argument")
        try:
            handler(config, words[1].strip())
        except ValueError as e:
            raise ValueError(f"--change {change.strip()!r}: {e}") from None
    return config


# -- --change instructions -------------------------------------------------------------------------


def _command(text: str) -> list[str]:
    """JSON-array form when it parses as a list of strings (as Docker decides), else shell form."""
    if text.startswith("["):
        with contextlib.suppress(ValueError):
            doc = json.loads(text)
            if isinstance(doc, list) and all(isinstance(x, str) for x in doc):
                return doc
    return ["/bin/sh", "-c", text]


def _unquote(text: str) -> str:
    """Remove shell quoting and escapes but keep the whitespace, like Dockerfile word processing."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace = ""
    lexer.whitespace_split = True
    lexer.commenters = ""
    return "".join(lexer)


def _key_values(text: str) -> list[tuple[str, str]]:
    """`k=v k2="v 2"` pairs, or the legacy `key value with spaces` form for a single pair."""
    words = shlex.split(text)
    if "=" not in words[0]:
        key, *rest = text.split(None, 1)
        if not rest:
            raise ValueError(f"{key!r} has no value")
        return [(_unquote(key), _unquote(rest[0]))]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ValueError(f"{word!r} is not key=value")
        pairs.append((key, value))
    return pairs


def _change_env(config: dict[str, Any], text: str) -> None:
    env: list[str] = config.setdefault("Env", [])
    for key, value in _key_values(text):
        env[:] = [e for e in env if e.split("=", 1)[0] != key]
        env.append(f"{key}={value}")


def _change_label(config: dict[str, Any], text: str) -> None:
    config.setdefault("Labels", {}).update(_key_values(text))


def _change_workdir(config: dict[str, Any], text: str) -> None:
    # A relative WORKDIR is relative to the previous one, as in a Dockerfile.
    config["WorkingDir"] = posixpath.normpath(posixpath.join(config.get("WorkingDir") or "/", _unquote(text)))


def _change_expose(config: dict[str, Any], text: str) -> None:
    ports: dict[str, dict[str, Any]] = config.setdefault("ExposedPorts", {})
    for word in text.split():
        match = _PORT.fullmatch(word.lower())
        first, last = (int(match[1]), int(match[2] or match[1])) if match else (0, 0)
        if not match or not 0 < first <= last <= 65535:
            raise ValueError(f"invalid port {word!r}")
        for port in range(first, last + 1):
            ports[f"{port}/{match[3] or 'tcp'}"] = {}


def _set(key: str, convert: Callable[[str], Any]) -> Callable[[dict[str, Any], str], None]:
    def change(config: dict[str, Any], text: str) -> None:
        config[key] = convert(text)

    return change


_CHANGES: dict[str, Callable[[dict[str, Any], str], None]] = {
    "CMD": _set("Cmd", _command),
    "ENTRYPOINT": _set("Entrypoint", _command),
    "ENV": _change_env,
    "LABEL": _change_label,
    "WORKDIR": _change_workdir,
    "USER": _set("User", _unquote),
    "EXPOSE": _change_expose,
    "STOPSIGNAL": _set("StopSignal", _unquote),
}


# -- reading archives ---------------------------------------------------------------------------------


def _parse_name(name: str) -> Reference:
    try:
        ref = parse(name)
    except ValueError as e:
        raise ArchiveError(f"invalid image name {name!r}: {e}") from None
    if ref.digest:
        raise ArchiveError(f"invalid image name {name!r}: an imported image is tagged, not pinned by digest")
    return ref


def _refuse_changes(changes: Sequence[str], path: Path, what: str) -> None:
    if changes:
        raise ArchiveError(f"{path} is {what}: changes apply only to a plain rootfs tar")


def _norm(name: str) -> str:
    """A tar member name as a key: `./a/b` and `/a/b` are both `a/b`."""
    return posixpath.normpath("/" + name).lstrip("/")


def _read_metadata(fh: IO[bytes], what: str) -> bytes:
    data = fh.read(_MAX_METADATA + 1)
    if len(data) > _MAX_METADATA:
        raise ArchiveError(f"{what} is over {_MAX_METADATA >> 20} MiB: not an image manifest or config")
    return data


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as e:
        raise ArchiveError(f"{what} is not valid JSON: {e}") from None


@dataclass
class _Scan:
    """What one streaming pass over a tar file found."""

    compression: str
    files: dict[str, bytes]  # the top-level metadata files that tell the formats apart
    diff_id: str  # digest of the uncompressed stream (the layer's diff ID for a rootfs tar)


def _scan(path: Path) -> _Scan:
    files: dict[str, bytes] = {}
    with open(path, "rb") as fh:
        compression = compression_of(fh.read(4))
        fh.seek(0)
        with uncompressed(fh) as stream:
            reader = HashingReader(stream)
            try:
                with tarfile.open(fileobj=reader, mode="r|", bufsize=TAR_BUFSIZE) as tar:  # type: ignore[call-overload]
                    for member in stream_members(tar):
                        key = _norm(member.name)
                        if key in ("manifest.json", "oci-layout", "index.json") and member.isreg():
                            extracted = tar.extractfile(member)
                            if extracted is not None and member.size <= _MAX_METADATA:
                                files[key] = extracted.read()
                return _Scan(compression, files, reader.drain())
            except STREAM_ERRORS as e:
                raise ArchiveError(
                    f"{path}: not a docker archive, an OCI image layout or a tar file ({e})"
                ) from None


def _kind(files: dict[str, bytes]) -> str:
    if "manifest.json" in files:
        with contextlib.suppress(ValueError):
            doc = json.loads(files["manifest.json"])
            if isinstance(doc, list) and all(isinstance(e, dict) and "Config" in e for e in doc):
                return "docker"
    if "oci-layout" in files and "index.json" in files:
        return "oci"
    return "rootfs"


@contextlib.contextmanager
def _plain_tar(store: ImageStore, path: Path, compression: str) -> Iterator[Path]:
    """The archive as an uncompressed tar, which can be read in any order (decompressed into tmp/)."""
    if not compression:
        yield path
        return
    work = Path(tempfile.mkdtemp(dir=store.tmp, prefix=".import-"))
    try:
        with open(path, "rb") as fh, uncompressed(fh) as stream, open(work / "archive.tar", "wb") as out:
            try:
                shutil.copyfileobj(stream, out, 1 << 20)
            except STREAM_ERRORS as e:
                raise ArchiveError(f"{path}: corrupt {compression} data: {e}") from None
        yield work / "archive.tar"
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _DirSource:
    """Files of an OCI layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        path = self.root / name
        if not path.is_file():
            raise ArchiveError(f"{self.root}: {name} is missing")
        with open(path, "rb") as fh:
            yield fh


class _TarSource:
    """Files of an uncompressed tar, read in place (links inside the archive are followed by tarfile)."""

    def __init__(self, tar: tarfile.TarFile, path: Path) -> None:
        self.tar = tar
        self.path = path
        self.members = {_norm(m.name): m for m in tar.getmembers() if m.isreg() or m.issym() or m.islnk()}

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        member = self.members.get(_norm(name))
        try:
            fh = self.tar.extractfile(member) if member is not None else None
        except KeyError:  # a link whose target is not in the archive
            fh = None
        if fh is None:
            raise ArchiveError(f"{self.path}: {name} is missing from the archive")
        with fh:
            yield fh


_Source = _DirSource | _TarSource


def _put_blob(store: ImageStore, fh: IO[bytes], expected: str | None, what: str) -> str:
    """Copy a blob into the store (verified against `expected` when known); returns its digest."""
    if expected is not None and store.has_blob(expected):
        return expected
    try:
        return store.put_blob_file(fh, expected)
    except DigestMismatch as e:
        raise DigestMismatch(f"{what}: {e}") from None


def _diff_ids(config: bytes, layer_count: int, what: str) -> list[str]:
    """The config's diff IDs, checked before anything is committed (they become directory names)."""
    doc = _json(config, what)
    ids = (doc.get("rootfs") or {}).get("diff_ids") if isinstance(doc, dict) else None
    if not isinstance(ids, list) or not all(isinstance(d, str) and is_digest(d) for d in ids):
        raise ArchiveError(f"{what}: rootfs.diff_ids is missing or holds something other than sha256 digests")
    if len(ids) != layer_count:
        raise ArchiveError(f"{what} lists {len(ids)} layers but the image has {layer_count}")
    return ids


@dataclass
class _Pending:
    """An image whose blobs are all in the store, waiting to be committed."""

    manifest: bytes
    config_digest: str
    tags: list[Reference] = field(default_factory=list)


# -- docker save archives -----------------------------------------------------------------------------


def _digest_in_name(name: str) -> str | None:
    match = _DIGEST_IN_NAME.search(_norm(name))
    return f"sha256:{match[1] or match[2]}" if match else None


def _docker_images(
    store: ImageStore, source: _TarSource, manifest_json: bytes, name_ref: Reference | None, label: str
) -> list[_Pending]:
    entries = _json(manifest_json, f"{label}: manifest.json")
    if not entries:
        raise ArchiveError(f"{label}: manifest.json lists no image")
    if name_ref is not None and len(entries) > 1:
        raise ArchiveError(f"{label} holds {len(entries)} images; a name can only be given to one")
    pending = []
    for entry in entries:
        config_name = entry.get("Config")
        layer_names = entry.get("Layers")
        if not isinstance(config_name, str) or not isinstance(layer_names, list):
            raise ArchiveError(f"{label}: manifest.json has an entry without Config or Layers")
        with source.open(config_name) as fh:
            config = _read_metadata(fh, f"{label}: {config_name}")
        diff_ids = _diff_ids(config, len(layer_names), f"{label}: {config_name}")
        try:
            config_digest = store.put_blob(config, _digest_in_name(config_name))
        except DigestMismatch as e:
            raise DigestMismatch(f"{label}: {config_name}: {e}") from None
        layers = [
            _docker_layer(store, source, layer_name, layer_diff_id, label)
            for layer_name, layer_diff_id in zip(layer_names, diff_ids, strict=True)
        ]
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_DOCKER_MANIFEST,
            "config": {"mediaType": MEDIA_DOCKER_CONFIG, "size": len(config), "digest": config_digest},
            "layers": layers,
        }
        try:
            tags = [parse(t) for t in entry.get("RepoTags") or []]
        except ValueError as e:
            raise ArchiveError(f"{label}: manifest.json: {e}") from None
        if name_ref is not None:
            tags.append(name_ref)
        pending.append(_Pending(json.dumps(manifest, indent=3).encode(), config_digest, tags))
    return pending


def _docker_layer(
    store: ImageStore, source: _TarSource, name: str, layer_diff_id: str, label: str
) -> dict[str, Any]:
    with source.open(name) as fh:
        compression = compression_of(fh.read(4))
        fh.seek(0)
        # An uncompressed layer's blob digest is its diff ID, so it can be checked on the way in.
        expected = _digest_in_name(name) or (None if compression else layer_diff_id)
        digest = _put_blob(store, fh, expected, f"{label}: {name}")
    return {
        "mediaType": _LAYER_MEDIA[compression],
        "size": store.blob_path(digest).stat().st_size,
        "digest": digest,
    }


# -- OCI image layouts --------------------------------------------------------------------------------


def _blob_name(digest: Any, label: str) -> str:
    # Checked before it becomes a path: a digest like `sha256:../../x` must not name a file.
    if not isinstance(digest, str) or not is_digest(digest):
        raise ArchiveError(f"{label}: unsupported or malformed digest {digest!r}")
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _read_verified(source: _Source, digest: Any, label: str) -> bytes:
    with source.open(_blob_name(digest, label)) as fh:
        data = _read_metadata(fh, f"{label}: blob {digest}")
    got = "sha256:" + hashlib.sha256(data).hexdigest()
    if got != digest:
        raise DigestMismatch(f"{label}: blob {digest}: digest mismatch: expected {digest}, got {got}")
    return data


def _platform_matches(desc: dict[str, Any], arch: str) -> bool:
    """True when a descriptor names no platform, or this host's (`linux/<arch>`)."""
    plat = desc.get("platform")
    if not isinstance(plat, dict):
        return True
    return plat.get("os") == "linux" and plat.get("architecture") == arch


def _resolve_manifest(source: _Source, desc: dict[str, Any], arch: str, label: str) -> tuple[bytes, Any]:
    """Follow a descriptor through nested indexes to one image manifest for this host."""
    for _ in range(_MAX_INDEX_DEPTH):
        data = _read_verified(source, desc.get("digest"), label)
        doc = _json(data, f"{label}: blob {desc.get('digest')}")
        if not isinstance(doc, dict):
            raise ArchiveError(f"{label}: blob {desc.get('digest')} is not a manifest")
        if doc.get("mediaType") not in INDEX_TYPES and "manifests" not in doc:
            layers = doc.get("layers", [])
            if not isinstance(doc.get("config"), dict) or not (
                isinstance(layers, list) and all(isinstance(layer, dict) for layer in layers)
            ):
                raise ArchiveError(f"{label}: blob {desc.get('digest')} is not an image manifest")
            return data, doc
        children = [c for c in doc.get("manifests") or [] if isinstance(c, dict)]
        # Only an entry naming this host's platform will do (not attestations, marked unknown/unknown).
        picked = next((c for c in children if "platform" in c and _platform_matches(c, arch)), None)
        if picked is None:
            raise ArchiveError(f"{label}: index {desc.get('digest')} has no image for linux/{arch}")
        desc = picked
    raise ArchiveError(f"{label}: image indexes nested more than {_MAX_INDEX_DEPTH} deep")


def _layout_tags(annotations: dict[str, Any], name: str | None, label: str) -> list[Reference]:
    """The name the user gave, or else the tags of the index.json annotations."""
    full: list[str] = []
    bare_tag = None
    if isinstance(annotations.get(ANNOTATION_CONTAINERD_NAME), str):
        full.append(annotations[ANNOTATION_CONTAINERD_NAME])
    ref_name = annotations.get(ANNOTATION_REF_NAME)
    if isinstance(ref_name, str) and ref_name:
        # The spec allows a whole reference or just a tag; a tag has no `/` or `:`.
        if any(c in ref_name for c in "/:@"):
            full.append(ref_name)
        else:
            bare_tag = ref_name
    tags = []
    try:
        for text in full:
            ref = parse(text)
            if ref.tag:  # a digest-only name cannot be a tag
                tags.append(Reference(ref.domain, ref.path, ref.tag))
        if name is not None:
            # The whole reference, as `docker tag` reads it (no tag means `latest`); the layout's own names
            # are kept only when no name is given.
            return [_parse_name(name)]
        if bare_tag and not full:
            raise ArchiveError(
                f"{label}: the image is tagged only {bare_tag!r}; give a name for its repository"
            )
    except ValueError as e:
        raise ArchiveError(f"{label}: {e}") from None
    return list(dict.fromkeys(tags))


def _oci_images(store: ImageStore, source: _Source, name: str | None, label: str) -> list[_Pending]:
    with source.open("index.json") as fh:
        index = _json(_read_metadata(fh, f"{label}: index.json"), f"{label}: index.json")
    descriptors = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(descriptors, list):
        raise ArchiveError(f"{label}: index.json has no manifests list")
    arch = host_architecture()
    # Several index entries may name one image (one per tag); they become one commit.
    pending: dict[bytes, _Pending] = {}
    for desc in descriptors:
        if not isinstance(desc, dict) or not _platform_matches(desc, arch):
            continue
        manifest, doc = _resolve_manifest(source, desc, arch, label)
        config_digest = doc["config"].get("digest")
        config = _read_verified(source, config_digest, label)
        _diff_ids(config, len(doc.get("layers", [])), f"{label}: config {config_digest}")
        store.put_blob(config, config_digest)
        for layer in doc.get("layers", []):
            with source.open(_blob_name(layer.get("digest"), label)) as fh:
                _put_blob(store, fh, layer["digest"], f"{label}: blob {layer['digest']}")
        annotations = desc.get("annotations")
        if not isinstance(annotations, dict):
            annotations = {}
        image = pending.setdefault(manifest, _Pending(manifest, config_digest))
        image.tags.extend(t for t in _layout_tags(annotations, name, label) if t not in image.tags)
    if not pending:
        raise ArchiveError(f"{label}: the layout has no image for linux/{arch}")
    return list(pending.values())


# -- rootfs tars ----------------------------------------------------------------------------------------


def _import_rootfs(
    store: ImageStore, path: Path, scan: _Scan, name_ref: Reference, config: dict[str, Any]
) -> ImageRecord:
    with open(path, "rb") as fh:
        layer_digest = store.put_blob_file(fh)
    now = now_time()
    image_config = {
        "architecture": host_architecture(),
        "os": "linux",
        "created": now,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [scan.diff_id]},
        "history": [{"created": now, "created_by": "podrun import", "comment": f"Imported from {path.name}"}],
    }
    config_bytes = json.dumps(image_config).encode()
    config_digest = store.put_blob(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_DOCKER_MANIFEST,
        "config": {"mediaType": MEDIA_DOCKER_CONFIG, "size": len(config_bytes), "digest": config_digest},
        "layers": [
            {
                "mediaType": _LAYER_MEDIA[scan.compression],
                "size": store.blob_path(layer_digest).stat().st_size,
                "digest": layer_digest,
            }
        ],
    }
    return store.commit(json.dumps(manifest, indent=3).encode(), tags=[name_ref])


# -- committing ---------------------------------------------------------------------------------------


def _verify_layers(store: ImageStore, image: _Pending) -> None:
    """Check each layer blob against its diff ID (what `commit` would find out, one image too late)."""
    config = json.loads(store.read_blob(image.config_digest))
    blobs = [layer["digest"] for layer in json.loads(image.manifest).get("layers", [])]
    for blob, expected in zip(blobs, config["rootfs"]["diff_ids"], strict=True):
        # An uncompressed blob was verified on the way in; an unpacked layer was checked when unpacked.
        if blob == expected or store.layer_path(expected).exists():
            continue
        got = diff_id(store.blob_path(blob))
        if got != expected:
            raise DigestMismatch(f"layer {blob}: uncompressed digest {got} does not match diff ID {expected}")


def _commit_all(store: ImageStore, pending: list[_Pending], label: str) -> list[ImageRecord]:
    owner: dict[str, str] = {}
    for image in pending:
        for tag in image.tags:
            if owner.setdefault(str(tag), image.config_digest) != image.config_digest:
                raise ArchiveError(f"{label}: {tag} would name more than one image")
    if len(pending) > 1:
        # commit() leaves nothing behind when it fails, but only for its own image: check every
        # layer before the first commit so a bad last image cannot leave the others half-imported.
        for image in pending:
            _verify_layers(store, image)
    return [store.commit(image.manifest, tags=image.tags) for image in pending]
