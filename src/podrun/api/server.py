"""`podrun serve`'s API server: the part of the Kubernetes API that kubectl needs, over aiohttp.

`create_app` builds the application: discovery and OpenAPI, the core/v1 resources of `podrun.api.registry`
(pods, events, configmaps, secrets, namespaces, nodes) with their REST verbs, watches and Tables, the pods'
log, exec, attach and port-forward subresources, bearer-token authentication and Kubernetes `Status` errors
everywhere. `run_server` serves it. The node side (the kubelet writing pod status and deleting terminated pods)
talks to the same `Store` directly.
"""

from __future__ import annotations

import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from podrun.api import handlers_auth, handlers_delete, handlers_lifecycle, handlers_pods, handlers_rest
from podrun.api.context import API_CONTEXT, ApiContext, LifecycleBackend, LogBackend, context_of
from podrun.api.discovery import (
    api_response,
    api_v1_response,
    apis_response,
    group_version_response,
    version_info,
    version_response,
)
from podrun.api.errors import ApiError, forbidden, unauthorized
from podrun.api.openapi import OpenAPI
from podrun.api.openapi_v2 import OpenAPIV2
from podrun.api.registry import GROUP_RESOURCES, RESOURCES, Resource
from podrun.api.store import Store
from podrun.api.strategy import NAMESPACE_NAME_LABEL
from podrun.api.streams.backend import StreamBackend, StreamError
from podrun.api.wire import collect_warnings, json_response, warning_header
from podrun.services.defaults import ensure_service_defaults
from podrun.services.tokens import allowed, authenticate_token, denial_detail, request_attributes

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A front middleware that vouched for a request itself (the web UI's session cookie) sets this key to True.
AUTHENTICATED = web.RequestKey("podrun.authenticated", bool)

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# The API server's limit on request bodies (3 MiB): a 1 MiB ConfigMap must fit, with its encoding.
MAX_REQUEST_BYTES = 3 * 1024 * 1024
SHUTDOWN_TIMEOUT = 2.0
_NOT_FOUND = "the server could not find the requested resource"
_METHOD_NOT_ALLOWED = "the server does not allow this method on the requested resource"
_OPENAPI_KEY = web.AppKey("podrun.openapi", OpenAPI)
_OPENAPI_V2_KEY = web.AppKey("podrun.openapi.v2", OpenAPIV2)

__all__ = ["AUTHENTICATED", "LogBackend", "create_app", "ensure_defaults", "run_server"]


def create_app(
    store: Store,
    *,
    token: str | None,
    node_name: str,
    streams: StreamBackend,
    logs: LogBackend,
    lifecycle: LifecycleBackend | None = None,
    kubernetes_version: str = "v1.32.4",
    front: Sequence[Middleware] = (),
) -> web.Application:
    """The API server as an aiohttp application over `store`.

    `token`, when set, is the bearer token every request must carry. `node_name` is the node pods are bound to.
    `kubernetes_version` is what `/version` reports (so, through the gcloud dispatcher, which kubectl runs).
    `front` middlewares run after errors become `Status` bodies and before the bearer token is checked (the web UI's
    sessions, `podrun.ui`).
    """
    version_info(kubernetes_version)  # fail early on a malformed version
    app = web.Application(middlewares=[_errors, *front, _authenticate], client_max_size=MAX_REQUEST_BYTES)
    app[API_CONTEXT] = ApiContext(store, node_name, streams, logs, kubernetes_version, token, lifecycle)
    app[_OPENAPI_KEY] = OpenAPI(kubernetes_version)
    app[_OPENAPI_V2_KEY] = OpenAPIV2(kubernetes_version)
    app.on_response_prepare.append(_no_shared_caching)
    fixed: list[tuple[str, Handler]] = [
        ("/version", _version),
        ("/api", _api),
        ("/apis", _apis),
        ("/api/v1", _api_v1),
        ("/openapi/v2", _openapi_v2),
        ("/openapi/v3", _openapi_root),
        ("/openapi/v3/api/v1", _openapi_v1),
        *((probe, _healthy) for probe in ("/healthz", "/readyz", "/livez")),
    ]
    for path, handler in fixed:
        # The API server answers every path with a trailing slash too (the Python client asks for `/version/`).
        app.router.add_get(path, handler)
        app.router.add_get(path + "/", handler)
    app.router.add_route("*", "/api/v1/{path:.+}", _dispatch)
    app.router.add_get("/apis/{group}/{version}", _group_version)
    for group_version, reviews in handlers_auth.REVIEWS.items():
        for review in reviews:
            app.router.add_route("*", f"/apis/{group_version}/{review}", _review)
    app.router.add_route("*", "/apis/{group}/{version}/{path:.+}", _dispatch)
    app.router.add_get("/openapi/v3/apis/{group}/{version}", _openapi_group)
    app.on_shutdown.append(_close)
    return app


async def run_server(app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None) -> web.AppRunner:
    """Start serving `app` on host:port (port 0: any free port, see `runner.addresses`); return the runner, whose
    `cleanup()` stops it. Handlers are cancelled when their client goes away, which ends watches and streams."""
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    return runner


def ensure_defaults(store: Store, *, api_endpoint: tuple[str, int] | None = None, ca_pem: str | None = None) -> None:
    """Create the namespaces every cluster has (`default`, `kube-system`, `kube-public`, `kube-node-lease`), the
    `kubernetes` and `kube-dns` Services and each namespace's `default` ServiceAccount.

    `api_endpoint` is the address and port pods reach the API server at (the `kubernetes` Endpoints);
    `ca_pem` the CA every namespace's `kube-root-ca.crt` ConfigMap carries.
    """
    existing = {item["metadata"]["name"] for item in store.list("namespaces", None)[0]}
    for name in DEFAULT_NAMESPACES:
        if name not in existing:
            store.create(
                "namespaces",
                {
                    "kind": "Namespace",
                    "apiVersion": "v1",
                    "metadata": {"name": name, "labels": {NAMESPACE_NAME_LABEL: name}},
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                },
            )
    ensure_service_defaults(store, api_endpoint=api_endpoint, ca_pem=ca_pem)


# --- middlewares ----------------------------------------------------------------------------------------------


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as a Kubernetes `Status`; the request's warnings as `Warning` headers."""
    warnings = collect_warnings()
    try:
        response = await handler(request)
    except ApiError as error:
        response = json_response(error.status(), status=error.code)
    except StreamError as error:
        response = error.response()
    except web.HTTPNotFound:
        response = json_response(ApiError(404, "NotFound", _NOT_FOUND, {}).status(), status=404)
    except web.HTTPMethodNotAllowed:
        response = json_response(ApiError(405, "MethodNotAllowed", _METHOD_NOT_ALLOWED, {}).status(), status=405)
    except web.HTTPRequestEntityTooLarge:
        too_large = ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_REQUEST_BYTES}")
        response = json_response(too_large.status(), status=413)
    except web.HTTPException:
        raise
    except Exception as error:
        log.exception("%s %s failed", request.method, request.path_qs)
        internal = ApiError(500, "InternalError", f"Internal error occurred: {error}")
        response = json_response(internal.status(), status=500)
    if not response.prepared:
        for text in warnings:
            response.headers.add("Warning", warning_header(text))
    return response


