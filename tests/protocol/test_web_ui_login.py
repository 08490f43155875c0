"""The web UI's login over real TLS, without root: `podrun dashboard` asks the API server for a one-time URL with
the kubeconfig's token, the browser's part (here aiohttp) posts the code from the fragment to the UI's own port and
reads the API with the session cookie it gets."""

from __future__ import annotations

import argparse
import asyncio
import io
import ssl
from collections.abc import AsyncIterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from podrun.api.kubeconfig import build_kubeconfig, write_kubeconfig
from podrun.api.server import create_app, ensure_defaults, run_server
from podrun.api.store import Store
from podrun.api.tls import ensure_credentials, server_ssl_context
from podrun.cli.dashboard import dashboard_command
from podrun.ui.routes import add_login_codes, create_ui_app, session_cookie
from podrun.ui.sessions import Sessions


@dataclass
class Servers:
    kubeconfig: Path
    ui_url: str
    tls: ssl.SSLContext

    @property
    def ui_port(self) -> int:
        return int(self.ui_url.rsplit(":", 1)[1].split("/", 1)[0])

    def api_on_ui_port(self, resource: str) -> str:
        return self.ui_url.removesuffix("/ui/") + f"/api/v1/namespaces/default/{resource}"


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Servers]:
    pki = tmp_path / "pki"
    credentials = ensure_credentials(pki)
    store = Store(tmp_path / "store.db")
    ensure_defaults(store)
    sessions = Sessions(credentials.token)
    ui = create_ui_app(
        store, sessions=sessions, node_name="node", streams=None, logs=None, lifecycle=None,  # type: ignore[arg-type]
    )  # fmt: skip
    ui_runner = await run_server(ui, "127.0.0.1", 0, server_ssl_context(pki))
    ui_url = f"https://127.0.0.1:{ui_runner.addresses[0][1]}/ui/"
    api = create_app(store, token=credentials.token, node_name="node", streams=None, logs=None)  # type: ignore[arg-type]
    add_login_codes(api, sessions, ui_url)
    api_runner = await run_server(api, "127.0.0.1", 0, server_ssl_context(pki))
    kubeconfig = tmp_path / "kubeconfig"
    server = f"https://127.0.0.1:{api_runner.addresses[0][1]}"
    write_kubeconfig(kubeconfig, build_kubeconfig(server, credentials.ca_pem(), credentials.token))
    try:
        yield Servers(kubeconfig, ui_url, ssl.create_default_context(cadata=credentials.ca_pem().decode()))
    finally:
        await api_runner.cleanup()
        await ui_runner.cleanup()
        store.close()


async def dashboard(kubeconfig: Path) -> str:
    out = io.StringIO()
    args = argparse.Namespace(kubeconfig=kubeconfig, open=False)

    def run() -> int:
        with redirect_stdout(out):
            return dashboard_command(args)

    assert await asyncio.to_thread(run) == 0
    return out.getvalue().strip()


async def test_dashboards_url_logs_a_browser_in_through_the_fragment(servers: Servers) -> None:
    url = await dashboard(servers.kubeconfig)
    page, _, fragment = url.partition("#")
    assert page == servers.ui_url and fragment.startswith("code=")
    # A browser keeps cookies of an IP address host; aiohttp only when told to.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        login = await browser.post(servers.ui_url + "session", json={"code": fragment[5:]}, ssl=servers.tls)
        assert login.status == 204
        pods = await browser.get(servers.api_on_ui_port("pods"), ssl=servers.tls)
        assert pods.status == 200
        assert (await pods.json())["kind"] == "PodList"
        assert session_cookie(servers.ui_port) in {cookie.key for cookie in browser.cookie_jar}


async def test_a_used_url_logs_no_one_in(servers: Servers) -> None:
    code = (await dashboard(servers.kubeconfig)).partition("#code=")[2]
    async with aiohttp.ClientSession() as browser:
        first = await browser.post(servers.ui_url + "session", json={"code": code}, ssl=servers.tls)
        second = await browser.post(servers.ui_url + "session", json={"code": code}, ssl=servers.tls)
    assert (first.status, second.status) == (204, 401)


async def test_the_ui_port_refuses_the_api_without_a_session(servers: Servers) -> None:
    async with aiohttp.ClientSession() as browser:
        pods = await browser.get(servers.api_on_ui_port("pods"), ssl=servers.tls)
        status = await pods.json()
    assert (pods.status, status["reason"]) == (401, "Unauthorized")


async def test_dashboard_open_hands_the_browser_a_private_page_not_the_code(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    args = argparse.Namespace(kubeconfig=servers.kubeconfig, open=True)
    assert await asyncio.to_thread(dashboard_command, args) == 0
    page = Path(opened[0].removeprefix("file://"))
    code = page.read_text().partition("#code=")[2].partition('"')[0]
    assert "code=" not in opened[0]
    assert page.stat().st_mode & 0o777 == 0o600 and page.parent.stat().st_mode & 0o777 == 0o700
    async with aiohttp.ClientSession() as browser:
        login = await browser.post(servers.ui_url + "session", json={"code": code}, ssl=servers.tls)
    assert login.status == 204
