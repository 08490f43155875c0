"""Loading manifests: YAML or JSON files of Pods, ConfigMaps, Secrets, Services and ServiceAccounts, checked before
anything runs.

`load_manifests` does what `kubectl create -f` and the API server do together, for every document of
every source first: parse, reject kinds podrun cannot run, decode (the JSON type of every field checked
against the core/v1 schema, as `podrun serve` checks it), default, name `generateName` objects,
refuse duplicates, validate. It raises on the first problem class it meets, so the caller starts
nothing unless everything loaded.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from podrun.model import yaml_decode
from podrun.model.defaults import default_configmap, default_pod, default_secret, generate_name
from podrun.model.errors import FieldError, InvalidError
from podrun.model.schema import type_error
from podrun.model.service import default_service, validate_service
from podrun.model.validation import (
    name_is_dns_subdomain,
    pod_warnings,
    validate_configmap,
    validate_pod,
    validate_secret,
)
from podrun.model.validation.meta import validate_object_meta


def _default_service_account(account: Mapping[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(dict(account))
    meta = obj.setdefault("metadata", {})
    if isinstance(meta, dict) and not meta.get("namespace"):
        meta["namespace"] = "default"
    return obj


def _validate_service_account(account: dict[str, Any]) -> list[FieldError]:
    meta = account.get("metadata")
    return validate_object_meta(meta if isinstance(meta, dict) else {}, name_is_dns_subdomain)


SUPPORTED_KINDS = ("Pod", "ConfigMap", "Secret", "Service", "ServiceAccount")
_DEFAULTERS = {
    "Pod": default_pod,
    "ConfigMap": default_configmap,
    "Secret": default_secret,
    "Service": default_service,
    "ServiceAccount": _default_service_account,
}
_VALIDATORS = {
    "Pod": validate_pod,
    "ConfigMap": validate_configmap,
    "Secret": validate_secret,
    "Service": validate_service,
    "ServiceAccount": _validate_service_account,
}
_RESOURCES = {
    "Pod": "pods",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
}
_TYPED_LISTS = {
    "PodList": "Pod",
    "ConfigMapList": "ConfigMap",
    "SecretList": "Secret",
    "ServiceList": "Service",
    "ServiceAccountList": "ServiceAccount",
}
# Far deeper than any object podrun runs, shallow enough that no recursive step (parsing, copying,
# validating) reaches Python's recursion limit. Kubernetes' decoders stop at 10000.
MAX_DEPTH = 100


class ManifestError(Exception):
    """Manifests that cannot be used: unparsable, of an unsupported kind, undecodable or duplicated.

    Each message names its source and document; `str()` joins them one per line.
    """

    def __init__(self, messages: Iterable[str]) -> None:
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


@dataclass
class Manifests:
    """The defaulted, valid objects of a set of manifests, and the API server's warnings about the pods."""

    pods: list[dict[str, Any]] = field(default_factory=list)
    configmaps: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    service_accounts: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Object:
    where: str
    source: str
    kind: str
    body: dict[str, Any]


def load_manifests(texts: Iterable[tuple[str, str]]) -> Manifests:
    """Load (source name, text) pairs: multi-document YAML, JSON, `kind: List`.

    Raises `ManifestError` listing every parse, kind, decode and duplicate problem found, or else
    `InvalidError` (with `source` set) for the first object that fails validation.
    """
    objects: list[_Object] = []
    problems: list[str] = []
    for source, text in texts:
        try:
            documents = list(_documents(source, text))
        except ManifestError as exc:
            problems += exc.messages
            continue
        for number, document in documents:
            where = f"{source}: document {number}"
            if _deeper_than(document, MAX_DEPTH):
                problems.append(f"{where}: nested deeper than {MAX_DEPTH} levels")
                continue
            _collect(document, where, source, objects, problems)
    defaulted = _default_all(objects, problems)
    _check_duplicates(defaulted, problems)
    if problems:
        raise ManifestError(problems)
    result = Manifests()
    for obj in defaulted:
        errors: list[FieldError] = _VALIDATORS[obj.kind](obj.body)
        if errors:
            name = obj.body.get("metadata", {}).get("name", "")
            raise InvalidError(obj.kind, name if isinstance(name, str) else "", errors, source=obj.source)
        if obj.kind == "Pod":
            result.pods.append(obj.body)
            result.warnings += pod_warnings(obj.body)
        elif obj.kind == "ConfigMap":
            result.configmaps.append(obj.body)
        elif obj.kind == "Service":
            result.services.append(obj.body)
        elif obj.kind == "ServiceAccount":
            result.service_accounts.append(obj.body)
        else:
            result.secrets.append(obj.body)
    return result


