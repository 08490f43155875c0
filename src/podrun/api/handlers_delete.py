"""DELETE on `/api/v1/...`: graceful deletion of pods, finalizers, collections, and namespaces with their contents.

As in the API server's registry (`rest.BeforeDelete`, `Store.Delete`): a pod bound to a node is marked with a
deletion timestamp and stays until its kubelet has stopped it and removes it; other objects go at once unless
finalizers hold them. A namespace turns Terminating, and the namespace controller's part (deleting everything in
it, then the namespace) runs in the background.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from podrun.api.context import ApiContext, context_of
from podrun.api.delete_options import decode_delete_options
from podrun.api.errors import conflict, forbidden
from podrun.api.handlers_rest import render
from podrun.api.registry import RESOURCES, Resource
from podrun.api.strategy import plan_delete, timestamp
from podrun.api.wire import negotiate, read_body, respond

JSON = dict[str, Any]

UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")
# Resources whose DELETE answers with the object, as their registries set ReturnDeletedObject.
_RETURN_DELETED = ("pods", "namespaces")
# The namespace controller empties a deleted namespace a moment later, not at once: `kubectl delete -f` of a file
# with a namespace and its objects then deletes each of them itself, as against a cluster, instead of failing
# with NotFound for those the controller already removed.
NAMESPACE_CONTROLLER_DELAY = 1.0


async def delete(request: web.Request, resource: Resource, namespace: str | None, name: str) -> web.Response:
    """DELETE on an object: graceful for pods, finalizers respected, namespaces emptied first."""
    ctx, output = context_of(request), negotiate(request)
    grace, dry_run, preconditions = await _delete_options(request)
    existing = ctx.store.get(resource.name, namespace, name)
    if resource.name == "namespaces":
        return render(request, resource, _delete_namespace(ctx, existing, dry_run, preconditions), output)
    result, removed = _delete(ctx, resource, existing, grace, dry_run, preconditions)
    if removed and resource.name not in _RETURN_DELETED:
        meta = result["metadata"]
        details = {"name": meta["name"], "kind": resource.name, "uid": meta.get("uid", "")}
        success = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
        return respond(success, output)
    return render(request, resource, result, output)


def _delete(
    ctx: ApiContext, resource: Resource, obj: JSON, grace: int | None, dry_run: bool, preconditions: JSON
) -> tuple[JSON, bool]:
    """Delete one object: (its state after the DELETE, whether it is gone)."""
    _check_preconditions(resource, obj, preconditions)
    plan = plan_delete(resource, obj, grace, datetime.now(UTC))
    current = plan.update or obj
    if dry_run:
        return current, plan.remove
    meta = obj["metadata"]
    if plan.update is not None:
        current = ctx.store.update(resource.name, plan.update, check_resource_version=False)
    if plan.remove:
        current = ctx.store.delete(resource.name, meta.get("namespace"), meta["name"])
    return current, plan.remove


def _delete_namespace(ctx: ApiContext, namespace: JSON, dry_run: bool, preconditions: JSON) -> JSON:
    """Mark the namespace Terminating; its contents are deleted in the background, then the namespace."""
    name = namespace["metadata"]["name"]
    if name in UNDELETABLE_NAMESPACES:
        raise forbidden("namespaces", name, "this namespace may not be deleted")
    _check_preconditions(RESOURCES["namespaces"], namespace, preconditions)
    if namespace["metadata"].get("deletionTimestamp"):
        return namespace
    marked = json.loads(json.dumps(namespace))
    marked["metadata"]["deletionTimestamp"] = timestamp(datetime.now(UTC))
    marked["metadata"]["deletionGracePeriodSeconds"] = 0
    marked.setdefault("status", {})["phase"] = "Terminating"
    if dry_run:
        return marked
    updated = ctx.store.update("namespaces", marked, check_resource_version=False)
    ctx.spawn(_finalize_namespace(ctx, name))
    return updated


async def _finalize_namespace(ctx: ApiContext, namespace: str) -> None:
    """The namespace controller: delete what is in the namespace, wait for its pods to go, remove it."""
    await asyncio.sleep(NAMESPACE_CONTROLLER_DELAY)
    store = ctx.store
    now = datetime.now(UTC)
    for resource in RESOURCES.values():
        if not resource.namespaced:
            continue
        for item in store.list(resource.name, namespace)[0]:
            plan = plan_delete(resource, item, None, now)
            if plan.update is not None:
                store.update(resource.name, plan.update, check_resource_version=False)
            if plan.remove:
                store.delete(resource.name, namespace, item["metadata"]["name"])
    pods, rv, _ = store.list("pods", namespace)
    remaining = {pod["metadata"]["name"] for pod in pods}
    if remaining:
        # The node's kubelet stops the pods and then removes them; follow that rather than poll.
        watch = store.watch("pods", namespace, resource_version=rv)
        try:
            async for event in watch:
                if event.type == "DELETED":
                    remaining.discard(event.object["metadata"]["name"])
                if not remaining:
                    break
        finally:
            watch.close()
    for item in store.list("events", namespace)[0]:
        store.delete("events", namespace, item["metadata"]["name"])
    store.delete("namespaces", None, namespace)


async def _delete_options(request: web.Request) -> tuple[int | None, bool, JSON]:
    """(gracePeriodSeconds, dryRun, preconditions) from the DeleteOptions body and the query (the body wins)."""
    body: Any = None
    if request.can_read_body and request.content_length != 0:
        body = await read_body(request, "DeleteOptions")
    query = {key: request.query.getall(key) for key in request.query}
    options = decode_delete_options(body, query)
    return options.grace_period_seconds, options.dry_run, options.preconditions


def _check_preconditions(resource: Resource, obj: JSON, preconditions: JSON) -> None:
    meta = obj["metadata"]
    for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted = preconditions.get(key)
        if wanted and wanted != meta.get(key):
            actual = meta.get(key, "")
            detail = f"Precondition failed: {label} in precondition: {wanted}, {label} in object meta: {actual}"
            raise conflict(resource.name, meta["name"], detail)


async def delete_collection(request: web.Request, resource: Resource, namespace: str | None) -> web.Response:
    """DELETE on a collection: delete every selected object as a DELETE of each would; answer with the list."""
    ctx, output = context_of(request), negotiate(request)
    grace, dry_run, preconditions = await _delete_options(request)
    items, rv, _ = ctx.store.list(
        resource.name,
        namespace,
        label_selector=request.query.get("labelSelector", ""),
        field_selector=request.query.get("fieldSelector", ""),
    )
    results = [_delete(ctx, resource, item, grace, dry_run, preconditions)[0] for item in items]
    body = {
        "kind": resource.list_kind,
        "apiVersion": resource.api_version,
        "metadata": {"resourceVersion": rv},
        "items": results,
    }
    return respond(body, output)
