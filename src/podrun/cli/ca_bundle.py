"""Imports that build TLS contexts, done without reading the system's CA bundle.

aiohttp makes its default client contexts when it is imported (`ssl.create_default_context()`), and OpenSSL then
parses every CA of the bundle SSL_CERT_FILE names (Debian's: 144 certificates, about 2.5 MiB of RSS), which
`podrun serve` would keep for good although it verifies no server with those contexts: its own TLS is server
side, and registry pulls read the CAs into a context of their own, which the pulls running at once share
(`podrun.runtime.images.trust`). Pointing SSL_CERT_FILE at an empty file while such imports run leaves those
contexts with the CA directory alone (SSL_CERT_DIR, read one certificate at a time when a chain is checked); the
variable is put back as it was afterwards, so every context made later reads the bundle (or the user's
SSL_CERT_FILE) as usual.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

_VARIABLE = "SSL_CERT_FILE"


@contextlib.contextmanager
def left_unread() -> Iterator[None]:
    """TLS contexts made inside read no CA bundle; SSL_CERT_FILE is restored (or unset again) on the way out."""
    before = os.environ.get(_VARIABLE)
    os.environ[_VARIABLE] = os.devnull
    try:
        yield
    finally:
        if before is None:
            del os.environ[_VARIABLE]
        else:
            os.environ[_VARIABLE] = before
