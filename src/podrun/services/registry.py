"""What the service registry does on create and update: defaults, validation and allocation in one step.

Allocation state is rebuilt from the stored Services on every write (as the API server's repair loops rebuild
it at start): a Service's addresses and ports are free again once it is deleted, with no bookkeeping to leak.
"""

from __future__ import annotations

from collections.abc import Iterable

from podrun.json_types import JSON
from podrun.model.errors import FieldError
from podrun.model.service import keep_allocated, validate_service_spec, validate_service_update
from podrun.services.allocators import (
    DEFAULT_SERVICE_RANGE,
    AllocationError,
    ClusterIPAllocator,
    NodePortAllocator,
)


def allocate_for_create(service: JSON, stored: Iterable[JSON], cidr: str = DEFAULT_SERVICE_RANGE) -> list[FieldError]:
    """Validate a defaulted new Service and fill in its cluster IP and node ports; the field errors otherwise."""
    spec: JSON = service["spec"]
    errors = validate_service_spec(spec)
    if errors:
        return errors
    others = [item for item in stored if _key(item) != _key(service)]
    try:
        if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
            ip = ClusterIPAllocator.from_services(others, cidr).allocate(spec.get("clusterIP") or None)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        _allocate_node_ports(spec, others)
    except AllocationError as error:
        return error.errors
    return []


def allocate_for_update(old: JSON, new: JSON, stored: Iterable[JSON]) -> list[FieldError]:
    """Keep what `old` had allocated, validate the update, and allocate node ports a new NodePort type needs."""
    keep_allocated(old, new)
    spec: JSON = new["spec"]
    errors = validate_service_spec(spec) + validate_service_update(old, new)
    if errors:
        return errors
    others = [item for item in stored if _key(item) != _key(new)]
    try:
        _allocate_node_ports(spec, others)
    except AllocationError as error:
        return error.errors
    return []


def _allocate_node_ports(spec: JSON, others: list[JSON]) -> None:
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        return
    allocator = NodePortAllocator.from_services(others)
    for index, port in enumerate(spec.get("ports") or []):
        port["nodePort"] = allocator.allocate(f"spec.ports[{index}].nodePort", port.get("nodePort") or None)


def _key(service: JSON) -> tuple[str, str]:
    meta = service.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")
