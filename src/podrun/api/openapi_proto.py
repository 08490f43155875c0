"""A Swagger 2.0 document in gnostic's protobuf form (`openapi.v2.Document`), the form kubectl asks for.

client-go fetches `/openapi/v2` as `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` only, and parses
the answer with `proto.Unmarshal` into gnostic's `openapi_v2.Document`. No protobuf library is needed to write
one: the messages are described here by their JSON keys and field numbers (from gnostic's
`openapiv2/OpenAPIv2.proto`), and `encode_document` walks the JSON document, writing the wire format. Only the
parts of Swagger 2.0 that podrun's document uses are described; anything else is a programming error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from podrun.json_types import JSON

# Message name -> JSON key -> (field number, kind). Kinds: "string", "bool", "strings" (repeated string), a
# message name, "*" + a message name (repeated), or "named:" + a message name (a JSON object whose entries are
# repeated `Named<Message>` pairs: name = 1, value = 2).
_MESSAGES: dict[str, dict[str, tuple[int, str]]] = {
    "Document": {
        "swagger": (1, "string"),
        "info": (2, "Info"),
        "host": (3, "string"),
        "basePath": (4, "string"),
        "schemes": (5, "strings"),
        "consumes": (6, "strings"),
        "produces": (7, "strings"),
        "paths": (8, "Paths"),
        "definitions": (9, "Definitions"),
    },
    "Info": {"title": (1, "string"), "version": (2, "string"), "description": (3, "string")},
    "Paths": {"": (2, "named:PathItem")},
    "PathItem": {
        "$ref": (1, "string"),
        "get": (2, "Operation"),
        "put": (3, "Operation"),
        "post": (4, "Operation"),
        "delete": (5, "Operation"),
        "patch": (8, "Operation"),
        "parameters": (9, "*ParametersItem"),
    },
    "Operation": {
        "tags": (1, "strings"),
        "summary": (2, "string"),
        "description": (3, "string"),
        "operationId": (5, "string"),
        "produces": (6, "strings"),
        "consumes": (7, "strings"),
        "parameters": (8, "*ParametersItem"),
        "responses": (9, "Responses"),
        "schemes": (10, "strings"),
    },
    "ParametersItem": {"parameter": (1, "Parameter"), "jsonReference": (2, "JsonReference")},
    "JsonReference": {"$ref": (1, "string"), "description": (2, "string")},
    "Parameter": {"bodyParameter": (1, "BodyParameter"), "nonBodyParameter": (2, "NonBodyParameter")},
    "BodyParameter": {
        "description": (1, "string"),
        "name": (2, "string"),
        "in": (3, "string"),
        "required": (4, "bool"),
        "schema": (5, "Schema"),
    },
    "NonBodyParameter": {
        "header": (1, "HeaderParameterSubSchema"),
        "formData": (2, "FormDataParameterSubSchema"),
        "query": (3, "QueryParameterSubSchema"),
        "path": (4, "PathParameterSubSchema"),
    },
    "QueryParameterSubSchema": {
        "required": (1, "bool"),
        "in": (2, "string"),
        "description": (3, "string"),
        "name": (4, "string"),
        "type": (6, "string"),
        "uniqueItems": (20, "bool"),
    },
    "PathParameterSubSchema": {
        "required": (1, "bool"),
        "in": (2, "string"),
        "description": (3, "string"),
        "name": (4, "string"),
        "type": (5, "string"),
        "uniqueItems": (19, "bool"),
    },
    "Responses": {"": (1, "named:ResponseValue")},
    "ResponseValue": {"response": (1, "Response"), "jsonReference": (2, "JsonReference")},
    "Response": {"description": (1, "string"), "schema": (2, "SchemaItem")},
    "SchemaItem": {"schema": (1, "Schema")},
    "Definitions": {"": (1, "named:Schema")},
    "Properties": {"": (1, "named:Schema")},
    "Schema": {
        "$ref": (1, "string"),
        "format": (2, "string"),
        "title": (3, "string"),
        "description": (4, "string"),
        "uniqueItems": (16, "bool"),
        "required": (19, "strings"),
        "additionalProperties": (21, "AdditionalPropertiesItem"),
        "type": (22, "TypeItem"),
        "items": (23, "ItemsItem"),
        "allOf": (24, "*Schema"),
        "properties": (25, "Properties"),
        "readOnly": (27, "bool"),
    },
    "AdditionalPropertiesItem": {"schema": (1, "Schema"), "boolean": (2, "bool")},
    "TypeItem": {"value": (1, "strings")},
    "ItemsItem": {"schema": (1, "*Schema")},
    "NamedAny": {"name": (1, "string"), "value": (2, "Any")},
    "Any": {"yaml": (2, "string")},
}

# The field of `repeated NamedAny vendor_extension` in the messages that have one: where `x-...` keys go.
_VENDOR_EXTENSIONS = {
    "Document": 16,
    "Info": 7,
    "Paths": 1,
    "PathItem": 10,
    "Operation": 13,
    "BodyParameter": 6,
    "QueryParameterSubSchema": 23,
    "PathParameterSubSchema": 22,
    "Responses": 2,
    "Response": 5,
    "Schema": 31,
}


def _non_body_parameter(parameter: JSON) -> JSON:
    return {parameter["in"]: parameter}


# Messages that stand for a JSON value of another shape (a oneof, or a list in JSON that is a string in proto):
# how to see that value as the message's JSON object.
_SHAPES: dict[str, Callable[[Any], JSON]] = {
    "ParametersItem": lambda item: {"jsonReference": item} if "$ref" in item else {"parameter": item},
    "Parameter": lambda item: {"bodyParameter": item} if item.get("in") == "body" else {"nonBodyParameter": item},
    "NonBodyParameter": _non_body_parameter,
    "ResponseValue": lambda item: {"jsonReference": item} if "$ref" in item else {"response": item},
    "SchemaItem": lambda schema: {"schema": schema},
    "AdditionalPropertiesItem": lambda item: {"boolean": item} if isinstance(item, bool) else {"schema": item},
    "TypeItem": lambda value: {"value": [value] if isinstance(value, str) else value},
    "ItemsItem": lambda item: {"schema": item if isinstance(item, list) else [item]},
    # gnostic keeps extension values as YAML text; JSON's form is YAML too, but write what Go's yaml would.
    "Any": lambda value: {"yaml": yaml.safe_dump(value, default_flow_style=False)},
}

_VARINT, _LENGTH_DELIMITED = 0, 2


def encode_document(document: JSON) -> bytes:
    """The Swagger 2.0 `document` as a serialized `openapi.v2.Document`."""
    return _message("Document", document)


def _message(name: str, value: Any) -> bytes:
    obj = _SHAPES[name](value) if name in _SHAPES else value
    fields = _MESSAGES[name]
    out = bytearray()
    for key, item in obj.items():
        if key.startswith("x-") and name in _VENDOR_EXTENSIONS:
            out += _length_delimited(_VENDOR_EXTENSIONS[name], _message("NamedAny", {"name": key, "value": item}))
            continue
        number, kind = fields.get(key) or fields[""]
        if kind.startswith("named:"):
            out += _named(number, kind.removeprefix("named:"), key, item)
        else:
            out += _field(number, kind, item)
    return bytes(out)


def _named(number: int, value_message: str, name: str, value: Any) -> bytes:
    pair = _length_delimited(1, name.encode()) + _length_delimited(2, _message(value_message, value))
    return _length_delimited(number, pair)


def _field(number: int, kind: str, value: Any) -> bytes:
    if kind == "string":
        return _length_delimited(number, str(value).encode())
    if kind == "bool":
        return _varint((number << 3) | _VARINT) + _varint(int(bool(value)))
    if kind == "strings":
        return b"".join(_length_delimited(number, str(item).encode()) for item in value)
    if kind.startswith("*"):
        return b"".join(_length_delimited(number, _message(kind[1:], item)) for item in value)
    return _length_delimited(number, _message(kind, value))


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
