"""The REST verbs on `/api/v1/...`: create, get, list (and watch), update and patch, also of `<resource>/status`
and `pods/ephemeralcontainers`.

They follow the API server's handlers (`apiserver/pkg/endpoints/handlers`): options are checked first, bodies
are decoded (strictly with `fieldValidation=Strict`), the namespace must exist for a create, the registry's
strategy defaults and validates, and the answer is the stored object in the representation the client asked
for (JSON, YAML, a Table, or PartialObjectMetadata).
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from podrun.api.apply import server_side_apply
from podrun.api.context import ApiContext, context_of
from podrun.api.errors import ApiError, bad_request, conflict, forbidden, invalid_from, not_found
from podrun.api.field_managers import (
    as_written,
    field_manager_errors,
    keeping_timestamps_of_a_no_op,
    manager_from_user_agent,
    record_update,
)
from podrun.api.registry import Resource
from podrun.api.strategy import (
    prepare_create,
    prepare_ephemeral_containers_update,
    prepare_status_update,
    prepare_update,
    should_remove_after_update,
    timestamp,
)
from podrun.api.tables import include_object, partial_metadata, partial_metadata_list, table
from podrun.api.typed_value import duplicate_entries, kind_type
from podrun.api.watch import serve_watch
from podrun.api.wire import (
    METADATA,
    METADATA_LIST,
    TABLE,
    Output,
    add_warning,
    decode_off_loop,
    int_query,
    negotiate,
    read_body,
    respond,
    truthy,
    unsupported_media_type,
)
from podrun.model.errors import FieldError, InvalidError
from podrun.model.schema import (
    apply_unknown_fields,
    strict_decoding_message,
    type_error,
    unknown_field_message,
    unknown_fields,
)
from podrun.services.tokens import find_service_account

JSON = dict[str, Any]

PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
FIELD_VALIDATIONS = ("Ignore", "Warn", "Strict")


@dataclass(frozen=True)
class WriteOptions:
    """The query options of a create, update or patch (`CreateOptions`, `UpdateOptions`, `PatchOptions`)."""

    dry_run: bool
    field_validation: str
    field_manager: str
    force: bool | None
    # The manager of an Update operation: fieldManager, else the User-Agent's program (managerOrUserAgent).
    updater: str = ""


def write_options(request: web.Request, kind: str) -> WriteOptions:
    """Read and check the options; 422 like ValidateCreateOptions / ValidatePatchOptions when malformed."""
    query = request.query
    errors: list[FieldError] = []
    dry_run = query.getall("dryRun", [])
    errors += [
        FieldError.not_supported(f"dryRun[{index}]", value, ["All"])
        for index, value in enumerate(dry_run)
        if value != "All"
    ]
    validation = query.get("fieldValidation", "")
    if validation and validation not in FIELD_VALIDATIONS:
        errors.append(FieldError.not_supported("fieldValidation", validation, FIELD_VALIDATIONS))
    force = None if "force" not in query else truthy(query["force"])
    errors += field_manager_errors(query.get("fieldManager", ""))
    if errors:
        raise invalid_from(InvalidError(kind, "", errors, group="meta.k8s.io"))
    # An unset fieldValidation means Warn, as on the API server.
    manager = query.get("fieldManager", "")
    updater = manager or manager_from_user_agent(request.headers.get("User-Agent", ""))
    return WriteOptions(bool(dry_run), validation or "Warn", manager, force, updater)


# --- collections ----------------------------------------------------------------------------------------------


async def list_or_watch(request: web.Request, resource: Resource, namespace: str | None) -> web.StreamResponse:
    """GET on a collection: a list, or a watch with `watch=true`."""
    ctx, output, query = context_of(request), negotiate(request), request.query
    if truthy(query.get("watch", "")):
        return await serve_watch(request, ctx, resource, namespace, output)
    limit = int_query(request, "limit") or 0
    items, rv, token = ctx.store.list(
        resource.name,
        namespace,
        label_selector=query.get("labelSelector", ""),
        field_selector=query.get("fieldSelector", ""),
        limit=limit,
        continue_token=query.get("continue", ""),
    )
    typed = [resource.typed(item) for item in items]
    if output.as_kind == TABLE:
        include = include_object(query.get("includeObject", ""))
        body = table(
            resource, typed, resource_version=rv, continue_token=token, include=include, version=output.version
        )
    elif output.as_kind in (METADATA, METADATA_LIST):
        body = partial_metadata_list(typed, rv, token, output.version)
    else:
        metadata: JSON = {"resourceVersion": rv}
        if token:
            metadata["continue"] = token
        # The API server leaves kind and apiVersion out of list items.
        stripped = [{k: v for k, v in item.items() if k not in ("kind", "apiVersion")} for item in typed]
        body = {"kind": resource.list_kind, "apiVersion": resource.api_version, "metadata": metadata, "items": stripped}
    return respond(body, output)


async def create(request: web.Request, resource: Resource, namespace: str | None) -> web.Response:
    """POST on a collection."""
    ctx, output = context_of(request), negotiate(request)
    options = write_options(request, "CreateOptions")
    obj = _checked_body(resource, await read_body(request, resource.kind), namespace)
    _check_decoding(resource, obj, options, prefix=_decode_prefix(resource))
    created = _create(ctx, resource, obj, options)
    return render(request, resource, created, output, status=201)


def _create(ctx: ApiContext, resource: Resource, obj: JSON, options: WriteOptions, *, applied: bool = False) -> JSON:
    """Create the object; `applied` when server-side apply already set its managedFields."""
    meta = obj.setdefault("metadata", {})
    _require_namespace(ctx, resource, meta.get("namespace"), str(meta.get("name") or ""))
    accounts = functools.partial(find_service_account, ctx.store)
    prepared = prepare_create(
        resource, obj, node_name=ctx.node_name, accounts=accounts, stored=lambda: _all(ctx, resource)
    )
    for text in prepared.warnings:
        add_warning(text)
    new = _with_managed_fields(resource, None, prepared.obj, obj, options, applied=applied)
    if options.dry_run:
        return _as_dry_run_create(new)
    return ctx.store.create(resource.name, new)


# --- single objects -------------------------------------------------------------------------------------------


async def get(request: web.Request, resource: Resource, namespace: str | None, name: str) -> web.Response:
    """GET on an object (also `<resource>/status`)."""
    output = negotiate(request)
    return render(request, resource, context_of(request).store.get(resource.name, namespace, name), output)


async def update(
    request: web.Request, resource: Resource, namespace: str | None, name: str, *, subresource: str = ""
) -> web.Response:
    """PUT on an object, or on its `status` or `ephemeralcontainers` subresource."""
    ctx, output = context_of(request), negotiate(request)
    options = write_options(request, "UpdateOptions")
    obj = _checked_body(resource, await read_body(request, resource.kind), namespace, name)
    existing = ctx.store.get(resource.name, namespace, name)
    _check_decoding(resource, obj, options, prefix=_decode_prefix(resource), baseline=existing)
    result = _store_update(ctx, resource, existing, obj, options, subresource=subresource)
    return render(request, resource, result, output)


async def patch(
    request: web.Request, resource: Resource, namespace: str | None, name: str, *, subresource: str = ""
) -> web.Response:
    """PATCH on an object or a subresource: JSON patch, merge patch, strategic merge patch, or server-side apply."""
    ctx, output = context_of(request), negotiate(request)
    options = write_options(request, "PatchOptions")
    media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    patch_type = PATCH_TYPES.get(media)
    if patch_type is None:
        raise unsupported_media_type(tuple(PATCH_TYPES))
    _check_patch_options(patch_type, options)
    raw = await request.read()
    if patch_type == "apply":
        return await _server_side_apply(
            request, ctx, resource, namespace, name, raw, options, output, subresource=subresource
        )
    # The patch engines load with the first PATCH: an idle server and most requests never need them.
    from podrun.api.patch import json_merge_patch, json_patch, strategic_merge_patch

    existing = ctx.store.get(resource.name, namespace, name)
    document = await decode_off_loop(raw, "json")
    if patch_type == "json":
        patched = json_patch(existing, document)
    elif patch_type == "merge":
        patched = json_merge_patch(existing, document)
    else:
        patched = strategic_merge_patch(existing, document, resource.kind)
    if not isinstance(patched, dict):
        raise bad_request(f"{_decode_prefix(resource)}: the patched object must be a map")
    _check_decoding(resource, patched, options, prefix="", baseline=existing)
    result = _store_update(ctx, resource, existing, patched, options, subresource=subresource)
    return render(request, resource, result, output)


async def _server_side_apply(
    request: web.Request,
    ctx: ApiContext,
    resource: Resource,
    namespace: str | None,
    name: str,
    raw: bytes,
    options: WriteOptions,
    output: Output,
    *,
    subresource: str,
) -> web.Response:
    """`kubectl apply --server-side`: create when absent (201), else merge the applied configuration (200)."""
    applied = _checked_body(resource, await decode_off_loop(raw, "yaml"), namespace, name)
    mistyped = type_error(resource.kind, applied)
    if mistyped:
        raise bad_request(mistyped)
    messages = [f"{path}: field not declared in schema" for path in apply_unknown_fields(resource.kind, applied)]
    messages += duplicate_entries(applied, kind_type(resource.kind))
    if messages:
        # structured-merge-diff's typed conversion error. The API server passes it on as a 500 (kubernetes
        # #122480); it is the request's fault, so podrun answers 400 as kubernetes PR #139255 proposes.
        text = messages[0] if len(messages) == 1 else "errors:\n" + "\n".join(f"  {m}" for m in messages)
        where = f"{namespace or ''}/{name}; /v1, Kind={resource.kind}"
        raise bad_request(f"failed to create typed patch object ({where}): {text}")
    existing: JSON | None
    try:
        existing = ctx.store.get(resource.name, namespace, name)
    except ApiError as error:
        if error.code != 404 or subresource:
            raise
        existing = None
    merged = server_side_apply(
        resource.kind,
        existing,
        applied,
        options.field_manager,
        force=bool(options.force),
        has_status=resource.subresource("status") is not None,
        subresource=subresource,
        api_version=resource.api_version,
    )
    if existing is None:
        created = _create(ctx, resource, merged, options, applied=True)
        return render(request, resource, created, output, status=201)
    result = _store_update(ctx, resource, existing, merged, options, subresource=subresource, applied=True)
    return render(request, resource, result, output)


def _store_update(
    ctx: ApiContext,
    resource: Resource,
    existing: JSON,
    obj: JSON,
    options: WriteOptions,
    *,
    subresource: str,
    applied: bool = False,
) -> JSON:
    """Check the resourceVersion precondition, prepare the object, record its managers and write it (skipped
    when nothing changed). `applied`: server-side apply already set the managedFields."""
    meta = obj.get("metadata")
    wanted = meta.get("resourceVersion") if isinstance(meta, dict) else None
    if wanted and wanted != existing["metadata"]["resourceVersion"]:
        raise conflict(resource.name, existing["metadata"]["name"])
    if subresource == "status":
        new = prepare_status_update(resource, existing, obj)
    elif subresource == "ephemeralcontainers":
        new = prepare_ephemeral_containers_update(resource, existing, obj)
    else:
        prepared = prepare_update(resource, existing, obj, node_name=ctx.node_name, stored=lambda: _all(ctx, resource))
        for text in prepared.warnings:
            add_warning(text)
        new = prepared.obj
    new = _with_managed_fields(resource, existing, new, obj, options, applied=applied, subresource=subresource)
    new = keeping_timestamps_of_a_no_op(new, existing)
    if options.dry_run:
        return new
    result = ctx.store.update_if_changed(resource.name, new)
    if should_remove_after_update(existing, result):
        result = ctx.store.delete(resource.name, result["metadata"].get("namespace"), result["metadata"]["name"])
    return result


# --- helpers --------------------------------------------------------------------------------------------------


def _with_managed_fields(
    resource: Resource,
    existing: JSON | None,
    new: JSON,
    sent: JSON,
    options: WriteOptions,
    *,
    applied: bool,
    subresource: str = "",
) -> JSON:
    """The prepared object with its managedFields: those server-side apply computed (`sent` carries them), or
    those after an Update operation by `options.updater` on what it sent (a subresource write: on the object
    its strategy made)."""
    if not applied:
        sent = record_update(
            resource.kind,
            existing,
            new if subresource else as_written(resource.kind, sent),
            options.updater,
            has_status=resource.subresource("status") is not None,
            subresource=subresource,
            api_version=resource.api_version,
        )
    entries = (sent.get("metadata") or {}).get("managedFields")
    new["metadata"].pop("managedFields", None)
    if entries:
        new["metadata"]["managedFields"] = entries
    return new


def render(request: web.Request, resource: Resource, obj: JSON, output: Output, *, status: int = 200) -> web.Response:
    """One object in the negotiated representation: itself, a one-row Table, or its metadata."""
    typed = resource.typed(obj)
    if output.as_kind == TABLE:
        include = include_object(request.query.get("includeObject", ""))
        rv = typed["metadata"].get("resourceVersion", "")
        body = table(resource, [typed], resource_version=rv, include=include, version=output.version)
    elif output.as_kind in (METADATA, METADATA_LIST):
        body = partial_metadata(typed, output.version)
    else:
        body = typed
    return respond(body, output, status=status)


def _checked_body(resource: Resource, body: Any, namespace: str | None, name: str | None = None) -> JSON:
    """The request's object, checked against the URL: its apiVersion, kind, namespace and name."""
    prefix = _decode_prefix(resource)
    if not isinstance(body, dict):
        raise bad_request(f"{prefix}: the object must be a map")
    if not isinstance(body.get("metadata", {}), dict):
        raise bad_request(f"{prefix}: metadata must be an object")
    api_version = body.get("apiVersion")
    if api_version and api_version != resource.api_version:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({resource.api_version})"
        )
    kind = body.get("kind")
    if kind and kind != resource.kind:
        raise bad_request(f'{kind} in version "v1" cannot be handled as a {resource.kind}: the kind does not match')
    obj = json.loads(json.dumps(body))
    meta = obj.setdefault("metadata", {})
    if resource.namespaced and namespace is not None:
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace
    if name is not None:
        if not meta.get("name"):
            meta["name"] = name
        elif meta["name"] != name:
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
    return obj


