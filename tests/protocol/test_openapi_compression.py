"""The OpenAPI documents are kept gzip-compressed: a client that accepts gzip gets those bytes as they are, one
that does not gets the same document inflated, and both see one hash and ETag."""

from __future__ import annotations

import gzip
import json

from api_harness import Server


def test_a_client_accepting_gzip_gets_the_same_v3_document_compressed(server: Server) -> None:
    plain = server.api("GET", "/openapi/v3/api/v1")
    compressed = server.api("GET", "/openapi/v3/api/v1", headers={"Accept-Encoding": "gzip"})

    assert "Content-Encoding" not in plain.headers
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed.body) == plain.body
    assert compressed.headers["ETag"] == plain.headers["ETag"]
    assert "Accept-Encoding" in compressed.headers["Vary"]


def test_the_v3_root_points_at_documents_by_the_hash_of_their_uncompressed_bytes(server: Server) -> None:
    root = server.api("GET", "/openapi/v3").json()
    url = root["paths"]["api/v1"]["serverRelativeURL"]

    document = server.api("GET", url)

    assert document.status == 200
    assert document.headers["Cache-Control"] == "public, immutable"
    assert json.loads(document.body)["openapi"] == "3.0.0"


def test_gzip_refused_with_quality_zero_gets_the_plain_v2_document(server: Server) -> None:
    answer = server.api("GET", "/openapi/v2", headers={"Accept-Encoding": "gzip;q=0, identity"})

    assert "Content-Encoding" not in answer.headers
    assert answer.json()["swagger"] == "2.0"
