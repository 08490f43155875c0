"""The web UI's application: public pages, the login, and data only for a session or the admin token.

The browser test (tests/integration/test_web_ui.py) drives the pages themselves; here the routes and their
authentication are checked in process, without a browser or root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from podrun.api.server import create_app
from podrun.api.store import Store
from podrun.json_types import JSON
from podrun.services.tokens import issue_token
from podrun.ui.routes import add_login_codes, create_ui_app, session_cookie
from podrun.ui.sessions import LOGIN_CODES_PATH, Sessions

TOKEN = "admin-token"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
       "spec": {"nodeName": "node", "containers": [{"name": "app", "image": "busybox"}]}}  # fmt: skip
TIMELINE = "/ui/data/namespaces/default/pods/web/timeline.svg"


class _Lifecycle:
    def records(self, uid: str) -> tuple[list[JSON], int]:
        started = {"time": "2026-12-05T17:08:39.000000Z", "container": "app", "type": "Started", "run": 0}
        return [started], 1

    async def wait_beyond(self, uid: str, total: int, timeout: float) -> None:
        return None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "store.db")
    store.create("pods", POD)
    yield store
    store.close()


@pytest.fixture
async def client(store: Store) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = create_ui_app(
        store, sessions=Sessions(TOKEN), node_name="node", streams=None, logs=None,  # type: ignore[arg-type]
        lifecycle=_Lifecycle(),
    )  # fmt: skip
    async with TestClient(TestServer(app)) as client:
        yield client


async def log_in(client: TestClient[Any, Any], **body: str) -> str:
    response = await client.post("/ui/session", json=body)
    assert response.status == 204, await response.text()
    return response.cookies[session_cookie(client.port)].value


async def session_header(client: TestClient[Any, Any]) -> dict[str, str]:
    """A new session's cookie, as the browser sends it back."""
    return {"Cookie": f"{session_cookie(client.port)}={await log_in(client, token=TOKEN)}"}


async def test_the_pages_and_their_files_need_no_login(client: TestClient[Any, Any]) -> None:
    for path in ("/ui/", "/ui/namespaces/default/pods/web", "/ui/static/pods.js", "/ui/static/ui.css"):
        response = await client.get(path)
        assert response.status == 200, path


