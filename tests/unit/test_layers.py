"""Unpacking layer tars into overlayfs-format directories, including hostile tars."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import zstandard

from podrun.runtime.images import layers
from podrun.runtime.images.layers import LayerError, diff_id, unpack_layer

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, trusted xattrs, chown)")
MTIME = 1_600_000_000


@dataclass
class Entry:
    """One tar entry to build."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    mode: int = 0o644
    linkname: str = ""
    uid: int = 0
    gid: int = 0
    mtime: int = MTIME
    pax: dict[str, str] = field(default_factory=dict)
    devmajor: int = 0
    devminor: int = 0


def tar_bytes(*entries: Entry) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type, info.mode, info.linkname = e.type, e.mode, e.linkname
            info.uid, info.gid, info.mtime = e.uid, e.gid, e.mtime
            info.devmajor, info.devminor = e.devmajor, e.devminor
            info.pax_headers = e.pax
            info.size = len(e.data) if e.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(e.data) if info.size else None)
    return buf.getvalue()


def write_blob(path: Path, raw: bytes, compression: str = "") -> Path:
    if compression == "gzip":
        raw = gzip.compress(raw)
    elif compression == "zstd":
        raw = zstandard.ZstdCompressor().compress(raw)
    path.write_bytes(raw)
    return path


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def unpack(tmp_path: Path, *entries: Entry) -> Path:
    dest = tmp_path / "layer"
    unpack_layer(write_blob(tmp_path / "blob", tar_bytes(*entries)), dest)
    return dest


def xattrs_supported(path: Path) -> bool:
    try:
        os.setxattr(path, "user.probe", b"1")
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            return False
        raise
    os.removexattr(path, "user.probe")
    return True


# -- formats and diff IDs --------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["", "gzip", "zstd"])
def test_diff_id_is_digest_of_the_uncompressed_stream(tmp_path: Path, compression: str) -> None:
    raw = tar_bytes(Entry("hello.txt", b"hello\n"))
    blob = write_blob(tmp_path / "blob", raw, compression)

    assert unpack_layer(blob, tmp_path / "layer") == sha(raw)
    assert (tmp_path / "layer" / "hello.txt").read_bytes() == b"hello\n"


def test_diff_id_covers_everything_after_the_end_of_the_tar(tmp_path: Path) -> None:
    raw = tar_bytes(Entry("f", b"x")) + b"\0" * 20480
    blob = write_blob(tmp_path / "blob", raw, "gzip")

    assert unpack_layer(blob, tmp_path / "layer") == sha(raw)


def test_diff_id_without_unpacking_matches_unpack(tmp_path: Path) -> None:
    raw = tar_bytes(Entry("f", b"x"))

    assert diff_id(write_blob(tmp_path / "blob", raw, "zstd")) == sha(raw)


def test_docker_empty_layer_unpacks_to_an_empty_directory(tmp_path: Path) -> None:
    blob = write_blob(tmp_path / "blob", b"\0" * 1024)

    digest = unpack_layer(blob, tmp_path / "layer")

    assert digest == "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
    assert list((tmp_path / "layer").iterdir()) == []


def test_blob_that_is_not_a_tar_is_a_layer_error(tmp_path: Path) -> None:
    blob = write_blob(tmp_path / "blob", os.urandom(4096))

    with pytest.raises(LayerError, match="not a valid layer tar"):
        unpack_layer(blob, tmp_path / "layer")


