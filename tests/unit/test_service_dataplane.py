"""From Services and EndpointSlices to the node's data path (rules, DNS records, NodePorts), as kube-proxy and
CoreDNS read them. A mixed snapshot is pinned by a golden file."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from podrun.json_types import JSON
from podrun.network.dns import Endpoint, ServicePort, ServiceRecord
from podrun.network.nftables import ServiceRule
from podrun.services.dataplane import NodePortRule, compute_data_plane, mirrored_slices

GOLDEN = Path(__file__).parent.parent / "golden" / "network" / "dataplane.json"


def service(name: str, cluster_ip: str = "10.96.0.20", *ports: JSON, namespace: str = "shop", **spec: Any) -> JSON:
    ports = ports or ({"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},)
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": cluster_ip, "ports": list(ports), "selector": {"app": name}, **spec},
    }


def endpoint(ip: str, *, ready: bool | None = True, serving: bool | None = None, terminating: bool | None = None,
             hostname: str = "") -> JSON:  # fmt: skip
    conditions = {
        key: value for key, value in (("ready", ready), ("serving", serving), ("terminating", terminating))
        if value is not None
    }  # fmt: skip
    found: JSON = {"addresses": [ip], "conditions": conditions}
    if hostname:
        found["hostname"] = hostname
    return found


def endpoint_slice(service_name: str, *endpoints: JSON, ports: list[JSON] | None = None, namespace: str = "shop",
                   name: str = "") -> JSON:  # fmt: skip
    return {
        "kind": "EndpointSlice",
        "metadata": {
            "name": name or f"{service_name}-abcde",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "endpoints": list(endpoints),
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}] if ports is None else ports,
    }


def rule_endpoints(services: list[JSON], slices: list[JSON], endpoints: list[JSON] | None = None) -> list[Any]:
    return [rule.endpoints for rule in compute_data_plane(services, slices, endpoints or []).rules]


def test_a_clusterip_service_port_leads_to_its_ready_endpoints() -> None:
    slices = [endpoint_slice("web", endpoint("10.244.0.6"), endpoint("10.244.0.5"))]
    plane = compute_data_plane([service("web")], slices)
    assert plane.rules == [
        ServiceRule("shop", "web", "10.96.0.20", 80, "TCP", "http", [("10.244.0.5", 8080), ("10.244.0.6", 8080)])
    ]


def test_not_ready_endpoints_are_left_out() -> None:
    slices = [endpoint_slice("web", endpoint("10.244.0.5"), endpoint("10.244.0.6", ready=False))]
    assert rule_endpoints([service("web")], slices) == [[("10.244.0.5", 8080)]]


def test_terminating_serving_endpoints_are_used_only_when_none_is_ready() -> None:
    draining = endpoint("10.244.0.6", ready=False, serving=True, terminating=True)
    stopped = endpoint("10.244.0.7", ready=False, serving=False, terminating=True)
    assert rule_endpoints([service("web")], [endpoint_slice("web", draining, stopped)]) == [[("10.244.0.6", 8080)]]
    with_ready = endpoint_slice("web", draining, endpoint("10.244.0.5"))
    assert rule_endpoints([service("web")], [with_ready]) == [[("10.244.0.5", 8080)]]


def test_missing_conditions_count_as_ready() -> None:
    assert rule_endpoints([service("web")], [endpoint_slice("web", endpoint("10.244.0.5", ready=None))]) == [
        [("10.244.0.5", 8080)]
    ]


def test_a_service_without_endpoints_keeps_a_rule_without_endpoints() -> None:
    assert rule_endpoints([service("web")], []) == [[]]


def test_endpoints_are_matched_to_service_ports_by_name_and_protocol() -> None:
    web = service(
        "web", "10.96.0.20",
        {"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"},
    )  # fmt: skip
    ports = [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 5353, "protocol": "UDP"}]
    plane = compute_data_plane([web], [endpoint_slice("web", endpoint("10.244.0.5"), ports=ports)])
    assert [(rule.port_name, rule.protocol, rule.endpoints) for rule in plane.rules] == [
        ("http", "TCP", [("10.244.0.5", 8080)]),
        ("dns", "UDP", [("10.244.0.5", 5353)]),
    ]


def test_slices_of_another_service_or_namespace_are_not_used() -> None:
    slices = [
        endpoint_slice("other", endpoint("10.244.0.5")),
        endpoint_slice("web", endpoint("10.244.0.6"), namespace="elsewhere"),
    ]
    assert rule_endpoints([service("web")], slices) == [[]]


def test_an_endpoint_in_two_slices_is_one_target() -> None:
    slices = [
        endpoint_slice("web", endpoint("10.244.0.5"), name="web-1"),
        endpoint_slice("web", endpoint("10.244.0.5"), name="web-2"),
    ]
    assert rule_endpoints([service("web")], slices) == [[("10.244.0.5", 8080)]]


def test_malformed_addresses_and_portless_slice_ports_are_skipped() -> None:
    slices = [
        endpoint_slice("web", endpoint("not-an-ip"), endpoint("10.244.0.5")),
        endpoint_slice("web", endpoint("10.244.0.6"), ports=[{"name": "http", "protocol": "TCP"}], name="web-2"),
    ]
    assert rule_endpoints([service("web")], slices) == [[("10.244.0.5", 8080)]]


def test_a_headless_service_has_no_rule_and_names_its_ready_endpoints_in_dns() -> None:
    db = service("db", "None")
    slices = [endpoint_slice("db", endpoint("10.244.0.7", hostname="db-0"), endpoint("10.244.0.8", ready=False))]
    plane = compute_data_plane([db], slices)
    assert plane.rules == []
    assert plane.records.services == [
        ServiceRecord("shop", "db", "None", [ServicePort("http", 8080)], [Endpoint("10.244.0.7", "db-0")])
    ]


def test_a_clusterip_service_is_named_in_dns_with_its_own_ports() -> None:
    plane = compute_data_plane([service("web")], [])
    assert plane.records.services == [ServiceRecord("shop", "web", "10.96.0.20", [ServicePort("http", 80)])]


def test_an_external_name_service_has_neither_rule_nor_record() -> None:
    external = service("mail", "", type="ExternalName", externalName="mail.example.com")
    plane = compute_data_plane([external], [])
    assert (plane.rules, plane.records.services) == ([], [])


def test_the_dns_domain_is_the_one_given() -> None:
    assert compute_data_plane([], [], domain="example.internal").records.domain == "example.internal"


def test_a_node_port_publishes_the_host_loopback_to_the_service_address() -> None:
    web = service("web", "10.96.0.20", {"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080},
                  type="NodePort")  # fmt: skip
    assert compute_data_plane([web], []).node_ports == [NodePortRule("shop", "web", "http", 30080, "10.96.0.20", 80)]


def test_a_load_balancer_publishes_its_node_ports_and_a_clusterip_service_none() -> None:
    ports = {"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}
    balanced = service("lb", "10.96.0.21", ports, type="LoadBalancer")
    plain = service("web", "10.96.0.20", ports)
    assert [rule.name for rule in compute_data_plane([balanced, plain], []).node_ports] == ["lb"]


def test_udp_node_ports_are_not_published() -> None:
    dns = service("dns", "10.96.0.22", {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
                  type="NodePort")  # fmt: skip
    assert compute_data_plane([dns], []).node_ports == []


def test_endpoints_of_a_selectorless_service_are_mirrored_when_it_has_no_slice() -> None:
    external = service("db", "10.96.0.23", {"name": "pg", "port": 5432, "protocol": "TCP"})
    del external["spec"]["selector"]
    endpoints = {
        "kind": "Endpoints",
        "metadata": {"name": "db", "namespace": "shop"},
        "subsets": [{
            "addresses": [{"ip": "10.244.0.9"}],
            "notReadyAddresses": [{"ip": "10.244.0.10"}],
            "ports": [{"name": "pg", "port": 5433, "protocol": "TCP"}],
        }],
    }  # fmt: skip
    assert rule_endpoints([external], [], [endpoints]) == [[("10.244.0.9", 5433)]]


def test_endpoints_of_a_service_with_a_selector_are_not_mirrored() -> None:
    endpoints = {
        "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "shop"},
        "subsets": [{"addresses": [{"ip": "10.244.0.9"}], "ports": [{"name": "http", "port": 8080}]}],
    }
    assert rule_endpoints([service("web")], [], [endpoints]) == [[]]


def test_endpoints_marked_skip_mirror_give_no_slices() -> None:
    endpoints = {
        "metadata": {"name": "kubernetes", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": "10.244.0.1"}], "ports": [{"name": "https", "port": 6443}]}],
    }
    assert mirrored_slices(endpoints) == []


def test_the_snapshot_does_not_depend_on_the_order_objects_come_in() -> None:
    services = [service("web"), service("api", "10.96.0.21")]
    slices = [endpoint_slice("web", endpoint("10.244.0.5")), endpoint_slice("api", endpoint("10.244.0.6"))]
    assert compute_data_plane(services, slices) == compute_data_plane(services[::-1], slices[::-1])


def test_a_mixed_snapshot_matches_the_golden_file() -> None:
    node_port = service("shop", "10.96.0.30", {"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080},
                        type="NodePort")  # fmt: skip
    headless = service("db", "None", {"name": "pg", "port": 5432, "protocol": "TCP"})
    selectorless = service("legacy", "10.96.0.31", {"name": "", "port": 9000, "protocol": "TCP"})
    del selectorless["spec"]["selector"]
    services = [service("web"), node_port, headless, selectorless, service("idle", "10.96.0.32")]
    slices = [
        endpoint_slice("web", endpoint("10.244.0.5"), endpoint("10.244.0.6", ready=False)),
        endpoint_slice("shop", endpoint("10.244.0.7", ready=False, serving=True, terminating=True)),
        endpoint_slice("db", endpoint("10.244.0.8", hostname="db-0"), endpoint("10.244.0.9", hostname="db-1"),
                       ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}]),
    ]  # fmt: skip
    endpoints = [{
        "metadata": {"name": "legacy", "namespace": "shop"},
        "subsets": [{"addresses": [{"ip": "10.244.0.10"}], "ports": [{"port": 9090, "protocol": "TCP"}]}],
    }]  # fmt: skip
    plane = compute_data_plane(services, slices, endpoints)
    assert json.loads(json.dumps(asdict(plane))) == json.loads(GOLDEN.read_text())
