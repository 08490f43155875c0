"""What kube-proxy and CoreDNS make of Services and EndpointSlices: one `DataPlane` snapshot (pure).

`compute_data_plane(services, endpoint_slices, endpoints)` takes the objects as stored and gives the node's
Service rules (one per ClusterIP Service port), the cluster DNS records and the NodePorts to publish. Endpoints
come from the EndpointSlices labelled with their Service's name, read as kube-proxy's endpointslice cache does
(the first address of each endpoint; `ready` and `serving` true and `terminating` false when absent); a
selector-less Service with an Endpoints object but no slice gets the slices the EndpointSlice mirroring
controller would write for it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from podrun.json_types import JSON
from podrun.network.dns import DnsRecords, Endpoint, ServicePort, ServiceRecord
from podrun.network.nftables import ServiceRule
from podrun.services.endpoints import SERVICE_NAME_LABEL

SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


@dataclass(frozen=True)
class NodePortRule:
    """One NodePort of one Service: `127.0.0.1:node_port` on the host leads to `cluster_ip:port`."""

    namespace: str
    name: str
    port_name: str
    node_port: int
    cluster_ip: str
    port: int

    @property
    def target(self) -> tuple[str, int]:
        """Where the published port leads: the Service address, balanced by the node's rules."""
        return (self.cluster_ip, self.port)


@dataclass(frozen=True)
class DataPlane:
    """Everything the node's data path should carry at one moment."""

    rules: list[ServiceRule] = field(default_factory=list)
    records: DnsRecords = field(default_factory=DnsRecords)
    node_ports: list[NodePortRule] = field(default_factory=list)


@dataclass(frozen=True)
class _SliceEndpoint:
    ip: str
    hostname: str
    ready: bool
    serving: bool
    terminating: bool


@dataclass(frozen=True)
class _SlicePort:
    name: str
    port: int
    protocol: str


def compute_data_plane(
    services: Iterable[JSON],
    endpoint_slices: Iterable[JSON],
    endpoints: Iterable[JSON] = (),
    *,
    domain: str = "cluster.local",
) -> DataPlane:
    """The Service rules, DNS records and NodePorts for these Services, slices and Endpoints (in any order)."""
    slices_by_service: dict[tuple[str, str], list[JSON]] = {}
    for endpoint_slice in endpoint_slices:
        owner = _labels(endpoint_slice).get(SERVICE_NAME_LABEL)
        if owner and endpoint_slice.get("addressType", "IPv4") == "IPv4":
            slices_by_service.setdefault((_namespace(endpoint_slice), owner), []).append(endpoint_slice)
    endpoints_by_service = {(_namespace(item), item["metadata"]["name"]): item for item in endpoints}
    rules: list[ServiceRule] = []
    records: list[ServiceRecord] = []
    node_ports: list[NodePortRule] = []
    for service in sorted(services, key=lambda item: (_namespace(item), item["metadata"]["name"])):
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName":
            continue  # a CNAME in CoreDNS; podrun's DNS answers A, SRV and PTR only
        key = (_namespace(service), service["metadata"]["name"])
        slices = slices_by_service.get(key)
        if slices is None and not spec.get("selector") and key in endpoints_by_service:
            slices = mirrored_slices(endpoints_by_service[key])
        rules.extend(_rules(service, slices or []))
        records.append(_record(service, slices or []))
        node_ports.extend(_node_ports(service))
    return DataPlane(rules, DnsRecords(records, domain=domain), node_ports)


def mirrored_slices(endpoints: JSON) -> list[JSON]:
    """The EndpointSlices the mirroring controller writes for a selector-less Service's Endpoints (none when the
    Endpoints carry `endpointslice.kubernetes.io/skip-mirror`): one per subset, `notReadyAddresses` not ready."""
    if _labels(endpoints).get(SKIP_MIRROR_LABEL) == "true":
        return []
    slices = []
    for subset in endpoints.get("subsets") or []:
        slice_endpoints = [
            _mirrored_endpoint(address, ready)
            for key, ready in (("addresses", True), ("notReadyAddresses", False))
            for address in subset.get(key) or []
        ]
        slices.append({"addressType": "IPv4", "endpoints": slice_endpoints, "ports": subset.get("ports") or []})
    return slices


def _mirrored_endpoint(address: JSON, ready: bool) -> JSON:
    endpoint: JSON = {"addresses": [address["ip"]], "conditions": {"ready": ready}}
    if address.get("hostname"):
        endpoint["hostname"] = address["hostname"]
    return endpoint