def test_truncated_gzip_layer_is_a_layer_error(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(gzip.compress(tar_bytes(Entry("f", os.urandom(50_000))))[:-100])

    with pytest.raises(LayerError):
        unpack_layer(blob, tmp_path / "layer")


# -- what is written -------------------------------------------------------------------------------------


def test_file_content_mode_and_mtime_are_preserved(tmp_path: Path) -> None:
    dest = unpack(tmp_path, Entry("bin/tool", b"#!/bin/sh\n", mode=0o4755, mtime=1_234_567_890))

    st = os.stat(dest / "bin" / "tool")
    assert (dest / "bin" / "tool").read_bytes() == b"#!/bin/sh\n"
    assert stat.S_IMODE(st.st_mode) == 0o4755
    assert st.st_mtime == 1_234_567_890


def test_directory_mode_and_mtime_are_applied_after_its_contents(tmp_path: Path) -> None:
    dest = unpack(
        tmp_path,
        Entry("ro", type=tarfile.DIRTYPE, mode=0o555, mtime=1_111_111_111),
        Entry("ro/file", b"data"),
    )

    st = os.stat(dest / "ro")
    assert (dest / "ro" / "file").read_bytes() == b"data"
    assert stat.S_IMODE(st.st_mode) == 0o555
    assert st.st_mtime == 1_111_111_111


def test_missing_parent_directories_are_created_0755(tmp_path: Path) -> None:
    dest = unpack(tmp_path, Entry("a/b/c", b"x"))

    assert stat.S_IMODE(os.stat(dest / "a" / "b").st_mode) == 0o755


def test_symlink_is_written_verbatim_with_its_absolute_target(tmp_path: Path) -> None:
    dest = unpack(tmp_path, Entry("etc/localtime", type=tarfile.SYMTYPE, linkname="/usr/share/zoneinfo/UTC"))

    assert os.readlink(dest / "etc" / "localtime") == "/usr/share/zoneinfo/UTC"
    assert os.lstat(dest / "etc" / "localtime").st_mtime == MTIME


def test_hardlink_to_an_earlier_file_shares_its_inode(tmp_path: Path) -> None:
    dest = unpack(tmp_path, Entry("a", b"same"), Entry("b", type=tarfile.LNKTYPE, linkname="a"))

    assert os.stat(dest / "a").st_ino == os.stat(dest / "b").st_ino


def test_later_entry_replaces_an_earlier_one_of_another_type(tmp_path: Path) -> None:
    dest = unpack(
        tmp_path,
        Entry("x", b"file"),
        Entry("x", type=tarfile.DIRTYPE, mode=0o755),
        Entry("x/inner", b"in"),
        Entry("y", type=tarfile.DIRTYPE, mode=0o755),
        Entry("y/inner", b"in"),
        Entry("y", type=tarfile.SYMTYPE, linkname="x"),
    )

    assert (dest / "x" / "inner").read_bytes() == b"in"
    assert os.readlink(dest / "y") == "x"


def test_fifo_is_created(tmp_path: Path) -> None:
    dest = unpack(tmp_path, Entry("run/pipe", type=tarfile.FIFOTYPE, mode=0o620))

    st = os.lstat(dest / "run" / "pipe")
    assert stat.S_ISFIFO(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o620


def test_device_nodes_are_skipped(tmp_path: Path) -> None:
    dest = unpack(
        tmp_path,
        Entry("dev/sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0),
        Entry("dev/mem", type=tarfile.CHRTYPE, devmajor=1, devminor=1),
        Entry("dev/keep", b"ok"),
    )

    assert sorted(p.name for p in (dest / "dev").iterdir()) == ["keep"]


def test_xattrs_from_pax_headers_are_set(tmp_path: Path) -> None:
    if not xattrs_supported(tmp_path):
        pytest.skip("the filesystem of tmp_path has no user xattrs")
    dest = unpack(tmp_path, Entry("f", b"x", pax={"SCHILY.xattr.user.note": "hello"}))

    assert os.getxattr(dest / "f", "user.note") == b"hello"


def test_xattr_the_filesystem_refuses_is_ignored(tmp_path: Path) -> None:
    dest = unpack(tmp_path, Entry("f", b"x", pax={"SCHILY.xattr.bogus.namespace": "v"}))

    assert (dest / "f").read_bytes() == b"x"


@needs_root
def test_overlay_xattrs_in_the_tar_are_dropped(tmp_path: Path) -> None:
    dest = unpack(
        tmp_path, Entry("d", type=tarfile.DIRTYPE, pax={"SCHILY.xattr.trusted.overlay.redirect": "/etc"})
    )

    assert "trusted.overlay.redirect" not in os.listxattr(dest / "d")


@needs_root
def test_owner_comes_from_the_tar_when_root(tmp_path: Path) -> None:
    dest = unpack(
        tmp_path,
        Entry("d", type=tarfile.DIRTYPE, uid=1001, gid=1002),
        Entry("d/f", b"x", uid=1003, gid=1004, mode=0o2755),
        Entry("d/l", type=tarfile.SYMTYPE, linkname="/nowhere", uid=1005, gid=1006),
    )

    assert (os.stat(dest / "d").st_uid, os.stat(dest / "d").st_gid) == (1001, 1002)
    assert (os.stat(dest / "d" / "f").st_uid, os.stat(dest / "d" / "f").st_gid) == (1003, 1004)
    assert stat.S_IMODE(os.stat(dest / "d" / "f").st_mode) == 0o2755
    assert (os.lstat(dest / "d" / "l").st_uid, os.lstat(dest / "d" / "l").st_gid) == (1005, 1006)


# -- whiteouts -------------------------------------------------------------------------------------------


@needs_root
def test_whiteout_file_becomes_a_0_0_character_device(tmp_path: Path) -> None:
    dest = unpack(tmp_path, Entry("etc/.wh.motd"))

    st = os.lstat(dest / "etc" / "motd")
    assert stat.S_ISCHR(st.st_mode)
    assert st.st_rdev == os.makedev(0, 0)
    assert not (dest / "etc" / ".wh.motd").exists()


@needs_root
def test_opaque_marker_sets_the_overlay_opaque_xattr(tmp_path: Path) -> None:
    dest = unpack(tmp_path, Entry("var/cache", type=tarfile.DIRTYPE), Entry("var/cache/.wh..wh..opq"))

    assert os.getxattr(dest / "var" / "cache", "trusted.overlay.opaque") == b"y"
    assert list((dest / "var" / "cache").iterdir()) == []


def test_whiteout_that_cannot_be_created_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(layers.os, "mknod", refuse)

    with pytest.raises(LayerError, match=r"whiteout 'etc/\.wh\.motd': creating it needs root"):
        unpack(tmp_path, Entry("etc/.wh.motd"))


def test_aufs_bookkeeping_entries_are_skipped(tmp_path: Path) -> None:
    dest = unpack(tmp_path, Entry(".wh..wh.plnk", type=tarfile.DIRTYPE), Entry(".wh..wh.aufs", b""))

    assert list(dest.iterdir()) == []


# -- hostile tars ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/../evil"])
def test_entry_escaping_through_dotdot_is_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(LayerError, match="points outside the layer"):
        unpack(tmp_path, Entry(name, b"pwned"))

    assert not (tmp_path / "evil").exists()


def test_dotdot_that_stays_inside_the_layer_is_resolved(tmp_path: Path) -> None:
    dest = unpack(tmp_path, Entry("a/../b", b"x"))

    assert (dest / "b").read_bytes() == b"x"


def test_absolute_entry_is_confined_to_the_layer(tmp_path: Path) -> None:
    dest = unpack(tmp_path, Entry(str(tmp_path / "evil"), b"x"))

    assert (dest / str(tmp_path).lstrip("/") / "evil").read_bytes() == b"x"
    assert not (tmp_path / "evil").exists()


def test_write_through_an_absolute_symlink_parent_is_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()

    with pytest.raises(LayerError, match="symlink"):
        unpack(tmp_path, Entry("a", type=tarfile.SYMTYPE, linkname=str(outside)), Entry("a/evil", b"x"))

    assert list(outside.iterdir()) == []


def test_write_through_a_relative_symlink_parent_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="symlink"):
        unpack(tmp_path, Entry("a", type=tarfile.SYMTYPE, linkname="../../.."), Entry("a/evil", b"x"))

    assert not (tmp_path / "layer" / "a" / ".." / ".." / ".." / "evil").exists()


def test_directory_entry_through_a_symlink_parent_is_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()

    with pytest.raises(LayerError, match="symlink"):
        unpack(
            tmp_path,
            Entry("a", type=tarfile.SYMTYPE, linkname=str(outside)),
            Entry("a/sub", type=tarfile.DIRTYPE, mode=0o777),
        )

    assert list(outside.iterdir()) == []


def test_symlink_as_the_final_component_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"original")

    dest = unpack(tmp_path, Entry("f", type=tarfile.SYMTYPE, linkname=str(victim)), Entry("f", b"new"))

    assert victim.read_bytes() == b"original"
    assert (dest / "f").read_bytes() == b"new"


@pytest.mark.parametrize("linkname", ["../../etc/passwd", "a/../../x"])
def test_hardlink_escaping_the_layer_is_rejected(tmp_path: Path, linkname: str) -> None:
    with pytest.raises(LayerError, match="points outside the layer"):
        unpack(tmp_path, Entry("x", type=tarfile.LNKTYPE, linkname=linkname))


def test_hardlink_to_a_host_path_not_in_the_layer_is_rejected(tmp_path: Path) -> None:
    host_file = tmp_path / "secret"
    host_file.write_bytes(b"secret")

    with pytest.raises(LayerError, match="not a file unpacked earlier"):
        unpack(tmp_path, Entry("x", type=tarfile.LNKTYPE, linkname=str(host_file)))

    assert os.stat(host_file).st_nlink == 1


def test_hardlink_through_a_symlink_parent_is_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")

    with pytest.raises(LayerError, match="symlink"):
        unpack(
            tmp_path,
            Entry("a", type=tarfile.SYMTYPE, linkname=str(outside)),
            Entry("x", type=tarfile.LNKTYPE, linkname="a/secret"),
        )

    assert os.stat(outside / "secret").st_nlink == 1


def test_whiteout_through_a_symlink_parent_is_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"keep")

    with pytest.raises(LayerError, match="symlink"):
        unpack(tmp_path, Entry("a", type=tarfile.SYMTYPE, linkname=str(outside)), Entry("a/.wh.keep"))

    assert (outside / "keep").read_bytes() == b"keep"