def _check_decoding(
    resource: Resource,
    obj: JSON,
    options: WriteOptions,
    *,
    prefix: str,
    baseline: JSON | None = None,
) -> None:
    """What decoding into the Go type finds: a value of the wrong type is a 400; unknown fields are a 400 too
    with `fieldValidation=Strict`, and warnings with Warn (the default).

    Problems already present in the stored `baseline` are not the request's doing and are not reported.
    """
    mistyped = type_error(resource.kind, obj)
    if mistyped and (baseline is None or mistyped != type_error(resource.kind, baseline)):
        raise bad_request(f"{prefix}: {mistyped}" if prefix else mistyped)
    if options.field_validation == "Ignore":
        return
    paths = unknown_fields(resource.kind, obj)
    if baseline is not None and paths:
        stored = set(unknown_fields(resource.kind, baseline))
        paths = [path for path in paths if path not in stored]
    if not paths:
        return
    if options.field_validation == "Strict":
        message = strict_decoding_message(paths)
        raise bad_request(f"{prefix}: {message}" if prefix else message)
    for path in paths:
        add_warning(unknown_field_message(path))


def _check_patch_options(patch_type: str, options: WriteOptions) -> None:
    """ValidatePatchOptions: apply needs a field manager; `force` is for apply only."""
    errors: list[FieldError] = []
    if patch_type != "apply" and options.force is not None:
        errors.append(FieldError.forbidden("force", "may not be specified for non-apply patch"))
    if patch_type == "apply" and not options.field_manager:
        errors.append(FieldError.required("fieldManager", "is required for apply patch"))
    if errors:
        raise invalid_from(InvalidError("PatchOptions", "", errors, group="meta.k8s.io"))


