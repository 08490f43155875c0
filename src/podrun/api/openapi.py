"""The OpenAPI v3 documents kubectl reads before `apply`, `create` and `replace`, and for `explain`.

kubectl (1.29+) validates an object by looking up, in `/openapi/v3/api/v1`, the PATCH operation of the
object's kind: when it declares the `fieldValidation` query parameter the server validates fields itself, and
kubectl sends `fieldValidation=Strict` and validates nothing client-side. So one PATCH operation per kind is all
validation needs. It carries no `requestBody`: with one, kubectl would build strategic merge patches from the
document's schemas instead of from its compiled-in types. The schemas (`components`) are upstream's, from
`podrun.model.schema_data`: what `kubectl explain` shows (descriptions, types, required fields) and the
extensions kubectl reads (`x-kubernetes-group-version-kind`, `x-kubernetes-patch-*`, `x-kubernetes-list-*`).
`/openapi/v2`, the same types in Swagger 2.0 form, is `podrun.api.openapi_v2`'s.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from podrun.api.compressed_body import CompressedBody
from podrun.api.registry import GROUP_RESOURCES, RESOURCES, Resource
from podrun.api.wire import encode_json
from podrun.json_types import JSON
from podrun.model.schema_data import schemas

GROUP_VERSION_PATH = "api/v1"
QUERY_PARAMETERS: tuple[tuple[str, str, str], ...] = (
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
    ("force", "boolean", 'Force is going to "force" Apply requests.'),
)
"""The PATCH operation's query parameters: (name, type, description)."""


def group_version_document(kubernetes_version: str, group_version: str = "v1") -> JSON:
    """The `api/v1` (or `apis/<group>/<version>`) document: a PATCH operation, with its query parameters, for
    each kind of the group version podrun serves."""
    paths: JSON = {}
    resources = RESOURCES if group_version == "v1" else GROUP_RESOURCES[group_version]
    for resource in resources.values():
        paths[item_path(resource)] = {
            "patch": {
                "operationId": patch_operation_id(resource),
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {
                    "group": resource.group,
                    "version": resource.version,
                    "kind": resource.kind,
                },
                "parameters": [
                    {
                        "name": name,
                        "in": "query",
                        "description": description,
                        "schema": {"type": kind, "uniqueItems": True},
                    }
                    for name, kind, description in QUERY_PARAMETERS
                ],
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": kubernetes_version},
        "paths": paths,
        "components": {"schemas": type_schemas(_reference)},
    }


def patch_operation_id(resource: Resource) -> str:
    """`patchCoreV1NamespacedPod`, `patchDiscoveryV1NamespacedEndpointSlice`: the real document's operation ids."""
    group_name = "".join(part.capitalize() for part in resource.group.split(".")[:1]) or "Core"
    namespaced = "Namespaced" if resource.namespaced else ""
    return f"patch{group_name}{resource.version.capitalize()}{namespaced}{resource.kind}"


def schema_name(type_name: str) -> str:
    """The type's name among the real document's schemas: `io.k8s.api.core.v1.Pod`."""
    return str(schemas()[type_name]["name"])


def type_schemas(reference: Callable[[str], JSON]) -> JSON:
    """Every type's schema by its real name; `reference` makes the schema of a property that refers to another
    type (`allOf` a `$ref` in v3, a bare `$ref` in v2) from the property's other keys and the type's short name."""
    documents: JSON = {}
    for type_name, schema in schemas().items():
        document: JSON = {"description": schema["description"], "type": "object"}
        document["properties"] = {
            field: property_schema(prop, reference) for field, prop in schema["properties"].items()
        }
        if "required" in schema:
            document["required"] = schema["required"]
        if "gvk" in schema:
            document["x-kubernetes-group-version-kind"] = schema["gvk"]
        documents[schema_name(type_name)] = document
    return documents


def property_schema(prop: JSON, reference: Callable[[str], JSON]) -> JSON:
    """One property of `podrun.model.schema_data` as an OpenAPI schema (see `type_schemas`)."""
    result = {key: value for key, value in prop.items() if key not in ("$ref", "podrunType")}
    for key in ("items", "additionalProperties"):
        if key in result:
            result[key] = property_schema(result[key], reference)
    if "$ref" in prop:
        return {**reference(prop["$ref"]), **result}
    return result


def _reference(type_name: str) -> JSON:
    # Upstream's v3 documents wrap references in allOf, so that a description can sit beside them.
    return {"allOf": [{"$ref": f"#/components/schemas/{schema_name(type_name)}"}]}


def item_path(resource: Resource) -> str:
    """The path of one object of the resource, with `{namespace}` and `{name}` placeholders."""
    root = f"/apis/{resource.api_version}" if resource.group else "/api/v1"
    if resource.namespaced:
        return f"{root}/namespaces/{{namespace}}/{resource.name}/{{name}}"
    return f"{root}/{resource.name}/{{name}}"


@functools.cache
def _documents(kubernetes_version: str) -> dict[str, CompressedBody]:
    # Built on the first request that needs them (an idle server never holds the schemas' ~300,000 objects of
    # building), kept compressed, and shared by every application (the API's and the web UI's).
    documents = {"v1": CompressedBody.of(encode_json(group_version_document(kubernetes_version)))}
    for group_version in GROUP_RESOURCES:
        body = encode_json(group_version_document(kubernetes_version, group_version))
        documents[group_version] = CompressedBody.of(body)
    return documents


class OpenAPI:
    """The served documents (`api/v1` and each named group version's), with the content hashes clients use to
    cache them; encoded on first use."""

    def __init__(self, kubernetes_version: str) -> None:
        self.kubernetes_version = kubernetes_version

    @property
    def documents(self) -> dict[str, CompressedBody]:
        """Each group version's document, by `v1` or `group/version`."""
        return _documents(self.kubernetes_version)

    def root(self) -> web.Response:
        """`GET /openapi/v3`: where each group-version's document is, by hash."""
        body = {"paths": {_path(key): {"serverRelativeURL": self._url(key)} for key in self.documents}}
        return web.Response(
            body=json.dumps(body).encode(), headers={"Content-Type": "application/json", "Cache-Control": "no-cache"}
        )

    def group_version(self, request: web.Request, group_version: str = "v1") -> web.StreamResponse:
        """`GET /openapi/v3/api/v1` (or `apis/<group>/<version>`): immutable (and cacheable) under its hash;
        another hash is redirected."""
        document = self.documents.get(group_version)
        if document is None:
            raise web.HTTPNotFound()
        wanted = request.query.get("hash")
        if wanted is not None and wanted != document.sha512:
            raise web.HTTPMovedPermanently(self._url(group_version))
        etag = f'"{document.sha512}"'
        headers = {"Content-Type": "application/json", "ETag": etag}
        if wanted is not None:
            expires = datetime.now(UTC) + timedelta(days=365)
            headers["Cache-Control"] = "public, immutable"
            headers["Expires"] = expires.strftime("%a, %d %b %Y %H:%M:%S GMT")
        else:
            headers["Cache-Control"] = "no-cache, private"
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return document.response(request, headers)

    def _url(self, group_version: str) -> str:
        return f"/openapi/v3/{_path(group_version)}?hash={self.documents[group_version].sha512}"


def _path(group_version: str) -> str:
    return GROUP_VERSION_PATH if group_version == "v1" else f"apis/{group_version}"
