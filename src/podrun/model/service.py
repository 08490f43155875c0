"""Services as the API server defaults and validates them, with Kubernetes' field paths (pure).

Sources: `pkg/apis/core/v1/defaults.go` (SetDefaults_Service), the service registry's create/update preparation
(`ipFamilies`, `ipFamilyPolicy`, keeping allocated values on update) and `ValidateService`/`ValidateServiceUpdate`
of `pkg/apis/core/validation`. Cluster IPs and node ports themselves are allocated by `podrun.services.allocators`.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from podrun.json_types import JSON
from podrun.model.errors import FieldError
from podrun.model.validation import validate_labels
from podrun.model.validation.formats import (
    inclusive_range_error,
    is_dns1123_label,
    is_port_name,
    max_len_error,
    regex_error,
)
from podrun.model.validation.meta import validate_object_meta

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
PROTOCOLS = ("SCTP", "TCP", "UDP")
SESSION_AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
DEFAULT_CLIENT_IP_TIMEOUT = 10800
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS1035_ERROR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character"
)
_IP_DETAIL = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def default_service(service: Mapping[str, Any]) -> JSON:
    """A copy of `service` with the v1 defaults and what the registry sets on create (before allocation).

    As in Go, an empty string is an unset field (protobuf clients send them).
    """
    obj: JSON = copy.deepcopy(dict(service))
    meta = obj.setdefault("metadata", {})
    _default(meta, "namespace", "default")
    spec: JSON = obj.setdefault("spec", {})
    service_type = _default(spec, "type", "ClusterIP")
    if _default(spec, "sessionAffinity", "None") == "ClientIP":
        config = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        config.setdefault("timeoutSeconds", DEFAULT_CLIENT_IP_TIMEOUT)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            _default(port, "protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
    if service_type in ("NodePort", "LoadBalancer"):
        _default(spec, "externalTrafficPolicy", "Cluster")
        if service_type == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
    if service_type != "ExternalName":
        _default(spec, "internalTrafficPolicy", "Cluster")
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        headless_without_selector = spec.get("clusterIP") == "None" and not spec.get("selector")
        _default(spec, "ipFamilyPolicy", "RequireDualStack" if headless_without_selector else "SingleStack")
        _default(spec, "ipFamilies", ["IPv4"])
    obj.setdefault("status", {"loadBalancer": {}})
    return obj


def _default(holder: JSON, key: str, value: Any) -> Any:
    if holder.get(key) in (None, "", []):
        holder[key] = value
    return holder[key]


def keep_allocated(old: JSON, new: JSON) -> None:
    """`patchAllocatedValues`: an update that leaves out the cluster IP or node ports keeps the allocated ones."""
    old_spec, new_spec = old.get("spec") or {}, new.setdefault("spec", {})
    if old_spec.get("type") == "ExternalName" or new_spec.get("type") == "ExternalName":
        return
    if not new_spec.get("clusterIP") and old_spec.get("clusterIP"):
        new_spec["clusterIP"] = old_spec["clusterIP"]
    if not new_spec.get("clusterIPs") and old_spec.get("clusterIPs"):
        new_spec["clusterIPs"] = list(old_spec["clusterIPs"])
    if new_spec.get("type") in ("NodePort", "LoadBalancer"):
        old_ports = {(port.get("port"), port.get("protocol")): port for port in old_spec.get("ports") or []}
        for port in new_spec.get("ports") or []:
            previous = old_ports.get((port.get("port"), port.get("protocol")))
            if previous and previous.get("nodePort") and not port.get("nodePort"):
                port["nodePort"] = previous["nodePort"]


def is_dns1035_label(value: str) -> list[str]:
    """Problems with `value` as an RFC 1035 label (Service names)."""
    errors = []
    if len(value) > 63:
        errors.append(max_len_error(63))
    if not _DNS1035.fullmatch(value):
        errors.append(regex_error(_DNS1035_ERROR, _DNS1035.pattern, "my-name", "abc-123"))
    return errors


def validate_service_spec(spec: JSON) -> list[FieldError]:
    """ValidateService's checks of `spec` (the metadata is checked by the caller, names with `is_dns1035_label`)."""
    errors: list[FieldError] = []
    service_type = spec.get("type")
    if service_type not in SERVICE_TYPES:
        errors.append(FieldError.not_supported("spec.type", service_type, SERVICE_TYPES))
    if spec.get("sessionAffinity") not in SESSION_AFFINITIES:
        errors.append(FieldError.not_supported("spec.sessionAffinity", spec.get("sessionAffinity"), SESSION_AFFINITIES))
    if spec.get("internalTrafficPolicy") not in (None, *TRAFFIC_POLICIES):
        value = spec.get("internalTrafficPolicy")
        errors.append(FieldError.not_supported("spec.internalTrafficPolicy", value, TRAFFIC_POLICIES))
    ports: list[Any] = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    if service_type == "ExternalName":
        if not spec.get("externalName"):
            errors.append(FieldError.required("spec.externalName"))
    elif not ports and not headless:
        errors.append(FieldError.required("spec.ports"))
    errors += _validate_ports(ports, service_type)
    errors += _validate_cluster_ips(spec)
    errors += validate_labels(spec.get("selector") or {}, "spec.selector")
    return errors


