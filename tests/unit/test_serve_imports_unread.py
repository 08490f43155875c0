"""`podrun serve`'s imports (`podrun.cli.serve_imports`), each checked in a fresh interpreter: what they leave
unread, and that TLS still works after them, with real handshakes over the loopback: serve's own TLS (as kubectl
reaches it) and a registry pull that trusts a CA given in SSL_CERT_FILE."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from podrun.api.tls import ensure_credentials
from podrun.api.tls_files import Credentials

SERVE_IMPORTS = "from podrun.cli.serve_imports import import_aiohttp\nimport_aiohttp()\n"

# An HTTPS server on the loopback with the credentials' server certificate, as `podrun serve` sets its TLS up;
# `answer(request)` is its only handler. `serving(answer)` runs it around the body.
TLS_SERVER = """
import asyncio, contextlib, ssl
from pathlib import Path
from aiohttp import web
from podrun.api.tls_files import read_credentials, server_context

credentials = read_credentials(Path(PKI))

@contextlib.asynccontextmanager
async def serving(answer):
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context(credentials))
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()
"""


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    return ensure_credentials(tmp_path_factory.mktemp("pki"))


def after_serve_imports(code: str, *, ssl_cert_file: Path | None = None, pki: Path | None = None) -> str:
    """What `code` prints, run in a fresh interpreter right after serve's imports (with SSL_CERT_FILE set
    or not), with `PKI` the credentials' directory."""
    env = {key: value for key, value in os.environ.items() if key != "SSL_CERT_FILE"}
    if ssl_cert_file is not None:
        env["SSL_CERT_FILE"] = str(ssl_cert_file)
    program = SERVE_IMPORTS + f"PKI = {str(pki)!r}\n" + code
    result = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_serve_imports_leave_the_ca_bundle_unread() -> None:
    # aiohttp's verifying context, made as it is imported: the one that would hold the bundle for good.
    code = "import aiohttp.connector\nprint(aiohttp.connector._SSL_CONTEXT_VERIFIED.cert_store_stats()['x509_ca'])"
    assert after_serve_imports(code) == "0"


def test_serve_imports_put_ssl_cert_file_back(credentials: Credentials) -> None:
    code = "import os\nprint(os.environ.get('SSL_CERT_FILE'))"
    assert after_serve_imports(code, ssl_cert_file=credentials.ca_cert) == str(credentials.ca_cert)
    assert after_serve_imports(code) == "None"


# A client that trusts the CA alone, as kubectl with serve's kubeconfig does.
GET_FROM_SERVE_TLS = (
    TLS_SERVER
    + """
from aiohttp import ClientSession

async def hello(request):
    return web.Response(text="hello")

async def main():
    kubectl_like = ssl.create_default_context(cafile=str(credentials.ca_cert))
    async with serving(hello) as port, ClientSession() as client:
        async with client.get(f"https://127.0.0.1:{port}/version", ssl=kubectl_like) as response:
            print(response.status, await response.text())

asyncio.run(main())
"""
)


def test_serve_tls_answers_a_client_that_trusts_its_ca(credentials: Credentials) -> None:
    assert after_serve_imports(GET_FROM_SERVE_TLS, pki=credentials.ca_cert.parent) == "200 hello"


# A registry that knows no image: a pull that reached it (TLS handshake and all) fails as not_found.
PULL_FROM_TLS_REGISTRY = (
    TLS_SERVER
    + """
import json, tempfile
from podrun.runtime.images.endpoints import PullError
from podrun.runtime.images.registry import pull_image
from podrun.runtime.images.registry_config import RegistryConfig
from podrun.runtime.images.store import ImageStore
from podrun.runtime.reference import parse

async def unknown(request):
    body = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
    return web.json_response(body, status=404)

async def main():
    async with serving(unknown) as port:
        try:
            await pull_image(ImageStore(Path(tempfile.mkdtemp())), parse(f"127.0.0.1:{port}/app:1"), RegistryConfig())
        except PullError as e:
            print(e.kind, "certificate verify failed" in str(e))

asyncio.run(main())
"""
)


def test_a_pull_after_serve_imports_trusts_the_ca_in_ssl_cert_file(credentials: Credentials) -> None:
    result = after_serve_imports(
        PULL_FROM_TLS_REGISTRY, ssl_cert_file=credentials.ca_cert, pki=credentials.ca_cert.parent
    )
    assert result == "not_found False"


def test_a_pull_after_serve_imports_refuses_a_registry_no_ca_vouches_for(credentials: Credentials) -> None:
    result = after_serve_imports(PULL_FROM_TLS_REGISTRY, pki=credentials.ca_cert.parent)
    assert result == "unreachable True"


def test_serve_imports_leave_the_mime_types_database_unread() -> None:
    code = "import mimetypes\nprint(mimetypes.inited, mimetypes._db)"
    assert after_serve_imports(code) == "False None"


def test_static_files_get_the_same_content_types_after_serve_imports() -> None:
    code = "from aiohttp.web_fileresponse import CONTENT_TYPES\nprint(sorted(CONTENT_TYPES.types_map[True].items()))"
    plain = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    assert after_serve_imports(code) == plain


def test_mime_types_are_read_at_the_first_guess_after_serve_imports() -> None:
    code = "import mimetypes\nprint(mimetypes.guess_type('app.webmanifest')[0], mimetypes.inited)"
    assert after_serve_imports(code) == "application/manifest+json True"
