"""How a pull checks registries' certificates.

Not with aiohttp's default context: that one is made when aiohttp is imported, and `podrun serve` imports aiohttp
without the CA bundle (`podrun.cli.ca_bundle`), so it would not trust a CA the user put in SSL_CERT_FILE or in a
bundle without a hashed directory. A pull reads the CAs at its first request that verifies a certificate. The pulls
running at that moment share one context, and it goes with the last of them: a context kept for good would hold
the bundle (about 2.5 MiB) in a serve for the rest of its life after its first pull, and one per pull made a burst
of pods with `:latest` images read the bundle once per pod (about 20 ms of the event loop and 1-2.5 MiB each,
which the allocator kept after the burst).
"""

from __future__ import annotations

import ssl
import weakref

_shared: weakref.ref[ssl.SSLContext] | None = None


def _shared_context() -> ssl.SSLContext:
    """The context of the pulls running now, or a new one when none holds it."""
    global _shared
    context = _shared() if _shared is not None else None
    if context is None:
        context = ssl.create_default_context()
        _shared = weakref.ref(context)
    return context


class Trust:
    """The CAs of one pull: SSL_CERT_FILE's or the system's, read at the first request that needs them."""

    def __init__(self) -> None:
        self._context: ssl.SSLContext | None = None

    def ssl_for(self, url: str, verify: bool) -> ssl.SSLContext | bool:
        """aiohttp's `ssl` argument for a request to `url`: False for no check (or plain HTTP), else a context."""
        if not verify or not url.lower().startswith("https:"):
            return False
        if self._context is None:
            self._context = _shared_context()
        return self._context
