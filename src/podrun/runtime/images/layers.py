"""Unpacking image layers safely into overlayfs-format directories (implementation pending)."""

from __future__ import annotations

from pathlib import Path


def unpack_layer(blob: Path, dest: Path) -> str:
    """Unpack a (gzip, zstd or plain) layer tar into `dest`; return the uncompressed `sha256:` digest."""
    raise NotImplementedError
