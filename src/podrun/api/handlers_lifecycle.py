"""`GET pods/{name}/lifecycle`: podrun's read-only extension serving a pod's lifecycle history (docs/lifecycle.md).

Without `watch` the answer is one `PodLifecycle` object; with `watch=true` it is newline-delimited JSON, one
record per line: the records so far, then each new one as the node appends it, until the pod is gone.
"""

from __future__ import annotations

import json

from aiohttp import web

from podrun.api.context import LifecycleBackend, context_of
from podrun.api.errors import ApiError
from podrun.api.store import Store
from podrun.api.wire import json_response, truthy
from podrun.json_types import JSON
from podrun.kubelet.lifecycle import document

# How often a follower checks that the pod still exists while no record comes.
PRESENCE_CHECK_SECONDS = 1.0


class _NoHistory:
    """The backend of a server without a node: every pod's history is empty."""

    def records(self, uid: str) -> tuple[list[JSON], int]:
        return [], 0

    async def wait_beyond(self, uid: str, total: int, timeout: float) -> None:
        return None


async def pod_lifecycle(request: web.Request, namespace: str, name: str) -> web.StreamResponse:
    """The pod's `PodLifecycle`, or with `?watch=true` its records as a stream; 404 for an unknown pod."""
    ctx = context_of(request)
    pod = ctx.store.get("pods", namespace, name)
    uid = pod["metadata"].get("uid", "")
    backend: LifecycleBackend = ctx.lifecycle or _NoHistory()
    records, total = backend.records(uid)
    if not truthy(request.query.get("watch", "")):
        return json_response(document(pod, records))
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await _write(response, records)
    while _still_there(ctx.store, namespace, name, uid):
        await backend.wait_beyond(uid, total, PRESENCE_CHECK_SECONDS)
        latest, now_total = backend.records(uid)
        if now_total > total:
            await _write(response, latest[-min(now_total - total, len(latest)) :])
            total = now_total
    await response.write_eof()
    return response


async def _write(response: web.StreamResponse, records: list[JSON]) -> None:
    if records:
        await response.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode())


def _still_there(store: Store, namespace: str, name: str, uid: str) -> bool:
    try:
        pod = store.get("pods", namespace, name)
    except ApiError:
        return False
    return bool(pod["metadata"].get("uid") == uid)