@web.middleware
async def _authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With a token configured, every request needs `Authorization: Bearer <token>` (even `/version`): the admin
    token may do anything; a pod's service account token only read its own namespace (403 otherwise)."""
    ctx = context_of(request)
    if ctx.token is not None and request.get(AUTHENTICATED) is not True:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        given = given.strip()
        if scheme.lower() != "bearer":
            raise unauthorized()
        if not hmac.compare_digest(given.encode(), ctx.token.encode()):
            user = authenticate_token(ctx.store, given)
            if user is None:
                raise unauthorized()
            attributes = request_attributes(request.method, request.path, request.query)
            if attributes is not None and not allowed(user, attributes):
                raise forbidden(attributes.resource, attributes.name, denial_detail(user, attributes))
            request[handlers_auth.REQUEST_USER] = user
    return await handler(request)


async def _no_shared_caching(_request: web.Request, response: web.StreamResponse) -> None:
    """`Cache-Control: no-cache, private` on every answer that sets none, as the API server's WithCacheControl
    filter does: every answer is for an authenticated client, so no shared cache may keep it and no browser may
    reuse it unchecked (the web UI reads the API with a cookie)."""
    response.headers.setdefault("Cache-Control", "no-cache, private")


async def _close(app: web.Application) -> None:
    await app[API_CONTEXT].close()


# --- fixed paths ----------------------------------------------------------------------------------------------


async def _version(request: web.Request) -> web.StreamResponse:
    return version_response(context_of(request).kubernetes_version)


async def _api(request: web.Request) -> web.StreamResponse:
    return api_response(request)


async def _apis(request: web.Request) -> web.StreamResponse:
    return apis_response(request)


async def _api_v1(_request: web.Request) -> web.StreamResponse:
    return api_v1_response()


async def _openapi_v2(request: web.Request) -> web.StreamResponse:
    return request.app[_OPENAPI_V2_KEY].response(request)


async def _openapi_root(request: web.Request) -> web.StreamResponse:
    return request.app[_OPENAPI_KEY].root()


async def _openapi_v1(request: web.Request) -> web.StreamResponse:
    return request.app[_OPENAPI_KEY].group_version(request)