async def test_the_pages_run_only_their_own_scripts(client: TestClient[Any, Any]) -> None:
    response = await client.get("/ui/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


async def test_the_api_without_a_session_is_refused_with_a_status(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/namespaces/default/pods")
    status = await response.json()
    assert response.status == 401
    assert (status["kind"], status["reason"]) == ("Status", "Unauthorized")


async def test_the_timeline_without_a_session_is_refused(client: TestClient[Any, Any]) -> None:
    response = await client.get(TIMELINE)
    assert response.status == 401


async def test_a_wrong_token_gets_no_session(client: TestClient[Any, Any]) -> None:
    response = await client.post("/ui/session", json={"token": "guess"})
    assert response.status == 401
    assert session_cookie(client.port) not in response.cookies


async def test_a_login_that_is_no_json_object_is_a_bad_request(client: TestClient[Any, Any]) -> None:
    response = await client.post("/ui/session", data=b"[1]", headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["reason"] == "BadRequest"


async def test_the_session_cookie_is_httponly_secure_and_same_site_strict(client: TestClient[Any, Any]) -> None:
    response = await client.post("/ui/session", json={"token": TOKEN})
    cookie = response.cookies[session_cookie(client.port)]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Strict"


async def test_a_session_reads_the_api(client: TestClient[Any, Any]) -> None:
    cookie = await session_header(client)
    response = await client.get("/api/v1/namespaces/default/pods/web", headers=cookie)
    assert response.status == 200
    assert (await response.json())["metadata"]["name"] == "web"


async def test_a_session_cannot_write(client: TestClient[Any, Any]) -> None:
    response = await client.delete("/api/v1/namespaces/default/pods/web", headers=await session_header(client))
    assert response.status == 403
    assert (await response.json())["reason"] == "Forbidden"


@pytest.mark.parametrize("subresource", ["exec?command=sh", "attach", "portforward?ports=80"])
async def test_a_session_cannot_act_in_a_pod(client: TestClient[Any, Any], subresource: str) -> None:
    response = await client.get(
        f"/api/v1/namespaces/default/pods/web/{subresource}", headers=await session_header(client)
    )
    assert response.status == 403


async def test_the_bearer_token_still_works_on_the_ui_port(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/namespaces/default/pods", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200


async def test_a_session_gets_the_timeline_as_svg(client: TestClient[Any, Any]) -> None:
    response = await client.get(TIMELINE, headers=await session_header(client))
    svg = await response.text()
    assert response.content_type == "image/svg+xml"
    assert svg.startswith("<svg") and 'class="run going" data-container="app"' in svg


async def test_the_timeline_of_an_unknown_pod_is_not_found(client: TestClient[Any, Any]) -> None:
    response = await client.get(
        "/ui/data/namespaces/default/pods/nobody/timeline.svg", headers=await session_header(client)
    )
    assert response.status == 404
    assert (await response.json())["reason"] == "NotFound"


async def test_a_logged_out_session_is_refused(client: TestClient[Any, Any]) -> None:
    cookie = await session_header(client)
    await client.delete("/ui/session", headers=cookie)
    response = await client.get("/api/v1/namespaces/default/pods", headers=cookie)
    assert response.status == 401


# --- the login codes on the API server ----------------------------------------------------------------------


@pytest.fixture
async def api_and_ui(store: Store) -> AsyncIterator[tuple[TestClient[Any, Any], TestClient[Any, Any]]]:
    sessions = Sessions(TOKEN)
    api = create_app(store, token=TOKEN, node_name="node", streams=None, logs=None)  # type: ignore[arg-type]
    ui = create_ui_app(
        store, sessions=sessions, node_name="node", streams=None, logs=None, lifecycle=None,  # type: ignore[arg-type]
    )  # fmt: skip
    add_login_codes(api, sessions, "https://127.0.0.1:6444/ui/")
    async with TestClient(TestServer(api)) as api_client, TestClient(TestServer(ui)) as ui_client:
        yield api_client, ui_client


async def test_the_admin_token_gets_a_url_with_a_code_in_its_fragment(api_and_ui: tuple[Any, Any]) -> None:
    api, ui = api_and_ui
    response = await api.post(LOGIN_CODES_PATH, headers={"Authorization": f"Bearer {TOKEN}"})
    url = (await response.json())["url"]
    assert response.status == 201
    assert url.startswith("https://127.0.0.1:6444/ui/#code=")
    session = await log_in(ui, code=url.split("#code=", 1)[1])
    assert session


async def test_login_codes_need_the_token(api_and_ui: tuple[Any, Any]) -> None:
    api, _ = api_and_ui
    response = await api.post(LOGIN_CODES_PATH)
    assert response.status == 401


async def test_a_pods_service_account_token_gets_no_login_code(store: Store, api_and_ui: tuple[Any, Any]) -> None:
    api, _ = api_and_ui
    token = issue_token(store, store.get("pods", "default", "web"))
    response = await api.post(LOGIN_CODES_PATH, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 403


# --- what a session may read, the login's origin, framing and caching ----------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/namespaces", "/api/v1/namespaces/default/pods", "/api/v1/namespaces/default/events",
     "/api/v1/namespaces/default/pods/web/lifecycle"],
)  # fmt: skip
async def test_a_session_reads_what_the_pages_show(client: TestClient[Any, Any], path: str) -> None:
    response = await client.get(path, headers=await session_header(client))
    assert response.status == 200, await response.text()


@pytest.mark.parametrize(
    "path",
    ["/api/v1/namespaces/default/secrets", "/api/v1/secrets", "/api/v1/namespaces/default/configmaps",
     "/api/v1/nodes", "/apis/apps/v1/deployments", "/version"],
)  # fmt: skip
async def test_a_session_reads_nothing_else(client: TestClient[Any, Any], path: str) -> None:
    response = await client.get(path, headers=await session_header(client))
    assert response.status == 403
    assert (await response.json())["reason"] == "Forbidden"


async def test_the_bearer_token_still_reads_secrets_on_the_ui_port(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/namespaces/default/secrets", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200


async def test_the_session_cookie_is_named_for_the_ui_port(client: TestClient[Any, Any]) -> None:
    session = await log_in(client, token=TOKEN)
    other_servers = {"Cookie": f"{session_cookie(client.port + 1)}={session}"}
    response = await client.get("/api/v1/namespaces/default/pods", headers=other_servers)
    assert response.status == 401


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
async def test_a_login_that_is_not_json_is_refused(client: TestClient[Any, Any], content_type: str) -> None:
    body = f'{{"token": "{TOKEN}"}}'.encode()
    response = await client.post("/ui/session", data=body, headers={"Content-Type": content_type})
    assert response.status == 415
    assert session_cookie(client.port) not in response.cookies


@pytest.mark.parametrize("origin", ["https://evil.example", "https://127.0.0.1:8443", "null"])
async def test_a_login_from_another_origin_is_refused(client: TestClient[Any, Any], origin: str) -> None:
    response = await client.post("/ui/session", json={"token": TOKEN}, headers={"Origin": origin})
    assert response.status == 403
    assert session_cookie(client.port) not in response.cookies


async def test_a_login_from_the_uis_own_origin_is_taken(client: TestClient[Any, Any]) -> None:
    origin = f"http://{client.host}:{client.port}"  # the test server is plain HTTP
    response = await client.post("/ui/session", json={"token": TOKEN}, headers={"Origin": origin})
    assert response.status == 204


@pytest.mark.parametrize("path", ["/ui/", "/ui/namespaces/default/pods/web"])
async def test_the_pages_refuse_to_be_framed(client: TestClient[Any, Any], path: str) -> None:
    response = await client.get(path)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_the_timeline_refuses_to_be_framed(client: TestClient[Any, Any]) -> None:
    response = await client.get(TIMELINE, headers=await session_header(client))
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_api_answers_read_with_a_session_are_not_cached(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/namespaces/default/pods", headers=await session_header(client))
    assert response.headers["Cache-Control"] == "no-cache, private"


async def test_the_pages_keep_their_no_store(client: TestClient[Any, Any]) -> None:
    response = await client.get("/ui/")
    assert response.headers["Cache-Control"] == "no-store"


async def test_the_api_port_answers_are_not_cached_either(api_and_ui: tuple[Any, Any]) -> None:
    api, _ = api_and_ui
    response = await api.get("/api/v1/namespaces", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.headers["Cache-Control"] == "no-cache, private"
