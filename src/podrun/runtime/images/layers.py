"""Unpacking image layers safely into overlayfs-format directories.

A layer is a tar (plain, gzip or zstd) of one filesystem diff. Each layer is unpacked alone into its
own directory and overlayfs stacks the directories, so the OCI whiteout files are converted to
overlayfs's markers: `.wh.<name>` becomes a 0/0 character device `<name>`, and `.wh..wh..opq` sets
`trusted.overlay.opaque=y` on its directory.

Layers come from registries and archives we do not trust, so every write is confined to `dest`:

- names are normalised lexically (a leading `/` is dropped) and a name whose `..` climbs out of the
  layer rejects the whole layer;
- the tree is walked one component at a time from a directory fd with `O_NOFOLLOW`, so a symlink
  unpacked earlier (`a -> /etc`) is never followed by a later entry (`a/passwd`): such an entry
  rejects the layer. Symlinks themselves are written verbatim; absolute targets are normal in
  images and are only ever resolved inside the container's rootfs;
- hard links must point at something already unpacked in this layer;
- device nodes are skipped: they are what containerd skips when it cannot create them, and an
  image has no business creating them when it can (the container's /dev comes from the runtime);
- `trusted.overlay.*` xattrs in the tar are dropped, so a layer cannot forge overlayfs metadata
  (redirects, opaque markers) other than through the whiteout files above.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"

_CHUNK = 1 << 20
# tarfile re-slices its read buffer on every small read, so a big one costs more than it saves.
TAR_BUFSIZE = 64 << 10
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_XATTR_PAX_PREFIX = "SCHILY.xattr."
# Best effort: an xattr the filesystem or our privileges cannot hold is not worth failing the image.
_XATTR_IGNORED = (errno.EPERM, errno.ENOTSUP, errno.EINVAL)
#: What reading a truncated, corrupt or non-tar blob through `uncompressed` and tarfile can raise.
STREAM_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError)


class LayerError(ValueError):
    """The layer cannot be unpacked, or not safely; the message names the offending entry."""


def compression_of(head: bytes) -> str:
    """The compression of a blob from its first four bytes: `"gzip"`, `"zstd"` or `""` for none."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return ""


@contextlib.contextmanager
def uncompressed(fh: IO[bytes]) -> Iterator[IO[bytes]]:
    """A streaming reader of the content of `fh`, decompressed when its magic bytes say gzip or zstd.

    `fh` must be seekable and positioned at the start of the blob; it is not closed.
    """
    head = fh.read(4)
    fh.seek(-len(head), os.SEEK_CUR)
    kind = compression_of(head)
    if kind == "gzip":
        with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
            yield gz  # type: ignore[misc]
    elif kind == "zstd":
        dctx = zstandard.ZstdDecompressor()
        with dctx.stream_reader(fh, read_across_frames=True, closefd=False) as zst:
            yield zst  # type: ignore[misc]
    else:
        yield fh


class HashingReader:
    """Passes reads through and hashes everything read, so a stream is digested while it is consumed."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()

    def read(self, size: int = _CHUNK) -> bytes:
        """Read up to `size` bytes (never everything at once: the streams may be huge)."""
        data = self._raw.read(size if size >= 0 else _CHUNK)
        self._hash.update(data)
        return data

    def drain(self) -> str:
        """Read to the end of the stream and return `sha256:<hex>` of all of it."""
        while self.read(_CHUNK):
            pass
        return "sha256:" + self._hash.hexdigest()


def stream_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The members of a tar opened in stream mode (`r|`), without keeping them all in memory."""
    while (member := tar.next()) is not None:
        yield member
        # A streamed TarFile remembers every member it has read; a layer can have 100k of them.
        tar.members.clear()  # type: ignore[attr-defined]


def diff_id(blob: Path) -> str:
    """The `sha256:` digest of a layer blob's uncompressed content, without unpacking it."""
    with open(blob, "rb") as fh, uncompressed(fh) as stream:
        try:
            return HashingReader(stream).drain()
        except STREAM_ERRORS as e:
            raise LayerError(f"{blob}: corrupt compressed layer: {e}") from e


