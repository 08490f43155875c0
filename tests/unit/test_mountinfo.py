"""Reading /proc/self/mountinfo: the kernel's octal escapes decoded, the fields picked out (no root needed)."""

from __future__ import annotations

import os

import pytest

from podrun.runtime.linux import (
    MountEntry,
    escape_mount_field,
    parse_mountinfo,
    read_mountinfo,
    unescape_mount_field,
)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (rb"/var/lib/with\040space", "/var/lib/with space"),
        (rb"/tab\011here", "/tab\there"),
        (rb"/new\012line", "/new\nline"),
        (rb"/back\134slash", "/back\\slash"),
        (rb"/hash\043mark", "/hash#mark"),
        (rb"\040\011\012\134", " \t\n\\"),
    ],
)
def test_every_octal_escape_is_decoded(field: bytes, expected: str) -> None:
    assert unescape_mount_field(field) == expected


def test_a_field_without_escapes_is_unchanged() -> None:
    assert unescape_mount_field(b"/run/podrun/sandboxes/abc/ns/net") == "/run/podrun/sandboxes/abc/ns/net"


def test_a_backslash_not_followed_by_three_octal_digits_is_kept() -> None:
    assert unescape_mount_field(rb"/a\08b\9/c\04") == "/a\\08b\\9/c\\04"


def test_an_escaped_byte_that_is_not_utf8_survives_as_the_same_path() -> None:
    field = rb"/caf\351"
    assert os.fsencode(unescape_mount_field(field)) == b"/caf\xe9"


def test_mount_point_and_fstype_are_read_around_the_optional_fields() -> None:
    text = (
        b"36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n"
        b"37 36 0:45 / /run/pods/shm rw,nosuid - tmpfs shm rw,size=65536k\n"
    )
    assert parse_mountinfo(text) == [
        MountEntry("/mnt/with space", "ext3"),
        MountEntry("/run/pods/shm", "tmpfs"),
    ]


def test_this_process_sees_its_root_mount() -> None:
    assert any(entry.mount_point == "/" for entry in read_mountinfo())


def test_only_the_lines_naming_a_path_are_parsed_when_asked_for_it() -> None:
    text = (
        b"36 35 98:0 /mnt1 /mnt/with\\040space/pod rw,noatime master:1 - ext3 /dev/root rw\n"
        b"37 36 0:45 / /run/pods/shm rw,nosuid - tmpfs shm rw,size=65536k\n"
        b"38 36 0:46 / /mnt/without-space rw - tmpfs tmpfs rw\n"
    )
    assert parse_mountinfo(text, containing="/mnt/with space") == [MountEntry("/mnt/with space/pod", "ext3")]


@pytest.mark.parametrize("path", ["/a b", "/tab\there", "/new\nline", "/back\\slash", "/plain"])
def test_a_path_is_escaped_as_the_kernel_writes_it_and_decoded_back(path: str) -> None:
    assert unescape_mount_field(escape_mount_field(path)) == path
