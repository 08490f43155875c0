"""Request bodies in Kubernetes' protobuf encoding, read into their JSON form.

kubectl's typed clients (`kubectl create configmap`, `secret`, `namespace`, `service`, `serviceaccount`) send
`application/vnd.kubernetes.protobuf` and do not fall back to JSON. Their bodies are `k8s\\0` followed by a
`runtime.Unknown` envelope (`typeMeta` = 1, `raw` = 2) whose `raw` is the object's message as
`k8s.io/api/core/v1/generated.proto` defines it. Only the kinds those commands create, DeleteOptions, and the
self-reviews of `kubectl auth can-i` are described here; answers stay JSON, which the clients accept as well.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from podrun.api.errors import bad_request
from podrun.timestamps import format_time

JSON = dict[str, Any]

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# Field number -> (JSON name, type). Types: "string", "bytes" (base64 in JSON), "bool", "int", "time",
# "map" (string to string), "bytesmap" (string to base64), "strings" (repeated string), a message name,
# or "*" + a message name for a repeated message.
_MESSAGES: dict[str, dict[int, tuple[str, str]]] = {
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {
        1: ("name", "string"),
        2: ("generateName", "string"),
        3: ("namespace", "string"),
        5: ("uid", "string"),
        6: ("resourceVersion", "string"),
        7: ("generation", "int"),
        8: ("creationTimestamp", "time"),
        11: ("labels", "map"),
        12: ("annotations", "map"),
        13: ("ownerReferences", "*OwnerReference"),
        14: ("finalizers", "strings"),
    },
    "OwnerReference": {
        1: ("kind", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map"),
        3: ("binaryData", "bytesmap"),
        4: ("immutable", "bool"),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "bytesmap"),
        3: ("type", "string"),
        4: ("stringData", "map"),
        5: ("immutable", "bool"),
    },
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec"), 3: ("status", "NamespaceStatus")},
    "NamespaceSpec": {1: ("finalizers", "strings")},
    "NamespaceStatus": {1: ("phase", "string")},
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec")},
    "ServiceSpec": {
        1: ("ports", "*ServicePort"),
        2: ("selector", "map"),
        3: ("clusterIP", "string"),
        4: ("type", "string"),
        5: ("externalIPs", "strings"),
        7: ("sessionAffinity", "string"),
        10: ("externalName", "string"),
        11: ("externalTrafficPolicy", "string"),
        13: ("publishNotReadyAddresses", "bool"),
        17: ("ipFamilyPolicy", "string"),
        18: ("clusterIPs", "strings"),
        19: ("ipFamilies", "strings"),
        22: ("internalTrafficPolicy", "string"),
    },
    "ServicePort": {
        1: ("name", "string"),
        2: ("protocol", "string"),
        3: ("port", "int"),
        4: ("targetPort", "intorstring"),
        5: ("nodePort", "int"),
        6: ("appProtocol", "string"),
    },
    "ServiceAccount": {
        1: ("metadata", "ObjectMeta"),
        3: ("imagePullSecrets", "*LocalObjectReference"),
        4: ("automountServiceAccountToken", "bool"),
    },
    "LocalObjectReference": {1: ("name", "string")},
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int"),
        2: ("preconditions", "Preconditions"),
        3: ("orphanDependents", "bool"),
        4: ("propagationPolicy", "string"),
        5: ("dryRun", "strings"),
    },
    "Preconditions": {1: ("uid", "string"), 2: ("resourceVersion", "string")},
    # k8s.io/api/authorization/v1 (`kubectl auth can-i`).
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "ResourceAttributes"),
        2: ("nonResourceAttributes", "NonResourceAttributes"),
    },
    "ResourceAttributes": {
        1: ("namespace", "string"),
        2: ("verb", "string"),
        3: ("group", "string"),
        4: ("version", "string"),
        5: ("resource", "string"),
        6: ("subresource", "string"),
        7: ("name", "string"),
    },
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "string")},
    # k8s.io/api/authentication/v1 (`kubectl auth whoami`): the request carries no more than its metadata.
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta")},
}
_ENVELOPE = {1: ("typeMeta", "TypeMeta"), 2: ("raw", "bytes")}


def decode_object(body: bytes, expected_kind: str) -> JSON:
    """The JSON form of a protobuf-encoded object of `expected_kind`; 400 when it is not one podrun reads."""
    if not body.startswith(MAGIC):
        raise bad_request("the protobuf body does not start with the Kubernetes magic number")
    envelope = _message(body[len(MAGIC) :], _ENVELOPE)
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind") or expected_kind
    if kind != expected_kind or kind not in _MESSAGES:
        raise bad_request(f"podrun cannot decode a protobuf-encoded {kind}; send JSON")
    obj = _message(base64.b64decode(envelope.get("raw", "")), _MESSAGES[kind])
    return {"kind": kind, "apiVersion": type_meta.get("apiVersion") or "v1", **obj}


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field; length-delimited values are bytes."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 1:
            value, position = data[position : position + 8], position + 8
        elif wire == 2:
            length, position = _varint(data, position)
            value, position = data[position : position + length], position + length
        elif wire == 5:
            value, position = data[position : position + 4], position + 4
        else:
            raise bad_request(f"malformed protobuf body: wire type {wire}")
        if position > len(data):
            raise bad_request("malformed protobuf body: truncated")
        yield number, wire, value


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise bad_request("malformed protobuf body: truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _message(data: bytes, fields: dict[int, tuple[str, str]]) -> JSON:
    obj: JSON = {}
    for number, _wire, value in _fields(data):
        if number not in fields:
            continue
        name, kind = fields[number]
        if kind in ("map", "bytesmap"):
            entry = {key: item for key, _, item in _fields(value)}
            text = entry.get(2, b"")
            obj.setdefault(name, {})[entry.get(1, b"").decode()] = (
                base64.b64encode(text).decode() if kind == "bytesmap" else text.decode()
            )
        elif kind == "strings":
            obj.setdefault(name, []).append(value.decode())
        elif kind.startswith("*"):
            obj.setdefault(name, []).append(_message(value, _MESSAGES[kind[1:]]))
        elif kind == "string" and not value:
            # gogo-protobuf writes every string, empty or not; JSON leaves empty ones out (omitempty), and an
            # empty `generateName` must not become a field someone owns.
            continue
        else:
            obj[name] = _scalar(value, kind)
    return obj


def _scalar(value: Any, kind: str) -> Any:
    if kind == "string":
        return value.decode()
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "bool":
        return bool(value)
    if kind == "int":
        # int64 varints are two's complement in 64 bits.
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "intorstring":
        # IntOrString: type 0 is intVal (2), type 1 strVal (3).
        parts = _message(value, {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "string")})
        return parts.get("strVal", "") if parts.get("type") == 1 else parts.get("intVal", 0)
    if kind == "time":
        seconds = _message(value, {1: ("seconds", "int")}).get("seconds", 0)
        return format_time(seconds)
    return _message(value, _MESSAGES[kind])