def unpack_layer(blob: Path, dest: Path) -> str:
    """Unpack a (gzip, zstd or plain) layer tar into the new directory `dest`, in overlayfs format.

    Returns the layer's diff ID: `sha256:<hex>` of the whole uncompressed stream. Raises `LayerError`
    for a corrupt or unsafe layer; on any failure `dest` is left for the caller to remove.
    """
    dest.mkdir()
    # mkdir is subject to the umask; the root of a layer is 0755 unless the tar says otherwise.
    os.chmod(dest, 0o755)
    with open(blob, "rb") as fh, uncompressed(fh) as stream:
        reader = HashingReader(stream)
        root = os.open(dest, _DIR_FLAGS)
        try:
            with tarfile.open(fileobj=reader, mode="r|", bufsize=TAR_BUFSIZE) as tar:  # type: ignore[call-overload]
                _Unpacker(root).run(tar)
            return reader.drain()
        except STREAM_ERRORS as e:
            raise LayerError(f"{blob}: not a valid layer tar: {e}") from e
        finally:
            os.close(root)


def confine(name: str) -> tuple[str, ...]:
    """The components of a tar entry name relative to the layer root; `()` is the root itself.

    A leading `/` is dropped and `..` is applied lexically; a name climbing out of the root raises
    `LayerError`. (Lexical is right because the unpacker never follows symlinks.)
    """
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise LayerError(f"entry {name!r} points outside the layer")
            parts.pop()
        else:
            parts.append(part)
    return tuple(parts)


