"""What `podrun serve` imports before anything else: aiohttp, without the import-time work it does not need.

`podrun.cli.main` calls `import_aiohttp()` before importing `podrun.cli.serve`, so that aiohttp (which serve's
modules import at their top) is already loaded, the lean way, when they ask for it.
"""

from __future__ import annotations

import importlib

from podrun.cli import ca_bundle


def import_aiohttp() -> None:
    """Import aiohttp's client and server without its default TLS contexts reading the CA bundle."""
    with ca_bundle.left_unread():
        importlib.import_module("aiohttp.web")
