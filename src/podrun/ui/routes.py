"""The web UI's application: the API itself (so the pages read pods, events, logs and lifecycles through the same
handlers, authorization and `Status` errors as kubectl), plus the pages, the login and the rendered timeline.

A browser authenticates with the session cookie that `POST /ui/session` sets (HttpOnly, Secure, SameSite=Strict,
named for the UI's port so two servers on one host keep their own) for a one-time code (`podrun dashboard`) or
the admin token typed into the login form. The cookie is good only for what the pages read (`podrun.ui.scope`):
anything else, writes, exec, attach, port-forward and every other resource, is 403 for it and needs the bearer
token, so no other site can make a logged-in browser write, and a cookie a browser sends to another port of the
host reads no Secret. The login takes JSON from the UI's own origin only (no cross-site form can log a browser in),
and no page may be framed. Pages and static files hold no data and are public; `/ui/data/` needs a session or
the admin token.
"""

from __future__ import annotations

import time
from pathlib import Path

from aiohttp import web

from podrun.api.context import LifecycleBackend, LogBackend, context_of
from podrun.api.errors import ApiError, bad_request, unauthorized
from podrun.api.handlers_auth import REQUEST_USER
from podrun.api.server import AUTHENTICATED, Handler, create_app
from podrun.api.store import Store
from podrun.api.streams.backend import StreamBackend
from podrun.api.wire import json_response
from podrun.kubelet.lifecycle import document
from podrun.ui.scope import UI_DATA, WHAT_A_SESSION_READS, session_may
from podrun.ui.sessions import CODE_SECONDS, LOGIN_CODES_PATH, SESSION_SECONDS, Sessions

STATIC = Path(__file__).resolve().parent / "static"
_SESSIONS_KEY = web.AppKey("podrun.ui.sessions", Sessions)
# The pages run only their own scripts and styles; the timeline is inline SVG inserted by them.
# No page may be framed (clickjacking): `frame-ancestors` for browsers that read CSP, X-Frame-Options for the rest.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_FINISHED = ("Succeeded", "Failed")
_JSON = "application/json"


def create_ui_app(
    store: Store,
    *,
    sessions: Sessions,
    node_name: str,
    streams: StreamBackend,
    logs: LogBackend,
    lifecycle: LifecycleBackend | None,
) -> web.Application:
    """The UI's application over `store` and the node's backends; `sessions` are shared with `add_login_codes`."""
    app = create_app(
        store, token=sessions.token, node_name=node_name, streams=streams, logs=logs, lifecycle=lifecycle,
        front=[_sessions_middleware],
    )  # fmt: skip
    app[_SESSIONS_KEY] = sessions
    app.on_response_prepare.append(_refuse_framing)
    app.router.add_get("/ui", _to_pods_page)
    app.router.add_get("/ui/", _page("pods.html"))
    app.router.add_get("/ui/namespaces/{namespace}/pods/{name}", _page("pod.html"))
    app.router.add_static("/ui/static/", STATIC)
    app.router.add_post("/ui/session", _log_in)
    app.router.add_delete("/ui/session", _log_out)
    app.router.add_get(UI_DATA + "namespaces/{namespace}/pods/{name}/timeline.svg", _timeline_svg)
    return app


def add_login_codes(api: web.Application, sessions: Sessions, ui_url: str) -> None:
    """`POST /ui/login-codes` on the API server (admin token only): a one-time code, and the UI's URL carrying it
    in the fragment, which `podrun dashboard` prints or opens."""

    async def issue(request: web.Request) -> web.StreamResponse:
        _refuse_service_accounts(request)
        code = sessions.issue_code()
        return json_response({"url": f"{ui_url}#code={code}", "expiresInSeconds": int(CODE_SECONDS)}, status=201)

    api.router.add_post(LOGIN_CODES_PATH, issue)


def session_cookie(port: int | None) -> str:
    """The session cookie's name on the UI reached at `port`: browsers keep one cookie jar per host, not per port,
    so two `podrun serve` on one host would otherwise overwrite (log out) each other's sessions."""
    return f"podrun-ui-session-{port or 443}"