async def _openapi_group(request: web.Request) -> web.StreamResponse:
    group_version = f"{request.match_info['group']}/{request.match_info['version']}"
    return request.app[_OPENAPI_KEY].group_version(request, group_version)


async def _group_version(request: web.Request) -> web.StreamResponse:
    return group_version_response(f"{request.match_info['group']}/{request.match_info['version']}")


async def _healthy(_request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok", content_type="text/plain")


async def _review(request: web.Request) -> web.StreamResponse:
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["POST"])
    _, _, group, version, review = request.path.rstrip("/").split("/")[:5]
    return await handlers_auth.create_review(request, f"{group}/{version}", review)


# --- /api/v1/... ----------------------------------------------------------------------------------------------


async def _dispatch(request: web.Request) -> web.StreamResponse:
    """Route `/api/v1/<path>` to the verb's handler: `namespaces/{ns}/{resource}[/{name}[/{subresource}]]` for
    namespaced resources, `{resource}` for all namespaces, `{resource}[/{name}[/{subresource}]]` for the
    cluster-scoped ones."""
    parts = request.match_info["path"].removesuffix("/").split("/")
    if any(not part for part in parts):
        raise web.HTTPNotFound()
    resources = RESOURCES
    if "group" in request.match_info:
        resources = GROUP_RESOURCES.get(f"{request.match_info['group']}/{request.match_info['version']}", {})
    namespace: str | None = None
    if parts[0] == "namespaces" and len(parts) >= 3 and parts[2] not in ("status", "finalize"):
        namespace, parts = parts[1], parts[2:]
    resource = resources.get(parts[0])
    if resource is None or len(parts) > 3:
        raise web.HTTPNotFound()
    if namespace is not None and not resource.namespaced:
        raise web.HTTPNotFound()
    if len(parts) == 1:
        return await _collection(request, resource, namespace)
    if resource.namespaced and namespace is None:
        # A namespaced object is only addressable within its namespace.
        raise web.HTTPNotFound()
    name = parts[1]
    if len(parts) == 2:
        return await _item(request, resource, namespace, name)
    return await _subresource(request, resource, namespace, name, parts[2])


async def _collection(request: web.Request, resource: Resource, namespace: str | None) -> web.StreamResponse:
    if request.method == "GET":
        return await handlers_rest.list_or_watch(request, resource, namespace)
    if resource.namespaced and namespace is None:
        # All namespaces can be listed and watched, not written to.
        raise web.HTTPMethodNotAllowed(request.method, ["GET"])
    if request.method == "POST":
        return await handlers_rest.create(request, resource, namespace)
    if request.method == "DELETE" and "deletecollection" in resource.verbs:
        return await handlers_delete.delete_collection(request, resource, namespace)
    raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST", "DELETE"])


async def _item(request: web.Request, resource: Resource, namespace: str | None, name: str) -> web.StreamResponse:
    method = request.method
    if method == "GET":
        return await handlers_rest.get(request, resource, namespace, name)
    if method == "PUT":
        return await handlers_rest.update(request, resource, namespace, name)
    if method == "PATCH":
        return await handlers_rest.patch(request, resource, namespace, name)
    if method == "DELETE":
        return await handlers_delete.delete(request, resource, namespace, name)
    raise web.HTTPMethodNotAllowed(method, ["GET", "PUT", "PATCH", "DELETE"])


async def _subresource(
    request: web.Request, resource: Resource, namespace: str | None, name: str, subresource: str
) -> web.StreamResponse:
    if resource.subresource(subresource) is None:
        raise web.HTTPNotFound()
    method = request.method
    if subresource in ("status", "ephemeralcontainers"):
        if method == "GET":
            return await handlers_rest.get(request, resource, namespace, name)
        if method == "PUT":
            return await handlers_rest.update(request, resource, namespace, name, subresource=subresource)
        if method == "PATCH":
            return await handlers_rest.patch(request, resource, namespace, name, subresource=subresource)
        raise web.HTTPMethodNotAllowed(method, ["GET", "PUT", "PATCH"])
    assert namespace is not None  # every other subresource is a pod's
    if subresource == "log" and method == "GET":
        return await handlers_pods.pod_log(request, namespace, name)
    if subresource == "lifecycle" and method == "GET":
        return await handlers_lifecycle.pod_lifecycle(request, namespace, name)
    if subresource in ("exec", "attach") and method in ("GET", "POST"):
        return await handlers_pods.pod_exec(request, namespace, name, attach=subresource == "attach")
    if subresource == "portforward" and method in ("GET", "POST"):
        return await handlers_pods.pod_portforward(request, namespace, name)
    raise web.HTTPMethodNotAllowed(method, ["GET", "POST"])
