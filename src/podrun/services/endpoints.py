"""What the endpoints and endpointslice controllers compute for a Service from its pods (pure).

Upstream: `pkg/controller/endpoint` (Endpoints: ready and not-ready addresses per port set, terminating pods left
out) and `pkg/controller/endpointslice` (one slice per port set and address type, with ready/serving/terminating
conditions, terminating pods kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from podrun.json_types import JSON

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"


def selects(service: JSON, pod: JSON) -> bool:
    """Whether the Service's selector (a plain label map) matches the pod in its namespace."""
    selector: Mapping[str, Any] = (service.get("spec") or {}).get("selector") or {}
    if not selector or _namespace(pod) != _namespace(service):
        return False
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


def is_managed(service: JSON) -> bool:
    """Services without a selector keep the Endpoints and EndpointSlices their users write."""
    return bool((service.get("spec") or {}).get("selector"))


def compute_endpoints(service: JSON, pods: Iterable[JSON]) -> JSON:
    """The Endpoints object for a Service with a selector, from all pods (those it selects are used)."""
    tolerate_unready = bool(service["spec"].get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[Any, ...], ...], dict[str, list[JSON]]] = {}
    for pod in pods:
        if not selects(service, pod) or not _in_endpoints(pod, include_terminating=tolerate_unready):
            continue
        address = _address(service, pod)
        key = "addresses" if tolerate_unready or is_ready(pod) else "notReadyAddresses"
        for ports in _port_sets(service, pod):
            group = groups.setdefault(tuple(sorted(tuple(sorted(port.items())) for port in ports)), {})
            group.setdefault(key, []).append(address)
    subsets = []
    for port_key in sorted(groups):
        subset: JSON = {}
        for key in ("addresses", "notReadyAddresses"):
            if key in groups[port_key]:
                subset[key] = sorted(groups[port_key][key], key=lambda address: _ip_key(address["ip"]))
        if port_key:
            subset["ports"] = [dict(port) for port in port_key]
        subsets.append(subset)
    endpoints: JSON = {
        "kind": "Endpoints",
        "apiVersion": "v1",
        "metadata": {"name": service["metadata"]["name"], "namespace": _namespace(service), "labels": _labels(service)},
    }
    if subsets:
        endpoints["subsets"] = subsets
    return endpoints


def compute_endpoint_slices(service: JSON, pods: Iterable[JSON]) -> list[JSON]:
    """The EndpointSlices (one per port set, IPv4) for a Service with a selector; names are left to the caller.

    Each slice has `metadata.generateName` `<service>-`; with no endpoints, one placeholder slice without ports.
    """
    spec = service["spec"]
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[Any, ...], ...], list[JSON]] = {}
    for pod in pods:
        if not selects(service, pod) or not _in_endpoints(pod, include_terminating=True):
            continue
        ready = is_ready(pod)
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        endpoint: JSON = {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {
                "ready": (publish_not_ready or ready) and (publish_not_ready or not terminating),
                "serving": ready,
                "terminating": terminating,
            },
        }
        address = _address(service, pod)
        if "hostname" in address:
            endpoint["hostname"] = address["hostname"]
        endpoint["targetRef"] = address["targetRef"]
        if "nodeName" in address:
            endpoint["nodeName"] = address["nodeName"]
        for ports in _port_sets(service, pod):
            groups.setdefault(tuple(sorted(tuple(sorted(port.items())) for port in ports)), []).append(endpoint)
    if not groups:
        return [_slice(service, None, [])]
    return [
        _slice(service, [dict(port) for port in key], sorted(groups[key], key=lambda e: _ip_key(e["addresses"][0])))
        for key in sorted(groups)
    ]


def slice_port_key(endpoint_slice: JSON) -> tuple[tuple[Any, ...], ...] | None:
    """The identity of a slice's port set, for matching computed slices with stored ones."""
    ports = endpoint_slice.get("ports")
    if ports is None:
        return None
    return tuple(sorted(tuple(sorted(port.items())) for port in ports))


def is_ready(pod: JSON) -> bool:
    """`podutil.IsPodReady`: the pod's `Ready` condition is True."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _in_endpoints(pod: JSON, *, include_terminating: bool) -> bool:
    """`ShouldPodBeInEndpoints`: an IP, not terminating (unless included), not finished for good."""
    status = pod.get("status") or {}
    if not status.get("podIP"):
        return False
    if not include_terminating and pod["metadata"].get("deletionTimestamp"):
        return False
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    phase = status.get("phase")
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def _port_sets(service: JSON, pod: JSON) -> list[list[JSON]]:
    """The ports this pod serves for the Service (each resolved per pod); one empty set for a portless Service."""
    service_ports: list[JSON] = service["spec"].get("ports") or []
    if not service_ports:
        return [[]]
    resolved = []
    for service_port in service_ports:
        number = find_port(pod, service_port)
        if number is None:
            continue
        port: JSON = {"name": service_port.get("name") or "", "port": number}
        port["protocol"] = service_port.get("protocol") or "TCP"
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        resolved.append(port)
    # Upstream adds a subset per service port; ports of one pod end up together after repacking.
    return [resolved] if resolved else []


def find_port(pod: JSON, service_port: JSON) -> int | None:
    """`podutil.FindPort`: a numeric targetPort as is, a named one from the pod's container ports."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def _address(service: JSON, pod: JSON) -> JSON:
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    address: JSON = {"ip": pod["status"]["podIP"]}
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        address["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    address["targetRef"] = {
        "kind": "Pod",
        "namespace": _namespace(pod),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
    }
    return address


def _slice(service: JSON, ports: list[JSON] | None, endpoints: list[JSON]) -> JSON:
    meta = service["metadata"]
    labels = {**_labels(service), SERVICE_NAME_LABEL: meta["name"], MANAGED_BY_LABEL: MANAGED_BY}
    endpoint_slice: JSON = {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "generateName": meta["name"] + "-",
            "namespace": _namespace(service),
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
    }
    if ports is not None:
        endpoint_slice["ports"] = ports
    return endpoint_slice


def _labels(service: JSON) -> JSON:
    labels = dict(service["metadata"].get("labels") or {})
    if service["spec"].get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    return labels


def _namespace(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def _ip_key(ip: str) -> tuple[int, ...]:
    return tuple(int(part) for part in ip.split(".")) if "." in ip else (0,)
