"""ClusterIP and NodePort allocation, rebuilt from the stored Services as the API server's repair loops do (pure)."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable

from podrun.json_types import JSON
from podrun.model.errors import FieldError

DEFAULT_SERVICE_RANGE = "10.96.0.0/16"
NODE_PORT_RANGE = (30000, 32767)
ALREADY_ALLOCATED_IP = "provided IP is already allocated"
ALREADY_ALLOCATED_PORT = "provided port is already allocated"


class AllocationError(Exception):
    """A requested address or port cannot be had; `errors` are the 422's causes."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


class ClusterIPAllocator:
    """Addresses of the service range; the network and broadcast addresses are never given out."""

    def __init__(self, cidr: str = DEFAULT_SERVICE_RANGE, used: Iterable[str] = ()) -> None:
        self.network = ipaddress.IPv4Network(cidr)
        self.used: set[ipaddress.IPv4Address] = {ipaddress.IPv4Address(ip) for ip in used}
        self.rng = random.Random()

    @classmethod
    def from_services(cls, services: Iterable[JSON], cidr: str = DEFAULT_SERVICE_RANGE) -> ClusterIPAllocator:
        """The allocation state implied by the stored Services."""
        return cls(cidr, (ip for service in services for ip in service_cluster_ips(service)))

    def nth(self, index: int) -> str:
        """The index-th address of the range (`.1` for the `kubernetes` Service, `.10` for `kube-dns`)."""
        return str(self.network.network_address + index)

    def allocate(self, requested: str | None = None) -> str:
        """The requested address if free and in range, else the first free one (AllocationError otherwise)."""
        if requested:
            address = ipaddress.IPv4Address(requested)
            if not self._in_range(address):
                detail = (
                    f"failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. "
                    f"The range of valid IPs is {self.network}"
                )
                raise AllocationError([FieldError.invalid("spec.clusterIPs", [requested], detail)])
            if address in self.used:
                detail = f"failed to allocate IP {requested}: {ALREADY_ALLOCATED_IP}"
                raise AllocationError([FieldError.invalid("spec.clusterIPs", [requested], detail)])
            self.used.add(address)
            return requested
        # As since v1.24 (KEP-3070): dynamic addresses come at random from above the lower band, which is kept
        # for addresses asked for by name (`.10` for DNS); the lower band is used only when the upper one is full.
        size = self.network.num_addresses - 2
        lower_band = min(max(16, size // 16), 256)
        upper = [offset for offset in range(lower_band + 1, size + 1) if self._free(offset)]
        lower = [offset for offset in range(1, lower_band + 1) if self._free(offset)]
        if not upper and not lower:
            raise AllocationError([FieldError.invalid("spec.clusterIPs", [], "range is full")])
        chosen = self.network.network_address + self.rng.choice(upper or lower)
        self.used.add(chosen)
        return str(chosen)

    def release(self, ip: str) -> None:
        """Give an address back (on delete)."""
        if ip and ip != "None":
            self.used.discard(ipaddress.IPv4Address(ip))

    def _free(self, offset: int) -> bool:
        return self.network.network_address + offset not in self.used

    def _in_range(self, address: ipaddress.IPv4Address) -> bool:
        return address in self.network and address not in (self.network.network_address, self.network.broadcast_address)


class NodePortAllocator:
    """Ports of 30000-32767."""

    def __init__(self, used: Iterable[int] = (), port_range: tuple[int, int] = NODE_PORT_RANGE) -> None:
        self.low, self.high = port_range
        self.used: set[int] = set(used)

    @classmethod
    def from_services(cls, services: Iterable[JSON]) -> NodePortAllocator:
        """The allocation state implied by the stored Services."""
        return cls(port for service in services for port in service_node_ports(service))

    def allocate(self, path: str, requested: int | None = None) -> int:
        """The requested port if free and in range, else the first free one; `path` names the field in errors."""
        if requested:
            if not self.low <= requested <= self.high:
                detail = f"provided port is not in the valid range. The range of valid ports is {self.low}-{self.high}"
                raise AllocationError([FieldError.invalid(path, requested, detail)])
            if requested in self.used:
                raise AllocationError([FieldError.invalid(path, requested, ALREADY_ALLOCATED_PORT)])
            self.used.add(requested)
            return requested
        for port in range(self.low, self.high + 1):
            if port not in self.used:
                self.used.add(port)
                return port
        raise AllocationError([FieldError.invalid(path, requested, "range is full")])

    def release(self, port: int) -> None:
        """Give a port back (on delete)."""
        self.used.discard(port)


def service_cluster_ips(service: JSON) -> list[str]:
    """The Service's allocated cluster IPs (none for headless or ExternalName Services)."""
    spec = service.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [ip for ip in ips if ip and ip != "None"]


def service_node_ports(service: JSON) -> list[int]:
    """The Service's allocated node ports."""
    return [int(port["nodePort"]) for port in (service.get("spec") or {}).get("ports") or [] if port.get("nodePort")]
