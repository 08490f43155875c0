"""What `podrun serve` imports before anything else: aiohttp, without the import-time work it does not need.

`podrun.cli.main` calls `import_aiohttp()` before importing `podrun.cli.serve`, so that aiohttp (which serve's
modules import at their top) is already loaded, the lean way, when they ask for it.
"""

from __future__ import annotations

import contextlib
import importlib
import mimetypes
from collections.abc import Iterator

from podrun.cli import ca_bundle


def import_aiohttp() -> None:
    """Import aiohttp's client and server without its default TLS contexts reading the CA bundle and without
    reading the system's MIME types."""
    with ca_bundle.left_unread(), _mime_types_unread():
        importlib.import_module("aiohttp.web")


@contextlib.contextmanager
def _mime_types_unread() -> Iterator[None]:
    """`mimetypes.MimeTypes()` (aiohttp's static files make one at import) reads /etc/mime.types into the module's
    global tables first (about 0.4 MiB), although the instance starts from the built-in table alone. Marked as
    read meanwhile, the database is read by the first `mimetypes.guess_type` instead, if there ever is one."""
    if mimetypes.inited:
        yield
        return
    mimetypes.inited = True
    try:
        yield
    finally:
        mimetypes.inited = False
