"""The store's files hold Secrets: only root may read them, whatever the umask (issue 13, point 1)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from podrun.api.store import Store

SECRET = {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s", "namespace": "default"},
          "data": {"password": "aHVudGVyMg=="}}  # fmt: skip


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_store_and_its_wal_are_private_to_their_owner(tmp_path: Path, permissive_umask: None) -> None:
    store = Store(tmp_path / "api" / "store.db")
    store.create("secrets", SECRET)

    files = sorted((tmp_path / "api").iterdir())
    assert [f.name for f in files] == ["store.db", "store.db-shm", "store.db-wal"]
    assert {f.name: mode(f) for f in files} == dict.fromkeys(["store.db", "store.db-shm", "store.db-wal"], 0o600)
    assert mode(tmp_path / "api") == 0o700
    store.close()


def test_an_existing_store_left_readable_is_made_private_at_open(tmp_path: Path, permissive_umask: None) -> None:
    api = tmp_path / "api"
    Store(api / "store.db").close()
    api.chmod(0o755)
    (api / "store.db").chmod(0o644)

    store = Store(api / "store.db")

    assert (mode(api), mode(api / "store.db")) == (0o700, 0o600)
    store.close()
