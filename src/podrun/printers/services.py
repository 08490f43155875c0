"""`kubectl get` for Services, Endpoints, EndpointSlices and ServiceAccounts.

Each `print_*` returns the cells of one server-side Table row as `printService`, `printEndpoints`,
`printEndpointSlice` and `printServiceAccount` in pkg/printers/internalversion/printers.go compute them (the wide
form: kubectl hides the `priority: 1` SELECTOR column unless `-o wide`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from podrun.json_types import JSON
from podrun.printers.pods import POD_COLUMNS, translate_timestamp_since

_NONE = "<none>"
_UNSET = "<unset>"
_MAX_SHOWN = 3
_NAME = POD_COLUMNS[0]
_AGE = POD_COLUMNS[4]


def _column(name: str, description: str, *, priority: int = 0) -> JSON:
    return {"name": name, "type": "string", "format": "", "description": description, "priority": priority}


SERVICE_COLUMNS: tuple[JSON, ...] = (
    _NAME,
    _column("Type", "type determines how the Service is exposed. Defaults to ClusterIP."),
    _column("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
    _column("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
            "traffic for this service."),
    _column("Port(s)", "The list of ports that are exposed by this service."),
    _AGE,
    _column("Selector", "Route service traffic to pods with label keys and values matching this selector.",
            priority=1),
)  # fmt: skip
ENDPOINTS_COLUMNS: tuple[JSON, ...] = (
    _NAME,
    _column("Endpoints", "Endpoints of the service"),
    _AGE,
)
ENDPOINT_SLICE_COLUMNS: tuple[JSON, ...] = (
    _NAME,
    _column("AddressType", "addressType specifies the type of address carried by this EndpointSlice."),
    _column("Ports", "ports specifies the list of network ports exposed by each endpoint in this slice."),
    _column("Endpoints", "endpoints is a list of unique endpoints in this slice."),
    _AGE,
)
SERVICE_ACCOUNT_COLUMNS: tuple[JSON, ...] = (
    _NAME,
    {**_column("Secrets", "Secrets is a list of the secrets in the same namespace that pods running using this "
               "ServiceAccount are allowed to use."), "type": "integer"},
    _AGE,
)  # fmt: skip


def print_service(service: Mapping[str, Any], *, now: datetime) -> list[Any]:
    """NAME, TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S), AGE, SELECTOR."""
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    return [
        _name(service),
        spec.get("type") or "",
        spec.get("clusterIP") or _NONE,
        _external_ip(service),
        _port_string(spec.get("ports") or []) or _NONE,
        _age(service, now),
        ",".join(f"{key}={selector[key]}" for key in sorted(selector)) or _NONE,
    ]


def print_endpoints(endpoints: Mapping[str, Any], *, now: datetime) -> list[Any]:
    """NAME, ENDPOINTS (`ip:port`, three at most and a count of the rest), AGE."""
    return [_name(endpoints), format_endpoints(endpoints.get("subsets") or []), _age(endpoints, now)]


def print_endpoint_slice(endpoint_slice: Mapping[str, Any], *, now: datetime) -> list[Any]:
    """NAME, ADDRESSTYPE, PORTS, ENDPOINTS, AGE."""
    ports = [str(port["port"]) if port.get("port") is not None else port.get("name") or "*"
             for port in endpoint_slice.get("ports") or []]  # fmt: skip
    addresses = [
        address for endpoint in endpoint_slice.get("endpoints") or [] for address in endpoint.get("addresses") or []
    ]
    return [
        _name(endpoint_slice),
        endpoint_slice.get("addressType") or "",
        _list_with_more(ports),
        _list_with_more(addresses),
        _age(endpoint_slice, now),
    ]


def print_service_account(account: Mapping[str, Any], *, now: datetime) -> list[Any]:
    """NAME, SECRETS (how many are listed), AGE."""
    return [_name(account), len(account.get("secrets") or []), _age(account, now)]


def format_endpoints(subsets: list[JSON]) -> str:
    """`formatEndpoints`: ready addresses with each port, three at most, then ` + N more...`."""
    if not subsets:
        return _NONE
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [address["ip"] for address in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        for port in ports or [None]:
            count += len(addresses)
            for ip in addresses:
                if len(shown) < _MAX_SHOWN:
                    shown.append(ip if port is None else _host_port(ip, port["port"]))
    text = ",".join(shown)
    return f"{text} + {count - _MAX_SHOWN} more..." if count > _MAX_SHOWN else text


def _list_with_more(items: list[str]) -> str:
    text = ",".join(items[:_MAX_SHOWN])
    if len(items) > _MAX_SHOWN:
        return f"{text} + {len(items) - _MAX_SHOWN} more..."
    return text or _UNSET


def _external_ip(service: Mapping[str, Any]) -> str:
    spec = service.get("spec") or {}
    service_type = spec.get("type")
    if service_type == "ExternalName":
        return str(spec.get("externalName") or "")
    if service_type == "LoadBalancer":
        ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        addresses = [item.get("ip") or item.get("hostname") for item in ingress] + list(spec.get("externalIPs") or [])
        return ",".join(address for address in addresses if address) or "<pending>"
    return ",".join(spec.get("externalIPs") or []) or _NONE


def _port_string(ports: list[JSON]) -> str:
    pieces = []
    for port in ports:
        protocol = port.get("protocol") or "TCP"
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        pieces.append(f"{port.get('port')}{node_port}/{protocol}")
    return ",".join(pieces)


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _age(obj: Mapping[str, Any], now: datetime) -> str:
    return translate_timestamp_since((obj.get("metadata") or {}).get("creationTimestamp"), now)
