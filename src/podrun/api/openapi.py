"""The OpenAPI v3 documents kubectl reads before `apply`, `create` and `replace`, and for `explain`.

kubectl (1.29+) validates an object by looking up, in `/openapi/v3/api/v1`, the PATCH operation of the
object's kind: when it declares the `fieldValidation` query parameter the server validates fields itself, and
kubectl sends `fieldValidation=Strict` and validates nothing client-side. So one PATCH operation per kind is all
validation needs. It carries no `requestBody`: with one, kubectl would build strategic merge patches from the
document's schemas instead of from its compiled-in types. The schemas (`components`) are there for `kubectl
explain`: every type's fields and their types, without the descriptions. `/openapi/v2` is a 404, which kubectl
tolerates.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from podrun.api.registry import RESOURCES, Resource
from podrun.api.wire import encode_json
from podrun.model.schema_data import TYPES

JSON = dict[str, Any]

GROUP_VERSION_PATH = "api/v1"
# Where the types live in the real document's schema names; the rest are io.k8s.api.core.v1.
_META_TYPES = ("ObjectMeta", "ManagedFieldsEntry", "OwnerReference")
_PRIMITIVES: dict[str, JSON] = {
    "string": {"type": "string"},
    "integer": {"type": "integer", "format": "int64"},
    "number": {"type": "number", "format": "double"},
    "boolean": {"type": "boolean"},
    "time": {"type": "string", "format": "date-time"},
    "any": {},
}
_PARAMETERS: tuple[tuple[str, str, str], ...] = (
    ("dryRun", "string", "When present, indicates that modifications should not be persisted."),
    (
        "fieldManager",
        "string",
        "fieldManager is a name associated with the actor or entity that is making these changes.",
    ),
    (
        "fieldValidation",
        "string",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing "
        "unknown or duplicate fields. Valid values are: Ignore, Warn (the default) and Strict.",
    ),
    ("force", "boolean", "Force is going to \"force\" Apply requests."),
)


def group_version_document(kubernetes_version: str) -> JSON:
    """The `api/v1` document: a PATCH operation, with its query parameters, for each kind podrun serves."""
    paths: JSON = {}
    for resource in RESOURCES.values():
        paths[_item_path(resource)] = {
            "patch": {
                "operationId": f"patchCoreV1{'Namespaced' if resource.namespaced else ''}{resource.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": resource.kind},
                "parameters": [
                    {
                        "name": name,
                        "in": "query",
                        "description": description,
                        "schema": {"type": kind, "uniqueItems": True},
                    }
                    for name, kind, description in _PARAMETERS
                ],
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": kubernetes_version},
        "paths": paths,
        "components": {"schemas": _schemas()},
    }


def _schema_name(type_name: str) -> str:
    group = "io.k8s.apimachinery.pkg.apis.meta.v1" if type_name in _META_TYPES else "io.k8s.api.core.v1"
    return f"{group}.{type_name}"


def _schemas() -> JSON:
    schemas: JSON = {}
    for type_name, fields in TYPES.items():
        schema: JSON = {
            "type": "object",
            "properties": {field: _property(field_type) for field, field_type in fields.items()},
        }
        if type_name in (resource.kind for resource in RESOURCES.values()):
            schema["x-kubernetes-group-version-kind"] = [{"group": "", "version": "v1", "kind": type_name}]
        schemas[_schema_name(type_name)] = schema
    return schemas


def _property(type_ref: str) -> JSON:
    if type_ref.startswith("["):
        return {"type": "array", "items": _property(type_ref[1:-1])}
    if type_ref.startswith("{"):
        return {"type": "object", "additionalProperties": _property(type_ref[1:-1])}
    if type_ref in _PRIMITIVES:
        return dict(_PRIMITIVES[type_ref])
    return {"allOf": [{"$ref": f"#/components/schemas/{_schema_name(type_ref)}"}]}


def _item_path(resource: Resource) -> str:
    if resource.namespaced:
        return f"/api/v1/namespaces/{{namespace}}/{resource.name}/{{name}}"
    return f"/api/v1/{resource.name}/{{name}}"


class OpenAPI:
    """The served documents, encoded once, with the content hash clients use to cache them."""

    def __init__(self, kubernetes_version: str) -> None:
        self.body = encode_json(group_version_document(kubernetes_version))
        self.hash = hashlib.sha512(self.body).hexdigest().upper()

    def root(self) -> web.Response:
        """`GET /openapi/v3`: where each group-version's document is, by hash."""
        body = {"paths": {GROUP_VERSION_PATH: {"serverRelativeURL": self._url()}}}
        return web.Response(
            body=json.dumps(body).encode(), headers={"Content-Type": "application/json", "Cache-Control": "no-cache"}
        )

    def group_version(self, request: web.Request) -> web.StreamResponse:
        """`GET /openapi/v3/api/v1`: immutable (and cacheable) under its hash; another hash is redirected."""
        wanted = request.query.get("hash")
        if wanted is not None and wanted != self.hash:
            raise web.HTTPMovedPermanently(self._url())
        etag = f'"{self.hash}"'
        headers = {"Content-Type": "application/json", "ETag": etag}
        if wanted is not None:
            expires = datetime.now(UTC) + timedelta(days=365)
            headers["Cache-Control"] = "public, immutable"
            headers["Expires"] = expires.strftime("%a, %d %b %Y %H:%M:%S GMT")
        else:
            headers["Cache-Control"] = "no-cache, private"
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=self.body, headers=headers)

    def _url(self) -> str:
        return f"/openapi/v3/{GROUP_VERSION_PATH}?hash={self.hash}"