def validate_service(service: JSON) -> list[FieldError]:
    """ValidateService: the metadata (an RFC 1035 name) and the spec."""
    meta = service.get("metadata")
    errors = validate_object_meta(meta if isinstance(meta, dict) else {}, lambda name, _prefix: is_dns1035_label(name))
    return errors + validate_service_spec(service.get("spec") or {})


def validate_service_update(old: JSON, new: JSON) -> list[FieldError]:
    """ValidateServiceUpdate's immutability: the cluster IPs stay what was allocated."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if "ExternalName" in (old_spec.get("type"), new_spec.get("type")):
        return []
    old_ips: list[str] = old_spec.get("clusterIPs") or []
    new_ips: list[str] = new_spec.get("clusterIPs") or []
    if old_ips and new_ips[:1] != old_ips[:1]:
        return [FieldError.invalid("spec.clusterIPs[0]", new_ips, "may not change once set")]
    return []


def _validate_ports(ports: list[Any], service_type: Any) -> list[FieldError]:
    errors: list[FieldError] = []
    names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    for index, port in enumerate(ports):
        path = f"spec.ports[{index}]"
        if not isinstance(port, dict):
            errors.append(FieldError.invalid(path, port, "must be an object"))
            continue
        name = str(port.get("name") or "")
        if not name and len(ports) > 1:
            errors.append(FieldError.required(f"{path}.name"))
        elif name:
            errors += [FieldError.invalid(f"{path}.name", name, text) for text in is_dns1123_label(name)]
            if name in names:
                errors.append(FieldError.duplicate(f"{path}.name", name))
            names.add(name)
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            errors.append(FieldError.invalid(f"{path}.port", number, inclusive_range_error(1, 65535)))
        protocol = port.get("protocol")
        if protocol not in PROTOCOLS:
            errors.append(FieldError.not_supported(f"{path}.protocol", protocol, PROTOCOLS))
        errors += _validate_target_port(port.get("targetPort"), f"{path}.targetPort")
        node_port = port.get("nodePort")
        if node_port and service_type not in ("NodePort", "LoadBalancer"):
            detail = f"may not be used when `type` is '{service_type}'"
            errors.append(FieldError.forbidden(f"{path}.nodePort", detail))
        if (number, protocol) in seen:
            errors.append(FieldError.duplicate(path, {"port": number, "protocol": protocol}))
        seen.add((number, protocol))
    return errors


def _validate_target_port(target: Any, path: str) -> list[FieldError]:
    if isinstance(target, int):
        return [] if 1 <= target <= 65535 else [FieldError.invalid(path, target, inclusive_range_error(1, 65535))]
    if isinstance(target, str):
        return [FieldError.invalid(path, target, text) for text in is_port_name(target)]
    return []


def _validate_cluster_ips(spec: JSON) -> list[FieldError]:
    errors: list[FieldError] = []
    cluster_ip = spec.get("clusterIP")
    cluster_ips: list[Any] = spec.get("clusterIPs") or []
    if spec.get("type") == "ExternalName":
        if cluster_ip or cluster_ips:
            errors.append(FieldError.forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        return errors
    if cluster_ip and cluster_ips and cluster_ips[0] != cluster_ip:
        errors.append(FieldError.invalid("spec.clusterIPs", cluster_ips, "first value must match `clusterIP`"))
    for index, ip in enumerate(cluster_ips):
        if ip == "None" and index == 0:
            continue
        if not _is_ip(ip):
            errors.append(FieldError.invalid(f"spec.clusterIPs[{index}]", ip, _IP_DETAIL))
    if cluster_ip == "None" and spec.get("type") in ("NodePort", "LoadBalancer"):
        detail = f"may not be set to 'None' for {spec['type']} services"
        errors.append(FieldError.invalid("spec.clusterIPs[0]", cluster_ip, detail))
    return errors


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True
