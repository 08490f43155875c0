"""Server-side Tables (`kubectl get`) and PartialObjectMetadata, as the API server's `asTable` builds them.

Each row carries its object according to `includeObject`: `Metadata` (the default) as a PartialObjectMetadata,
which is where kubectl reads the namespace and labels for `-A`, `--show-labels` and `-L`; `Object` as the full
object (kubectl asks for it with `--sort-by`); `None` leaves it out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from podrun.api.errors import bad_request
from podrun.api.registry import Resource

JSON = dict[str, Any]

INCLUDE_OBJECT = ("None", "Metadata", "Object")


def include_object(value: str) -> str:
    """The `includeObject` query value, `Metadata` by default; 400 for anything else."""
    if not value:
        return "Metadata"
    if value not in INCLUDE_OBJECT:
        supported = ", ".join(f'"{choice}"' for choice in INCLUDE_OBJECT)
        raise bad_request(f'includeObject: Unsupported value: "{value}": supported values: {supported}')
    return value


def partial_metadata(obj: JSON, version: str = "v1") -> JSON:
    """The object as a meta.k8s.io PartialObjectMetadata."""
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}", "metadata": obj["metadata"]}


def partial_metadata_list(items: list[JSON], resource_version: str, continue_token: str, version: str) -> JSON:
    """A PartialObjectMetadataList of the objects."""
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": _list_meta(resource_version, continue_token),
        "items": [partial_metadata(item, version) for item in items],
    }


def table(
    resource: Resource,
    objects: list[JSON],
    *,
    resource_version: str,
    continue_token: str = "",
    include: str = "Metadata",
    version: str = "v1",
    now: datetime | None = None,
) -> JSON:
    """A Table of the objects, one row each, with the resource's column definitions (all of them: the API
    server prints wide, kubectl hides the columns of priority 1 unless asked for `-o wide`)."""
    moment = now or datetime.now(UTC)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": _list_meta(resource_version, continue_token),
        "columnDefinitions": list(resource.columns),
        "rows": [row(resource, obj, include=include, version=version, now=moment) for obj in objects],
    }


def row(resource: Resource, obj: JSON, *, include: str, version: str, now: datetime) -> JSON:
    """One Table row: the printed cells, the row conditions, and the object as `include` asks."""
    entry: JSON = {"cells": resource.printer(obj, now)}
    conditions = resource.row_conditions(obj)
    if conditions:
        entry["conditions"] = conditions
    if include == "Metadata":
        entry["object"] = partial_metadata(obj, version)
    elif include == "Object":
        entry["object"] = obj
    return entry


def _list_meta(resource_version: str, continue_token: str) -> JSON:
    meta: JSON = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return meta