@web.middleware
async def _sessions_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if path.startswith(UI_DATA) or not (path == "/ui" or path.startswith("/ui/")):
        if "Authorization" not in request.headers and _session(request):
            if not session_may(request.method, path, request.query):
                raise ApiError(
                    403, "Forbidden",
                    f"forbidden: the web UI's session may only read {WHAT_A_SESSION_READS}; "
                    f"{request.method} {path} needs the bearer token",
                )  # fmt: skip
            request[AUTHENTICATED] = True
    else:
        request[AUTHENTICATED] = True  # the pages and the login hold no data
    return await handler(request)


def _session(request: web.Request) -> bool:
    cookie = request.cookies.get(_cookie_name(request), "")
    return bool(cookie) and request.app[_SESSIONS_KEY].valid(cookie)


def _cookie_name(request: web.Request) -> str:
    # The port the browser reached (the Host header's), which is what its cookie jar shares between servers.
    return session_cookie(request.url.port)


async def _refuse_framing(_request: web.Request, response: web.StreamResponse) -> None:
    """Every answer of the UI's port refuses to be framed: the pages, and also the timeline SVG and any `Status`."""
    response.headers.setdefault("X-Frame-Options", "DENY")


def _refuse_service_accounts(request: web.Request) -> None:
    """Only the admin token (or a session it made) may log in or read UI data: a pod's token may not."""
    if REQUEST_USER in request:
        raise ApiError(403, "Forbidden", "forbidden: the web UI is for the cluster's admin token only")


async def _to_pods_page(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/ui/")


def _page(name: str) -> Handler:
    async def page(_request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / name, headers=_PAGE_HEADERS)

    return page


async def _log_in(request: web.Request) -> web.StreamResponse:
    """Exchange `{"code": ...}` (from `podrun dashboard`) or `{"token": ...}` (the login form) for a session.

    Only as JSON from the UI's own origin: a cross-site HTML form can send neither `application/json` nor our
    Origin, so no other site can log a browser in (login CSRF). Requests without Origin (non-browser clients,
    which CSRF is not about) are taken."""
    _require_own_origin(request)
    if request.content_type != _JSON:
        raise ApiError(415, "UnsupportedMediaType", f"the login is {_JSON}, not {request.content_type!r}")
    try:
        body = await request.json()
    except ValueError:
        raise bad_request("the login is a JSON object with a code or a token") from None
    if not isinstance(body, dict):
        raise bad_request("the login is a JSON object with a code or a token")
    sessions = request.app[_SESSIONS_KEY]
    code, token = body.get("code"), body.get("token")
    session = None
    if isinstance(code, str):
        session = sessions.redeem_code(code)
    elif isinstance(token, str):
        session = sessions.redeem_token(token)
    if session is None:
        raise unauthorized()
    response = web.Response(status=204)
    response.set_cookie(
        _cookie_name(request),
        session,
        path="/",
        max_age=int(SESSION_SECONDS),
        secure=True,
        httponly=True,
        samesite="Strict",
    )
    return response


async def _log_out(request: web.Request) -> web.StreamResponse:
    _require_own_origin(request)
    name = _cookie_name(request)
    request.app[_SESSIONS_KEY].end(request.cookies.get(name, ""))
    response = web.Response(status=204)
    response.del_cookie(name, path="/", secure=True, httponly=True, samesite="Strict")
    return response


def _require_own_origin(request: web.Request) -> None:
    """403 for a browser request from another origin; that includes another port of the same host, such as a pod
    served through `kubectl port-forward`, which SameSite does not tell apart (it is the same site)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() != f"{request.scheme}://{request.host}".lower():
        raise ApiError(403, "Forbidden", f"forbidden: the web UI takes logins from its own origin only, not {origin}")


async def _timeline_svg(request: web.Request) -> web.StreamResponse:
    """The pod's lifecycle chart as SVG (`podrun.printers.timeline.render_svg`); a running pod's bars reach now."""
    # The renderer brings rich (its colours), which the server needs nowhere else: loaded on the first chart.
    from podrun.printers.timeline import render_svg

    _refuse_service_accounts(request)
    ctx = context_of(request)
    pod = ctx.store.get("pods", request.match_info["namespace"], request.match_info["name"])
    records = ctx.lifecycle.records(pod["metadata"].get("uid", ""))[0] if ctx.lifecycle is not None else []
    finished = (pod.get("status") or {}).get("phase") in _FINISHED
    svg = render_svg(document(pod, records), now=None if finished else time.time())
    return web.Response(text=svg, content_type="image/svg+xml", headers={"Cache-Control": "no-store"})