def _documents(source: str, text: str) -> Iterator[tuple[int, Any]]:
    """The non-empty documents of a stream, numbered from 1 as they appear."""
    if text.lstrip().startswith("{"):
        yield from _json_documents(source, text)
        return
    try:
        for number, document in enumerate(yaml_decode.load_all_strict(text), start=1):
            if document is not None:
                yield number, document
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise ManifestError([f"{source}: error converting YAML to JSON: yaml: {line}{exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise ManifestError([f"{source}: error converting YAML to JSON: yaml: {exc}"]) from None
    except RecursionError:
        raise ManifestError([f"{source}: error converting YAML to JSON: yaml: nested too deeply"]) from None


def _json_documents(source: str, text: str) -> Iterator[tuple[int, Any]]:
    """A stream of JSON objects, one after another, as kubectl accepts them."""
    decoder = json.JSONDecoder()
    position, number = 0, 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return
        try:
            document, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise ManifestError([f"{source}: error parsing JSON: {exc}"]) from None
        except RecursionError:
            raise ManifestError([f"{source}: error parsing JSON: nested too deeply"]) from None
        number += 1
        yield number, document


def _collect(document: Any, where: str, source: str, objects: list[_Object], problems: list[str]) -> None:
    if not isinstance(document, dict):
        problems.append(f"{where}: not a Kubernetes object (a mapping with apiVersion and kind)")
        return
    api_version, kind = document.get("apiVersion"), document.get("kind")
    missing = [f"{key} not set" for key, value in (("apiVersion", api_version), ("kind", kind)) if not value]
    if missing:
        problems.append(f"{where}: error validating data: [{', '.join(missing)}]")
        return
    if kind == "List" or kind in _TYPED_LISTS:
        items = document.get("items")
        if not isinstance(items, list):
            problems.append(f"{where}: {kind} items must be a list")
            return
        for index, item in enumerate(items):
            if isinstance(item, dict) and kind in _TYPED_LISTS:
                item = {"apiVersion": api_version, "kind": _TYPED_LISTS[kind], **item}
            _collect(item, f"{where}: items[{index}]", source, objects, problems)
        return
    if kind not in SUPPORTED_KINDS:
        problems.append(
            f'{where}: kind "{kind}" ({api_version}) is not supported by podrun: '
            "only Pod, ConfigMap, Secret, Service and ServiceAccount; run it on a real Kubernetes cluster"
        )
        return
    if api_version != "v1":
        problems.append(f'{where}: no matches for kind "{kind}" in version "{api_version}"')
        return
    objects.append(_Object(where, source, kind, document))


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether lists and mappings nest more than `limit` levels; walked without recursion."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _default_all(objects: list[_Object], problems: list[str]) -> list[_Object]:
    """Decode and default each object, as the API server does on create: wrong JSON types fail first."""
    defaulted = []
    for obj in objects:
        cannot_decode = f'{obj.where}: {obj.kind} in version "v1" cannot be handled as a {obj.kind}'
        mistyped = type_error(obj.kind, obj.body)
        if mistyped:
            problems.append(f"{cannot_decode}: {mistyped}")
            continue
        try:
            body = _DEFAULTERS[obj.kind](obj.body)
        except ValueError as exc:
            problems.append(f"{cannot_decode}: {exc}")
            continue
        meta = body["metadata"]
        base = meta.get("generateName")
        if not meta.get("name") and isinstance(base, str) and base:
            meta["name"] = generate_name(base)
        defaulted.append(_Object(obj.where, obj.source, obj.kind, body))
    return defaulted


def _check_duplicates(objects: list[_Object], problems: list[str]) -> None:
    """Two manifests for one object: the second create would fail with AlreadyExists."""
    first: dict[tuple[str, str, str], str] = {}
    for obj in objects:
        meta = obj.body["metadata"]
        name, namespace = meta.get("name"), meta.get("namespace")
        if not isinstance(name, str) or not name or not isinstance(namespace, str):
            continue
        key = (obj.kind, namespace, name)
        if key in first:
            problems.append(
                f'{obj.where}: {_RESOURCES[obj.kind]} "{name}" already exists (also defined in {first[key]})'
            )
        else:
            first[key] = obj.where
