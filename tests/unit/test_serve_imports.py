"""`podrun serve` loads only what an idle server uses: every module it imports stays resident for the server's life.

Each check runs in a fresh interpreter and looks at `sys.modules` afterwards. `cryptography` (~10 MiB resident)
runs in a short-lived child that makes the TLS files; rich comes with the web UI's first timeline chart; the
OpenAPI documents (and gnostic's protobuf encoder) are built on their first request; the WebSocket and SPDY code
loads with the first exec, attach or port-forward.
"""

from __future__ import annotations

from fresh_imports import modules_loaded_after

HEAVY = (
    "cryptography",
    "rich",
    "podrun.printers.timeline",
    "podrun.api.openapi_proto",
    "podrun.api.tls",
    "podrun.api.streams.exec",
    "podrun.api.streams.portforward",
    "podrun.api.streams.spdy",
    "podrun.api.streams.websocket",
)


def loaded_after(code: str) -> list[str]:
    """The HEAVY modules (or their submodules) loaded once `code` has run in a fresh interpreter."""
    return modules_loaded_after(code, HEAVY)


def test_the_serve_command_loads_no_certificate_library_rich_or_document_encoder() -> None:
    assert loaded_after("import podrun.cli.main, podrun.cli.serve") == []


def test_building_both_applications_builds_no_openapi_document(tmp_path: object) -> None:
    loaded = loaded_after(
        f"""
        from pathlib import Path
        from podrun.api.openapi import _documents
        from podrun.api.openapi_v2 import _forms
        from podrun.api.server import create_app
        from podrun.api.store import Store
        from podrun.ui.routes import create_ui_app
        from podrun.ui.sessions import Sessions

        store = Store(Path({str(tmp_path)!r}) / "store.db")
        backends = dict(streams=None, logs=None, lifecycle=None)
        create_app(store, token="t", node_name="node", **backends)
        create_ui_app(store, sessions=Sessions("t"), node_name="node", **backends)
        assert _documents.cache_info().currsize == 0 and _forms.cache_info().currsize == 0
        """
    )

    assert loaded == []
