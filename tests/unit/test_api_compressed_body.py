"""Large documents are kept gzip-compressed and sent that way to clients that accept gzip."""

from __future__ import annotations

import gzip
import hashlib

import pytest
from aiohttp.test_utils import make_mocked_request

from podrun.api.compressed_body import CompressedBody, accepts_gzip


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate", True),
        ("deflate, GZIP;q=0.5", True),
        ("*", True),
        ("x-gzip", True),
        ("", False),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip;q=0.0, identity", False),
        ("gzip;q=bogus", False),
    ],
)
def test_accept_encoding_admits_gzip(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


def test_the_hash_is_of_the_uncompressed_body_and_compression_is_deterministic() -> None:
    first, second = CompressedBody.of(b"{}\n" * 100), CompressedBody.of(b"{}\n" * 100)

    assert first == second
    assert gzip.decompress(first.gzipped) == b"{}\n" * 100
    assert first.sha512 == hashlib.sha512(b"{}\n" * 100).hexdigest().upper()


def test_a_gzip_client_gets_the_compressed_bytes() -> None:
    body = CompressedBody.of(b"document")
    request = make_mocked_request("GET", "/", headers={"Accept-Encoding": "gzip"})

    response = body.response(request, {"Content-Type": "application/json"})

    assert response.body == body.gzipped
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"


def test_another_client_gets_the_body_and_the_vary_header_keeps_what_was_there() -> None:
    request = make_mocked_request("GET", "/")

    response = CompressedBody.of(b"document").response(request, {"Vary": "Accept"})

    assert response.body == b"document"
    assert "Content-Encoding" not in response.headers
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
