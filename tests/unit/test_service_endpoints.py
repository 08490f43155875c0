"""Endpoints and EndpointSlices computed from a Service and its pods, as the upstream controllers do."""

from __future__ import annotations

from typing import Any

import pytest

from podrun.json_types import JSON
from podrun.services.endpoints import (
    MANAGED_BY,
    compute_endpoint_slices,
    compute_endpoints,
    find_port,
    is_managed,
)


def make_service(name: str = "web", **spec: Any) -> JSON:
    base: JSON = {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    return {"metadata": {"name": name, "namespace": "ns", "uid": "svc-uid"}, "spec": {**base, **spec}}


def make_pod(name: str, ip: str | None, *, ready: bool = True, labels: JSON | None = None, **extra: Any) -> JSON:
    pod: JSON = {
        "metadata": {"name": name, "namespace": "ns", "uid": f"{name}-uid", "labels": labels or {"app": "web"}},
        "spec": {"nodeName": "node1", "containers": [{"name": "c", "ports": [{"name": "web", "containerPort": 8081}]}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }
    if ip:
        pod["status"]["podIP"] = ip
    for key, value in extra.items():
        section = "metadata" if key == "deletionTimestamp" else "spec"
        pod[section][key] = value
    return pod


def addresses(endpoints: JSON, key: str = "addresses") -> list[str]:
    return [address["ip"] for subset in endpoints.get("subsets", []) for address in subset.get(key, [])]


def test_ready_pods_are_addresses_and_unready_ones_not_ready_addresses() -> None:
    pods = [make_pod("b", "10.244.0.6"), make_pod("a", "10.244.0.5"), make_pod("c", "10.244.0.7", ready=False)]
    endpoints = compute_endpoints(make_service(), pods)
    assert addresses(endpoints) == ["10.244.0.5", "10.244.0.6"]
    assert addresses(endpoints, "notReadyAddresses") == ["10.244.0.7"]
    assert endpoints["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_an_address_names_its_pod_and_node() -> None:
    address = compute_endpoints(make_service(), [make_pod("a", "10.244.0.5")])["subsets"][0]["addresses"][0]
    assert address == {
        "ip": "10.244.0.5",
        "nodeName": "node1",
        "targetRef": {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "a-uid"},
    }


@pytest.mark.parametrize(
    ("pod", "why"),
    [
        (make_pod("a", None), "no IP yet"),
        (make_pod("a", "10.244.0.5", labels={"app": "other"}), "not selected"),
        (make_pod("a", "10.244.0.5", deletionTimestamp="2026-01-01T00:00:00Z"), "terminating"),
        (make_pod("a", "10.244.0.5", restartPolicy="Never") | {"status": {"phase": "Succeeded", "podIP": "10.244.0.5"}},
         "finished"),
    ],
)  # fmt: skip
def test_pods_left_out_of_endpoints(pod: JSON, why: str) -> None:
    assert "subsets" not in compute_endpoints(make_service(), [pod]), why


def test_publish_not_ready_addresses_makes_every_pod_an_address() -> None:
    endpoints = compute_endpoints(make_service(publishNotReadyAddresses=True), [make_pod("a", "10.0.0.1", ready=False)])
    assert addresses(endpoints) == ["10.0.0.1"]


def test_named_target_ports_are_resolved_per_pod() -> None:
    service = make_service(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    assert find_port(make_pod("a", "10.0.0.1"), service["spec"]["ports"][0]) == 8081
    endpoints = compute_endpoints(service, [make_pod("a", "10.0.0.1")])
    assert endpoints["subsets"][0]["ports"][0]["port"] == 8081


def test_a_pod_without_the_named_port_is_left_out() -> None:
    service = make_service(ports=[{"name": "http", "port": 80, "targetPort": "missing", "protocol": "TCP"}])
    assert "subsets" not in compute_endpoints(service, [make_pod("a", "10.0.0.1")])


def test_hostname_is_set_when_the_subdomain_names_the_service() -> None:
    service = make_service(name="db", clusterIP="None")
    pod = make_pod("a", "10.0.0.1", hostname="db-0", subdomain="db")
    endpoints = compute_endpoints(service, [pod])
    assert endpoints["subsets"][0]["addresses"][0]["hostname"] == "db-0"
    assert endpoints["metadata"]["labels"] == {"service.kubernetes.io/headless": ""}
    assert compute_endpoint_slices(service, [pod])[0]["endpoints"][0]["hostname"] == "db-0"


def test_a_slice_carries_conditions_labels_and_owner() -> None:
    pods = [make_pod("a", "10.0.0.1"), make_pod("b", "10.0.0.2", ready=False)]
    (endpoint_slice,) = compute_endpoint_slices(make_service(), pods)
    assert endpoint_slice["addressType"] == "IPv4"
    assert endpoint_slice["metadata"]["labels"] == {
        "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
    }
    assert endpoint_slice["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert endpoint_slice["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    conditions = [endpoint["conditions"] for endpoint in endpoint_slice["endpoints"]]
    assert conditions == [
        {"ready": True, "serving": True, "terminating": False},
        {"ready": False, "serving": False, "terminating": False},
    ]


def test_terminating_pods_stay_in_slices_as_not_ready_but_serving() -> None:
    pod = make_pod("a", "10.0.0.1", deletionTimestamp="2026-01-01T00:00:00Z")
    (endpoint_slice,) = compute_endpoint_slices(make_service(), [pod])
    assert endpoint_slice["endpoints"][0]["conditions"] == {"ready": False, "serving": True, "terminating": True}


def test_a_service_without_endpoints_has_one_empty_slice_without_ports() -> None:
    (endpoint_slice,) = compute_endpoint_slices(make_service(), [])
    assert endpoint_slice["endpoints"] == []
    assert "ports" not in endpoint_slice


def test_pods_with_different_ports_get_separate_slices() -> None:
    service = make_service(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    other = make_pod("b", "10.0.0.2")
    other["spec"]["containers"][0]["ports"][0]["containerPort"] = 9090
    slices = compute_endpoint_slices(service, [make_pod("a", "10.0.0.1"), other])
    assert sorted(s["ports"][0]["port"] for s in slices) == [8081, 9090]


def test_services_without_a_selector_are_not_managed() -> None:
    assert not is_managed(make_service(selector=None))
    assert is_managed(make_service())