class _Unpacker:
    """Writes the entries of one layer tar under a root directory fd, never following a symlink."""

    def __init__(self, root_fd: int) -> None:
        self.root = root_fd
        self.as_root = os.geteuid() == 0
        # Directory modes and mtimes are applied last: the mode may forbid writing the contents,
        # and writing the contents changes the mtime.
        self.dirs: dict[tuple[str, ...], tuple[int, float]] = {}

    def run(self, tar: tarfile.TarFile) -> None:
        for member in stream_members(tar):
            self.entry(tar, member)
        self.finish_dirs()

    def entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = confine(member.name)
        if not parts:
            if not member.isdir():
                raise LayerError(f"entry {member.name!r} would replace the layer root")
            self.directory_meta(os.dup(self.root), (), member)
            return
        *parent, base = parts
        if base.startswith(WHITEOUT_PREFIX):
            self.whiteout(tuple(parent), base, member)
            return
        if member.ischr() or member.isblk():
            return
        pfd = self.open_dir(tuple(parent), create=True)
        try:
            if member.isdir():
                if not self.clear(pfd, parts, keep_dir=True):
                    os.mkdir(base, 0o700, dir_fd=pfd)
                self.directory_meta(os.open(base, _DIR_FLAGS, dir_fd=pfd), parts, member)
            elif member.isreg():
                self.clear(pfd, parts, keep_dir=False)
                self.regular(tar, member, os.open(base, _FILE_FLAGS, 0o600, dir_fd=pfd))
            elif member.issym():
                self.clear(pfd, parts, keep_dir=False)
                os.symlink(member.linkname, base, dir_fd=pfd)
                self.path_meta(pfd, base, member, set_mode=False)
            elif member.islnk():
                self.hardlink(pfd, parts, member)
            elif member.isfifo():
                # Unlike device nodes a FIFO grants nothing, and some images ship one.
                self.clear(pfd, parts, keep_dir=False)
                os.mkfifo(base, 0o600, dir_fd=pfd)
                self.path_meta(pfd, base, member, set_mode=True)
            # Anything else (tar extensions tarfile does not map to a file type) is skipped.
        finally:
            os.close(pfd)

    def open_dir(self, parts: tuple[str, ...], *, create: bool) -> int:
        """An fd of the directory at `parts`, walked without following symlinks (made 0755 if missing)."""
        fd = os.dup(self.root)
        try:
            for i, part in enumerate(parts):
                try:
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o755, dir_fd=fd)
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                    os.fchmod(nfd, 0o755)
                except OSError as e:
                    if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    where = "/".join(parts[: i + 1])
                    raise LayerError(
                        f"{where!r} is a symlink or a file, but the layer writes beneath it"
                    ) from None
                os.close(fd)
                fd = nfd
            return fd
        except BaseException:
            os.close(fd)
            raise

    def clear(self, pfd: int, parts: tuple[str, ...], *, keep_dir: bool) -> bool:
        """Remove what an entry replaces (later entries win); returns True if a directory was kept."""
        base = parts[-1]
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(base, dir_fd=pfd)
            return False
        if keep_dir:
            return True
        shutil.rmtree(base, dir_fd=pfd)
        n = len(parts)
        for gone in [d for d in self.dirs if d[:n] == parts]:
            del self.dirs[gone]
        return False

    def regular(self, tar: tarfile.TarFile, member: tarfile.TarInfo, fd: int) -> None:
        try:
            src = tar.extractfile(member)
            if src is not None:
                with open(fd, "wb", closefd=False) as out:
                    shutil.copyfileobj(src, out, _CHUNK)
            # chown clears setuid bits and file capabilities, so it goes before chmod and xattrs.
            if self.as_root:
                os.fchown(fd, member.uid, member.gid)
            os.fchmod(fd, member.mode & 0o7777)
            self.set_xattrs(fd, member)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)

    def directory_meta(self, fd: int, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        try:
            if self.as_root:
                os.fchown(fd, member.uid, member.gid)
            self.set_xattrs(fd, member)
        finally:
            os.close(fd)
        self.dirs[parts] = (member.mode & 0o7777, member.mtime)

    def path_meta(self, pfd: int, base: str, member: tarfile.TarInfo, *, set_mode: bool) -> None:
        """Owner, mode, xattrs and mtime of an entry that cannot be opened (symlink, FIFO)."""
        if self.as_root:
            os.chown(base, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
        if set_mode:
            os.chmod(base, member.mode & 0o7777, dir_fd=pfd)
        # setxattr has no dir_fd form; /proc/self/fd/N names the directory itself, not a path to it.
        self.set_xattrs(f"/proc/self/fd/{pfd}/{base}", member)
        os.utime(base, (member.mtime, member.mtime), dir_fd=pfd, follow_symlinks=False)

    def hardlink(self, pfd: int, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        target = confine(member.linkname)
        if not target:
            raise LayerError(f"hard link {member.name!r} points at the layer root")
        if target == parts:
            return
        missing = LayerError(
            f"hard link {member.name!r} -> {member.linkname!r}: the target is not a file unpacked "
            "earlier in this layer"
        )
        try:
            tfd = self.open_dir(target[:-1], create=False)
        except FileNotFoundError:
            raise missing from None
        try:
            self.clear(pfd, parts, keep_dir=False)
            os.link(target[-1], parts[-1], src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        except (FileNotFoundError, PermissionError):
            raise missing from None
        finally:
            os.close(tfd)

    def whiteout(self, parent: tuple[str, ...], base: str, member: tarfile.TarInfo) -> None:
        pfd = self.open_dir(parent, create=True)
        try:
            if base == WHITEOUT_OPAQUE:
                try:
                    os.setxattr(pfd, OPAQUE_XATTR, b"y")
                except PermissionError as e:
                    raise LayerError(f"opaque directory {member.name!r}: marking it needs root") from e
                return
            name = base[len(WHITEOUT_PREFIX) :]
            if name.startswith(WHITEOUT_PREFIX):
                return  # AUFS bookkeeping (.wh..wh.plnk and friends); meaningless to overlayfs
            if name in ("", ".", ".."):
                raise LayerError(f"whiteout {member.name!r} names no file")
            self.clear(pfd, (*parent, name), keep_dir=False)
            try:
                os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)
            except PermissionError as e:
                raise LayerError(f"whiteout {member.name!r}: creating it needs root") from e
            if self.as_root:
                os.chown(name, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(pfd)

    def set_xattrs(self, target: int | str, member: tarfile.TarInfo) -> None:
        follow = isinstance(target, int)  # an fd is the file itself; a path must not be followed
        for key, value in member.pax_headers.items():
            if not key.startswith(_XATTR_PAX_PREFIX):
                continue
            attr = key[len(_XATTR_PAX_PREFIX) :]
            if attr.startswith("trusted.overlay."):
                continue
            try:
                # tarfile decodes PAX values with surrogateescape; this gives back the raw bytes.
                os.setxattr(target, attr, value.encode("utf-8", "surrogateescape"), follow_symlinks=follow)
            except OSError as e:
                if e.errno not in _XATTR_IGNORED:
                    raise

    def finish_dirs(self) -> None:
        # Deepest first, so a parent made unsearchable does not hide its children from us.
        for parts in sorted(self.dirs, key=len, reverse=True):
            mode, mtime = self.dirs[parts]
            try:
                fd = self.open_dir(parts, create=False)
            except (FileNotFoundError, LayerError):
                continue
            try:
                os.fchmod(fd, mode)
                os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)