def _all(ctx: ApiContext, resource: Resource) -> list[JSON]:
    """The resource's stored objects in every namespace (allocation checks against them)."""
    return ctx.store.list(resource.name, None)[0]


def _require_namespace(ctx: ApiContext, resource: Resource, namespace: str | None, name: str) -> None:
    """NamespaceLifecycle admission: the namespace must exist and not be terminating."""
    if not resource.namespaced or not namespace:
        return
    try:
        found = ctx.store.get("namespaces", None, namespace)
    except ApiError as error:
        if error.code == 404:
            raise not_found("namespaces", namespace) from None
        raise
    if found["metadata"].get("deletionTimestamp") or (found.get("status") or {}).get("phase") == "Terminating":
        detail = f"unable to create new content in namespace {namespace} because it is being terminated"
        raise forbidden(resource.name, name, detail)


def _as_dry_run_create(obj: JSON) -> JSON:
    """What a create would have stored, without storing it: the server-set metadata but no resourceVersion."""
    result = json.loads(json.dumps(obj))
    result["metadata"]["uid"] = str(uuid.uuid4())
    result["metadata"]["creationTimestamp"] = timestamp(datetime.now(UTC))
    return result


def _decode_prefix(resource: Resource) -> str:
    return f'{resource.kind} in version "v1" cannot be handled as a {resource.kind}'
