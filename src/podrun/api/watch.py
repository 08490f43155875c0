"""Watches: `GET <collection>?watch=true`, streamed as newline-delimited JSON events.

Each event is `{"type": ..., "object": ...}` followed by a newline and flushed at once. With a Table Accept
(`kubectl get -w`) every object is a one-row Table. `timeoutSeconds` ends the stream cleanly (informers then
watch again from their last resourceVersion); without it the stream stays open until the client leaves or the
server stops, because `kubectl get -w` exits silently when its stream ends. A resourceVersion too old for the
store's history is reported as an `ERROR` event with a 410 Status, as the watch cache does.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from aiohttp import web

from podrun.api.errors import ApiError, bad_request
from podrun.api.registry import Resource
from podrun.api.tables import include_object, table
from podrun.api.wire import TABLE, Output, encode_json, truthy

if TYPE_CHECKING:
    from podrun.api.context import ApiContext

JSON = dict[str, Any]

async def serve_watch(
    request: web.Request, ctx: ApiContext, resource: Resource, namespace: str | None, output: Output
) -> web.StreamResponse:
    """Stream the changes of a collection from the requested resourceVersion."""
    query = request.query
    timeout = _timeout(query.get("timeoutSeconds", ""))
    include = include_object(query.get("includeObject", "")) if output.as_kind == TABLE else ""
    watch = ctx.store.watch(
        resource.name,
        namespace,
        resource_version=query.get("resourceVersion", ""),
        label_selector=query.get("labelSelector", ""),
        field_selector=query.get("fieldSelector", ""),
        allow_bookmarks=truthy(query.get("allowWatchBookmarks", "")),
    )
    ctx.watches.add(watch)
    try:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            async with asyncio.timeout(timeout):
                await _stream(response, watch, resource, output, include)
        return response
    finally:
        watch.close()
        ctx.watches.discard(watch)


async def _stream(response: web.StreamResponse, watch: Any, resource: Resource, output: Output, include: str) -> None:
    try:
        async for event in watch:
            obj = resource.typed(event.object) if event.type != "BOOKMARK" else event.object
            if output.as_kind == TABLE and event.type != "BOOKMARK":
                rv = obj["metadata"].get("resourceVersion", "")
                obj = table(resource, [obj], resource_version=rv, include=include, version=output.version)
            await response.write(encode_json({"type": event.type, "object": obj}))
    except ApiError as error:
        await response.write(encode_json({"type": "ERROR", "object": error.status()}))


def _timeout(value: str) -> float | None:
    if not value:
        return None
    try:
        seconds = int(value)
    except ValueError:
        raise bad_request(f'invalid value for timeoutSeconds: parsing "{value}": invalid syntax') from None
    return max(seconds, 0) or None
