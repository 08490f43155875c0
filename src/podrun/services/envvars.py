"""Service environment variables, as the kubelet's `getServiceEnvVarMap` and `pkg/kubelet/envvars` make them."""

from __future__ import annotations

from collections.abc import Iterable

from podrun.json_types import JSON

MASTER_SERVICE_NAMESPACE = "default"
MASTER_SERVICE_NAME = "kubernetes"


def service_env_vars(services: Iterable[JSON], namespace: str, enable_service_links: bool) -> list[tuple[str, str]]:
    """The variables a container in `namespace` gets from `services` (all namespaces may be given).

    The `kubernetes` Service of `default` is always included; the pod's own namespace's Services only with
    `enableServiceLinks` (then a namespace's own `kubernetes` Service wins over the master's, as upstream).
    """
    chosen: dict[str, JSON] = {}
    for service in services:
        if not _ip_is_set(service):
            continue
        meta = service.get("metadata") or {}
        name = str(meta.get("name") or "")
        service_namespace = str(meta.get("namespace") or "")
        if service_namespace == MASTER_SERVICE_NAMESPACE and name == MASTER_SERVICE_NAME:
            chosen.setdefault(name, service)
        elif service_namespace == namespace and enable_service_links:
            chosen[name] = service
    return from_services(chosen[name] for name in sorted(chosen))


def from_services(services: Iterable[JSON]) -> list[tuple[str, str]]:
    """`envvars.FromServices`: host, ports and the Docker-link variables of each Service with a cluster IP."""
    result: list[tuple[str, str]] = []
    for service in services:
        if not _ip_is_set(service):
            continue
        spec = service.get("spec") or {}
        ports: list[JSON] = list(spec.get("ports") or [])
        prefix = _env_name(str(service["metadata"]["name"]))
        result.append((prefix + "_SERVICE_HOST", str(spec["clusterIP"])))
        if not ports:
            continue
        result.append((prefix + "_SERVICE_PORT", str(ports[0].get("port"))))
        for port in ports:
            if port.get("name"):
                result.append((f"{prefix}_SERVICE_PORT_{_env_name(str(port['name']))}", str(port.get("port"))))
        result += _link_variables(prefix, str(spec["clusterIP"]), ports)
    return result


def _link_variables(prefix: str, cluster_ip: str, ports: list[JSON]) -> list[tuple[str, str]]:
    variables: list[tuple[str, str]] = []
    host = f"[{cluster_ip}]" if ":" in cluster_ip else cluster_ip
    for index, port in enumerate(ports):
        protocol = str(port.get("protocol") or "TCP")
        number = str(port.get("port"))
        url = f"{protocol.lower()}://{host}:{number}"
        if index == 0:
            # Docker special-cases the first port.
            variables.append((prefix + "_PORT", url))
        port_prefix = f"{prefix}_PORT_{number}_{protocol.upper()}"
        variables += [
            (port_prefix, url),
            (port_prefix + "_PROTO", protocol.lower()),
            (port_prefix + "_PORT", number),
            (port_prefix + "_ADDR", cluster_ip),
        ]
    return variables


def _env_name(name: str) -> str:
    return name.replace("-", "_").upper()


def _ip_is_set(service: JSON) -> bool:
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    return bool(cluster_ip) and cluster_ip != "None"
