"""`/openapi/v2`: the Swagger 2.0 document, as JSON or in gnostic's protobuf form.

kubectl still reads it: to validate a `kind: List` client-side (its items are checked against the v2 models),
and, before 1.29, for every `apply` and `create` with validation on. It is made from the same sources as the v3
documents (`podrun.api.openapi`): one PATCH operation per kind with the `fieldValidation` query parameter (what
kubectl's v2 query-parameter check looks for), and upstream's definitions of every type of
`podrun.model.schema_data`, with their descriptions, required fields, group-version-kinds and patch strategies.
"""

from __future__ import annotations

import functools
import re

from aiohttp import web

from podrun.api.compressed_body import CompressedBody
from podrun.api.openapi import QUERY_PARAMETERS, item_path, patch_operation_id, schema_name, type_schemas
from podrun.api.registry import GROUP_RESOURCES, RESOURCES, Resource
from podrun.api.wire import encode_json, parse_media_types
from podrun.json_types import JSON

PROTOBUF_ACCEPT = ("application", "com.github.proto-openapi.spec.v2@v1.0+protobuf")
# What kube-openapi answers the protobuf form with (the `@` of the requested type becomes a `.`).
PROTOBUF_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def swagger_document(kubernetes_version: str) -> JSON:
    """The whole API as one Swagger 2.0 document: every group version's PATCH operations, and the definitions."""
    resources = [*RESOURCES.values(), *(r for table in GROUP_RESOURCES.values() for r in table.values())]
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": kubernetes_version},
        "paths": {item_path(resource): _path_item(resource) for resource in resources},
        "definitions": type_schemas(_reference),
    }


def _path_item(resource: Resource) -> JSON:
    path_parameters = [
        {
            "uniqueItems": True,
            "type": "string",
            "description": f"{placeholder} of the {resource.kind}"
            if placeholder == "name"
            else "object name and auth scope, such as for teams and projects",
            "name": placeholder,
            "in": "path",
            "required": True,
        }
        for placeholder in _PLACEHOLDER.findall(item_path(resource))
    ]
    return {
        "patch": {
            "description": f"partially update the specified {resource.kind}",
            "consumes": [
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
            ],
            "produces": ["application/json", "application/yaml"],
            "schemes": ["https"],
            "operationId": patch_operation_id(resource),
            "parameters": [
                {"uniqueItems": True, "type": kind, "description": description, "name": name, "in": "query"}
                for name, kind, description in QUERY_PARAMETERS
            ],
            "responses": {"200": {"description": "OK", "schema": _reference(resource.kind)}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {
                "group": resource.group,
                "version": resource.version,
                "kind": resource.kind,
            },
        },
        "parameters": path_parameters,
    }


def _reference(type_name: str) -> JSON:
    return {"$ref": f"#/definitions/{schema_name(type_name)}"}


@functools.cache
def _forms(kubernetes_version: str) -> dict[str, CompressedBody]:
    # Built on the first request (kubectl asks only to validate a `kind: List`, or before 1.29), kept compressed,
    # shared by every application; gnostic's protobuf encoder is loaded only then.
    from podrun.api.openapi_proto import encode_document

    document = swagger_document(kubernetes_version)
    return {"json": CompressedBody.of(encode_json(document)), "protobuf": CompressedBody.of(encode_document(document))}


class OpenAPIV2:
    """The served document in both forms, each with the ETag clients revalidate their cache with; encoded on
    first use."""

    def __init__(self, kubernetes_version: str) -> None:
        self.kubernetes_version = kubernetes_version

    def response(self, request: web.Request) -> web.Response:
        """`GET /openapi/v2`: protobuf when the Accept header asks for it, otherwise JSON; 304 when unchanged."""
        wants_protobuf = any(
            (media.type, media.subtype) == PROTOBUF_ACCEPT
            for media in parse_media_types(request.headers.get("Accept", ""))
        )
        body = _forms(self.kubernetes_version)["protobuf" if wants_protobuf else "json"]
        etag = f'"{body.sha512}"'
        headers = {
            "Content-Type": PROTOBUF_CONTENT_TYPE if wants_protobuf else "application/json",
            "ETag": etag,
            "Cache-Control": "no-cache, private",
            "Vary": "Accept",
        }
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return body.response(request, headers)
