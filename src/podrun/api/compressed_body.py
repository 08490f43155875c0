"""Large answer bodies that rarely change (the OpenAPI documents), kept gzip-compressed in memory.

The documents are ~280 KiB each and compress ~4.5 times; kubectl (Go's transport) and aiohttp's client ask for
gzip, so the compressed bytes go out as they are, and a client that does not gets them inflated for it.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

# Fast enough at build time (~10 ms per document); higher levels gain a few percent.
_LEVEL = 6


@dataclass(frozen=True)
class CompressedBody:
    """A body's gzip form and the SHA-512 (upper-case hex) of its uncompressed bytes, which clients see."""

    gzipped: bytes
    sha512: str

    @classmethod
    def of(cls, body: bytes) -> CompressedBody:
        """Compress `body` (mtime 0: the same body always gives the same bytes)."""
        return cls(gzip.compress(body, _LEVEL, mtime=0), hashlib.sha512(body).hexdigest().upper())

    def response(self, request: web.BaseRequest, headers: Mapping[str, str]) -> web.Response:
        """A 200 answer with `headers`: the compressed bytes when the request accepts gzip, else the body."""
        answer_headers = {**headers, "Vary": _vary(headers)}
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            return web.Response(body=self.gzipped, headers={**answer_headers, "Content-Encoding": "gzip"})
        return web.Response(body=gzip.decompress(self.gzipped), headers=answer_headers)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header admits gzip (by name or `*`, with a quality above 0)."""
    for item in accept_encoding.split(","):
        coding, _, parameters = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        name, _, value = parameters.strip().partition("=")
        if name.strip().lower() != "q":
            return True
        try:
            return float(value) > 0
        except ValueError:
            return False
    return False


def _vary(headers: Mapping[str, str]) -> str:
    existing = headers.get("Vary")
    return f"{existing}, Accept-Encoding" if existing else "Accept-Encoding"
