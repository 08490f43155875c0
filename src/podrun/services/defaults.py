"""The Services every cluster has: `kubernetes` in `default` (the API server) and `kube-dns` in `kube-system`."""

from __future__ import annotations

from podrun.api.errors import ApiError
from podrun.api.store import Store
from podrun.json_types import JSON
from podrun.model.service import default_service
from podrun.services.accounts import default_service_account, root_ca_configmap
from podrun.services.allocators import ClusterIPAllocator
from podrun.services.endpoints import SERVICE_NAME_LABEL

KUBERNETES_SERVICE_INDEX = 1
DNS_SERVICE_INDEX = 10
_SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"


def kubernetes_service(cluster_ip: str, target_port: int) -> JSON:
    """The `kubernetes` Service as the API server's controller keeps it: no selector, port 443 `https`."""
    return default_service(
        {
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "clusterIP": cluster_ip,
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": target_port}],
            },
        }
    )


def kube_dns_service(cluster_ip: str) -> JSON:
    """The `kube-dns` Service (selector-less: podrun's DNS server is no pod)."""
    return default_service(
        {
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": {
                "name": "kube-dns",
                "namespace": "kube-system",
                "labels": {
                    "k8s-app": "kube-dns",
                    "kubernetes.io/cluster-service": "true",
                    "kubernetes.io/name": "CoreDNS",
                },
            },
            "spec": {
                "clusterIP": cluster_ip,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                    {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
                ],
            },
        }
    )


def kubernetes_endpoints(address: str, port: int) -> JSON:
    """The `kubernetes` Endpoints: the API server's address (not mirrored into slices: those are written too)."""
    return {
        "kind": "Endpoints",
        "apiVersion": "v1",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {_SKIP_MIRROR: "true"}},
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    }


def kubernetes_endpoint_slice(address: str, port: int) -> JSON:
    """The `kubernetes` EndpointSlice, as the API server writes it."""
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {SERVICE_NAME_LABEL: "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }


def kube_dns_endpoints(address: str) -> JSON:
    """The `kube-dns` Endpoints: podrun's DNS server, which answers on the Service's own address."""
    return {
        "kind": "Endpoints",
        "apiVersion": "v1",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {_SKIP_MIRROR: "true"}},
        "subsets": [{"addresses": [{"ip": address}], "ports": _DNS_PORTS}],
    }


def kube_dns_endpoint_slice(address: str) -> JSON:
    """The `kube-dns` EndpointSlice, naming the same DNS server."""
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {SERVICE_NAME_LABEL: "kube-dns"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": _DNS_PORTS,
    }


# No metrics port: nothing serves CoreDNS's metrics, so that Service port keeps no endpoint.
_DNS_PORTS = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]


def put_kubernetes_endpoints(store: Store, address: str, port: int) -> None:
    """Make the `kubernetes` Endpoints and EndpointSlice name `address:port` (written only when they differ)."""
    _put(store, "endpoints", kubernetes_endpoints(address, port))
    _put(store, "endpointslices", kubernetes_endpoint_slice(address, port))


def put_kube_dns_endpoints(store: Store, address: str) -> None:
    """Make the `kube-dns` Endpoints and EndpointSlice name the DNS server at `address` (port 53, UDP and TCP)."""
    _put(store, "endpoints", kube_dns_endpoints(address))
    _put(store, "endpointslices", kube_dns_endpoint_slice(address))


def ensure_service_defaults(
    store: Store,
    *,
    api_endpoint: tuple[str, int] | None = None,
    ca_pem: str | None = None,
    service_cidr: str | None = None,
) -> None:
    """Create what is missing: the two Services, a `default` ServiceAccount (and with `ca_pem` the
    `kube-root-ca.crt` ConfigMap) in every namespace, and with `api_endpoint` (address, port) the `kubernetes`
    Endpoints and EndpointSlice (rewritten when the address changed)."""
    allocator = ClusterIPAllocator(service_cidr) if service_cidr else ClusterIPAllocator()
    target_port = api_endpoint[1] if api_endpoint else 6443
    _create_missing(store, "services", kubernetes_service(allocator.nth(KUBERNETES_SERVICE_INDEX), target_port))
    _create_missing(store, "services", kube_dns_service(allocator.nth(DNS_SERVICE_INDEX)))
    for namespace in store.list("namespaces", None)[0]:
        name = namespace["metadata"]["name"]
        _create_missing(store, "serviceaccounts", default_service_account(name))
        if ca_pem is not None:
            _create_missing(store, "configmaps", root_ca_configmap(name, ca_pem))
    if api_endpoint is not None:
        put_kubernetes_endpoints(store, *api_endpoint)


def _create_missing(store: Store, resource: str, obj: JSON) -> None:
    meta = obj["metadata"]
    try:
        store.get(resource, meta["namespace"], meta["name"])
    except ApiError:
        store.create(resource, obj)


def _put(store: Store, resource: str, obj: JSON) -> None:
    meta = obj["metadata"]
    try:
        store.get(resource, meta["namespace"], meta["name"])
    except ApiError:
        store.create(resource, obj)
        return
    store.update_if_changed(resource, obj)
