"""`podrun dashboard --open`'s private redirect page: readable by its user only, wherever it is written."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

import pytest

from podrun.cli.dashboard_redirect import write_redirect

URL = "https://127.0.0.1:6444/ui/#code=abc&x=<y>"


def test_the_page_redirects_to_the_login_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    page = write_redirect(URL).read_text()
    assert f'content="0;url={html.escape(URL, quote=True)}"' in page
    assert "<y>" not in page


def test_the_page_is_this_users_only_in_the_runtime_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    path = write_redirect(URL)
    assert path.parent == tmp_path / "podrun"
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)


def test_a_shared_runtime_directory_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / "temporary").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))  # the fallback's directory goes with tmp_path
    (tmp_path / "podrun").mkdir(mode=0o755)
    (tmp_path / "podrun").chmod(0o755)
    path = write_redirect(URL)
    assert path.parent != tmp_path / "podrun" and path.parent.parent == tmp_path / "temporary"
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_without_a_runtime_directory_a_private_temporary_one_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    path = write_redirect(URL)
    try:
        assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    finally:
        path.unlink()
        path.parent.rmdir()
