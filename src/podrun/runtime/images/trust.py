"""How a pull checks registries' certificates.

Not with aiohttp's default context: that one is made when aiohttp is imported, and `podrun serve` imports aiohttp
without the CA bundle (`podrun.cli.ca_bundle`), so it would not trust a CA the user put in SSL_CERT_FILE or in a
bundle without a hashed directory. Each pull reads the CAs itself, at its first request that verifies a
certificate, and drops them with the pull: a context kept for good would hold the bundle (about 2.5 MiB) in a
serve for the rest of its life after its first pull.
"""

from __future__ import annotations

import ssl


class Trust:
    """The CAs of one pull: SSL_CERT_FILE's or the system's, read at the first request that needs them."""

    def __init__(self) -> None:
        self._context: ssl.SSLContext | None = None

    def ssl_for(self, url: str, verify: bool) -> ssl.SSLContext | bool:
        """aiohttp's `ssl` argument for a request to `url`: False for no check (or plain HTTP), else a context."""
        if not verify or not url.lower().startswith("https:"):
            return False
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context