def _rules(service: JSON, slices: list[JSON]) -> list[ServiceRule]:
    spec = service.get("spec") or {}
    cluster_ip = spec.get("clusterIP") or ""
    if cluster_ip in ("", "None"):
        return []  # headless: DNS names the endpoints, no virtual address to program
    namespace, name = _namespace(service), service["metadata"]["name"]
    rules = []
    for service_port in spec.get("ports") or []:
        port_name = service_port.get("name") or ""
        protocol = service_port.get("protocol") or "TCP"
        candidates = [
            (endpoint, port.port)
            for endpoint_slice in slices
            for port in _slice_ports(endpoint_slice)
            if port.name == port_name and port.protocol == protocol
            for endpoint in _slice_endpoints(endpoint_slice)
        ]
        targets = sorted({(endpoint.ip, number) for endpoint, number in _usable(candidates)})
        rules.append(ServiceRule(namespace, name, cluster_ip, int(service_port["port"]), protocol, port_name, targets))
    return rules


def _usable(candidates: list[tuple[_SliceEndpoint, int]]) -> list[tuple[_SliceEndpoint, int]]:
    """kube-proxy's choice: the ready endpoints, or when there are none, those still serving while terminating."""
    ready = [(endpoint, port) for endpoint, port in candidates if endpoint.ready]
    return ready or [(endpoint, port) for endpoint, port in candidates if endpoint.serving and endpoint.terminating]


def _record(service: JSON, slices: list[JSON]) -> ServiceRecord:
    spec = service.get("spec") or {}
    namespace, name = _namespace(service), service["metadata"]["name"]
    cluster_ip = spec.get("clusterIP") or ""
    if cluster_ip not in ("", "None"):
        ports = [
            ServicePort(port.get("name") or "", int(port["port"]), port.get("protocol") or "TCP")
            for port in spec.get("ports") or []
        ]
        return ServiceRecord(namespace, name, cluster_ip, ports)
    # Headless: CoreDNS answers with the ready endpoints, and SRV records carry the endpoints' own ports.
    by_ip: dict[str, Endpoint] = {}
    slice_ports: dict[tuple[str, str], ServicePort] = {}
    for endpoint_slice in slices:
        for endpoint in _slice_endpoints(endpoint_slice):
            if endpoint.ready:
                by_ip.setdefault(endpoint.ip, Endpoint(endpoint.ip, endpoint.hostname))
        for port in _slice_ports(endpoint_slice):
            slice_ports.setdefault((port.name, port.protocol), ServicePort(port.name, port.port, port.protocol))
    ready = [by_ip[ip] for ip in sorted(by_ip, key=_ip_key)]
    return ServiceRecord(namespace, name, "None", [slice_ports[key] for key in sorted(slice_ports)], ready)


def _node_ports(service: JSON) -> list[NodePortRule]:
    spec = service.get("spec") or {}
    cluster_ip = spec.get("clusterIP") or ""
    if spec.get("type") not in NODE_PORT_TYPES or cluster_ip in ("", "None"):
        return []
    return [
        NodePortRule(
            _namespace(service),
            service["metadata"]["name"],
            port.get("name") or "",
            int(port["nodePort"]),
            cluster_ip,
            int(port["port"]),
        )
        # The host side is a TCP relay: UDP and SCTP NodePorts are not published.
        for port in spec.get("ports") or []
        if port.get("nodePort") and (port.get("protocol") or "TCP") == "TCP"
    ]


def _slice_endpoints(endpoint_slice: JSON) -> list[_SliceEndpoint]:
    found = []
    for endpoint in endpoint_slice.get("endpoints") or []:
        addresses = endpoint.get("addresses") or []
        if not addresses or not _is_ipv4(addresses[0]):
            continue
        conditions = endpoint.get("conditions") or {}
        ready = conditions.get("ready") is not False
        found.append(
            _SliceEndpoint(
                ip=addresses[0],  # kube-proxy uses the first address only
                hostname=endpoint.get("hostname") or "",
                ready=ready,
                serving=conditions.get("serving", ready) is not False,
                terminating=conditions.get("terminating") is True,
            )
        )
    return found


def _slice_ports(endpoint_slice: JSON) -> list[_SlicePort]:
    return [
        _SlicePort(port.get("name") or "", int(port["port"]), port.get("protocol") or "TCP")
        for port in endpoint_slice.get("ports") or []
        if isinstance(port.get("port"), int)  # a slice port without a number means "all ports": unusable here
    ]


def _labels(obj: JSON) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _namespace(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def _is_ipv4(address: object) -> bool:
    if not isinstance(address, str):
        return False
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return True


def _ip_key(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))
