"""The private page `podrun dashboard --open` hands the browser instead of the login URL.

A browser is started with its URL on its command line, which every local user reads in /proc/<pid>/cmdline,
and could redeem the one-time code there before the browser does. So `--open` writes a page that only this user
can read (0600, in a 0700 directory: $XDG_RUNTIME_DIR/podrun, or one of its own under the temporary directory),
which redirects to the login URL, and opens that file: the command line shows a path, not the code. This is what
Jupyter does for its token. The file is replaced by the next `--open`; the code in it is good once, for two minutes.
"""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

_NAME = "dashboard-login.html"


def write_redirect(url: str) -> Path:
    """Write the page that sends the browser to `url`, readable by this user only; return its path."""
    directory = _private_directory()
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer">'
        f'<meta http-equiv="refresh" content="0;url={html.escape(url, quote=True)}">'
        "<title>podrun dashboard</title></head>\n"
        f'<body><a href="{html.escape(url, quote=True)}">Open the podrun web UI</a></body></html>\n'
    )
    fd, temporary = tempfile.mkstemp(dir=directory, suffix=".html")  # 0600, and a new inode no one else holds open
    with os.fdopen(fd, "w") as file:
        file.write(page)
    path = directory / _NAME
    os.replace(temporary, path)
    return path


def _private_directory() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        directory = Path(runtime) / "podrun"
        directory.mkdir(mode=0o700, exist_ok=True)
        if directory.stat().st_uid == os.getuid() and directory.stat().st_mode & 0o077 == 0:
            return directory
    return Path(tempfile.mkdtemp(prefix="podrun-dashboard-"))  # 0700, made for this run
