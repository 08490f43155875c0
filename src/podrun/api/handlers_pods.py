"""The pod subresources that reach the node: `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`.

The API server's part is what `pkg/registry/core/pod/strategy.go` does before it proxies to the kubelet
(`LogLocation`, `ExecLocation`, `AttachLocation`, `PortForwardLocation`): the pod must exist, a named container
must be one of the pod's, a missing one is chosen when there is no doubt, and the pod must be bound to a node.
The node's backends do the rest.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from podrun.api.context import context_of
from podrun.api.errors import ApiError, bad_request, invalid_from
from podrun.api.wire import int_query, truthy
from podrun.json_types import JSON
from podrun.model.errors import FieldError, InvalidError
from podrun.timestamps import parse_time

RFC3339_LAYOUT = "2006-01-02T15:04:05Z07:00"  # Go's time.RFC3339, named in the API server's parse errors

log = logging.getLogger(__name__)


DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
# How long `logs -f` waits for the first bytes before it answers with the headers (errors come before that).
FIRST_CHUNK_WAIT = 0.2


def container_names(pod: JSON) -> list[str]:
    """Init containers, containers and ephemeral containers, in the order `podutil.VisitContainers` visits them."""
    spec = pod.get("spec") or {}
    return [
        str(container.get("name", ""))
        for key in ("initContainers", "containers", "ephemeralContainers")
        for container in spec.get(key) or []
    ]


def choose_container(pod: JSON, container: str, *, default_annotation: bool = False) -> str:
    """`validateContainer`: the named container must be the pod's; without a name the only container is taken.

    With `default_annotation` the pod's `kubectl.kubernetes.io/default-container` (when it names one of its
    containers) is taken too, as kubectl would.
    """
    name = pod["metadata"]["name"]
    if container:
        if container not in container_names(pod):
            raise bad_request(f"container {container} is not valid for pod {name}")
        return container
    containers = (pod.get("spec") or {}).get("containers") or []
    if default_annotation:
        chosen = (pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION, "")
        if chosen and chosen in container_names(pod):
            return str(chosen)
    if len(containers) == 1:
        return str(containers[0].get("name", ""))
    if not containers:
        raise bad_request(f"a container name must be specified for pod {name}")
    # Go formats the []string with %s: "[a b c]".
    choices = " ".join(container_names(pod))
    raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{choices}]")


def _require_host(pod: JSON) -> None:
    if not (pod.get("spec") or {}).get("nodeName"):
        raise bad_request(f"pod {pod['metadata']['name']} does not have a host assigned")


def _kubelet_error(message: str) -> web.Response:
    """What the kubelet answers when it has nothing to stream from, passed through by the API server's proxy: a
    plain-text 500, which kubectl prints as `error: unable to upgrade connection: <message>`."""
    return web.Response(status=500, text=message, content_type="text/plain")


def _running(pod: JSON, container: str) -> bool:
    status = pod.get("status") or {}
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for entry in status.get(key) or []:
            if entry.get("name") == container:
                return bool((entry.get("state") or {}).get("running"))
    return False


async def pod_log(request: web.Request, namespace: str, name: str) -> web.StreamResponse:
    """`GET pods/{name}/log`: the container's output as text/plain, streamed (and kept open with `follow`)."""
    ctx = context_of(request)
    pod = ctx.store.get("pods", namespace, name)
    query = request.query
    container = choose_container(pod, query.get("container", ""))
    follow = truthy(query.get("follow", ""))
    tail_lines, since_seconds = int_query(request, "tailLines"), int_query(request, "sinceSeconds")
    limit_bytes = int_query(request, "limitBytes")
    since_time = query.get("sinceTime") or None
    _validate_log_options(name, tail_lines, since_seconds, since_time, limit_bytes)
    headers = {"Content-Type": "text/plain"}
    if not (pod.get("spec") or {}).get("nodeName"):
        # An unscheduled pod has no log yet: the API server answers with an empty body.
        return web.Response(body=b"", headers=headers)
    produced = ctx.logs.logs(
        namespace,
        pod,
        container,
        follow=follow,
        previous=truthy(query.get("previous", "")),
        timestamps=truthy(query.get("timestamps", "")),
        tail_lines=tail_lines,
        since_seconds=since_seconds,
        since_time=since_time,
        limit_bytes=limit_bytes,
    )
    chunks: AsyncIterator[bytes] = await produced if inspect.isawaitable(produced) else produced
    # Errors surface with the first chunk at the latest; wait for it (briefly when following) so that they can
    # still be answered as a Status rather than inside a 200 stream.
    first: asyncio.Future[bytes | None] = asyncio.ensure_future(anext(chunks, None))
    try:
        await asyncio.wait({first}, timeout=FIRST_CHUNK_WAIT if follow else None)
        if first.done():
            first.result()
        response = web.StreamResponse(headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            chunk = await first
            while chunk is not None:
                await response.write(chunk)
                chunk = await anext(chunks, None)
        except ApiError:
            # Too late for a Status once the stream has begun: the log just ends, as a kubelet's would.
            log.warning("log stream of pod %s/%s ended by an error", namespace, name, exc_info=True)
        return response
    finally:
        # The generator can only be closed once the pending read of it has finished.
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


async def pod_exec(request: web.Request, namespace: str, name: str, *, attach: bool) -> web.StreamResponse:
    """`pods/{name}/exec` and `pods/{name}/attach` (GET with a WebSocket upgrade, POST with SPDY)."""
    ctx = context_of(request)
    pod = ctx.store.get("pods", namespace, name)
    given = request.query.get("container", "")
    container = choose_container(pod, given, default_annotation=True)
    _require_host(pod)
    if not _running(pod, container):
        return _kubelet_error(f'container not found ("{container}")')
    if not given:
        request = request.clone(rel_url=request.rel_url.extend_query(container=container))
    # The WebSocket and SPDY code loads with the first stream: an idle server does not hold it.
    from podrun.api.streams.exec import handle_exec

    return await handle_exec(request, ctx.streams, namespace, name, attach=attach)


async def pod_portforward(request: web.Request, namespace: str, name: str) -> web.StreamResponse:
    """`pods/{name}/portforward` (GET with a WebSocket-tunnelled SPDY session, POST with SPDY)."""
    ctx = context_of(request)
    pod = ctx.store.get("pods", namespace, name)
    _require_host(pod)
    if (pod.get("status") or {}).get("phase") != "Running":
        return _kubelet_error(f'pod not found ("{name}_{namespace}")')
    from podrun.api.streams.portforward import handle_portforward

    return await handle_portforward(request, ctx.streams, namespace, name, uid=pod["metadata"].get("uid", ""))


def _validate_log_options(
    name: str, tail: int | None, since: int | None, since_time: str | None, limit: int | None
) -> None:
    """ValidatePodLogOptions: 422 `PodLogOptions "web" is invalid: ...`; a sinceTime that is no time is a 400."""
    if since_time:
        try:
            parse_time(since_time)
        except ValueError:
            raise bad_request(f'parsing time "{since_time}" as "{RFC3339_LAYOUT}": not an RFC 3339 time') from None
    errors: list[FieldError] = []
    if tail is not None and tail < 0:
        errors.append(FieldError.invalid("tailLines", tail, "must be greater than or equal to 0"))
    if limit is not None and limit < 1:
        errors.append(FieldError.invalid("limitBytes", limit, "must be greater than 0"))
    if since is not None and since_time:
        errors.append(FieldError.forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
    elif since is not None and since < 1:
        errors.append(FieldError.invalid("sinceSeconds", since, "must be greater than 0"))
    if errors:
        raise invalid_from(InvalidError("PodLogOptions", name, errors))
