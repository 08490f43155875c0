"""Service defaulting and validation, with the API server's field paths and messages."""

from __future__ import annotations

from podrun.json_types import JSON
from podrun.model.service import (
    default_service,
    is_dns1035_label,
    keep_allocated,
    validate_service_spec,
    validate_service_update,
)


def service(**spec: object) -> JSON:
    return {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}}


def messages(spec: JSON) -> list[str]:
    return [str(error) for error in validate_service_spec(default_service({"spec": spec})["spec"])]


def test_defaults_are_those_the_api_server_sets() -> None:
    spec = default_service(service())["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert spec["internalTrafficPolicy"] == "Cluster"


def test_node_port_services_default_the_external_traffic_policy() -> None:
    assert default_service(service(type="NodePort"))["spec"]["externalTrafficPolicy"] == "Cluster"


def test_headless_services_without_selector_require_dual_stack() -> None:
    spec = default_service({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}})["spec"]
    assert spec["ipFamilyPolicy"] == "RequireDualStack"
    assert spec["clusterIPs"] == ["None"]


def test_several_ports_need_names() -> None:
    assert messages({"ports": [{"port": 80}, {"name": "b", "port": 81}]}) == ["spec.ports[0].name: Required value"]


def test_port_names_must_be_unique() -> None:
    spec = {"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}
    assert messages(spec) == ['spec.ports[1].name: Duplicate value: "a"']


def test_ports_are_required_unless_headless() -> None:
    assert messages({}) == ["spec.ports: Required value"]
    assert messages({"clusterIP": "None"}) == []


def test_bad_port_protocol_and_type() -> None:
    spec = {"type": "Bogus", "ports": [{"port": 0, "protocol": "ICMP"}]}
    assert messages(spec) == [
        'spec.type: Unsupported value: "Bogus": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
        '"NodePort"',
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        'spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
    ]


def test_node_ports_only_on_node_port_services() -> None:
    assert messages({"ports": [{"port": 80, "nodePort": 30001}]}) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    ]


def test_selector_labels_are_validated() -> None:
    assert messages({"ports": [{"port": 80}], "selector": {"app": "no spaces"}})[0].startswith(
        'spec.selector: Invalid value: "no spaces"'
    )


def test_cluster_ip_must_be_an_ip() -> None:
    assert messages({"ports": [{"port": 80}], "clusterIP": "nope"}) == [
        'spec.clusterIPs[0]: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'
    ]


def test_service_names_are_dns_1035_labels() -> None:
    assert is_dns1035_label("web-1") == []
    assert is_dns1035_label("1web")[0].startswith("a DNS-1035 label must consist of lower case")


def test_the_cluster_ip_may_not_change() -> None:
    old = {"spec": {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"]}}
    new = {"spec": {"clusterIP": "10.96.0.21", "clusterIPs": ["10.96.0.21"]}}
    assert [str(e) for e in validate_service_update(old, new)] == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.21"}: may not change once set'
    ]


def test_an_update_without_cluster_ip_or_node_port_keeps_the_allocated_ones() -> None:
    old = {"spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                    "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30100}]}}  # fmt: skip
    new = {"spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}}
    keep_allocated(old, new)
    assert new["spec"]["clusterIPs"] == ["10.96.0.20"]
    assert new["spec"]["ports"][0]["nodePort"] == 30100
    assert validate_service_update(old, new) == []
