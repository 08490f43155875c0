"""Service environment variables, as pkg/kubelet/envvars and getServiceEnvVarMap make them."""

from __future__ import annotations

from podrun.json_types import JSON
from podrun.services.envvars import from_services, service_env_vars


def service(name: str, namespace: str, cluster_ip: str, *ports: JSON) -> JSON:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"clusterIP": cluster_ip, "ports": list(ports)}}


KUBERNETES = service("kubernetes", "default", "10.96.0.1", {"name": "https", "port": 443, "protocol": "TCP"})


def test_a_service_gives_host_port_and_docker_link_variables() -> None:
    redis = service("redis-primary", "app", "10.96.5.5", {"port": 6379, "protocol": "TCP"})
    assert from_services([redis]) == [
        ("REDIS_PRIMARY_SERVICE_HOST", "10.96.5.5"),
        ("REDIS_PRIMARY_SERVICE_PORT", "6379"),
        ("REDIS_PRIMARY_PORT", "tcp://10.96.5.5:6379"),
        ("REDIS_PRIMARY_PORT_6379_TCP", "tcp://10.96.5.5:6379"),
        ("REDIS_PRIMARY_PORT_6379_TCP_PROTO", "tcp"),
        ("REDIS_PRIMARY_PORT_6379_TCP_PORT", "6379"),
        ("REDIS_PRIMARY_PORT_6379_TCP_ADDR", "10.96.5.5"),
    ]


def test_named_ports_get_their_own_service_port_variables() -> None:
    dns = service("kube-dns", "kube-system", "10.96.0.10", {"name": "dns", "port": 53, "protocol": "UDP"},
                  {"name": "dns-tcp", "port": 53, "protocol": "TCP"})  # fmt: skip
    names = dict(from_services([dns]))
    assert names["KUBE_DNS_SERVICE_PORT_DNS"] == "53"
    assert names["KUBE_DNS_SERVICE_PORT_DNS_TCP"] == "53"
    assert names["KUBE_DNS_PORT"] == "udp://10.96.0.10:53"
    assert names["KUBE_DNS_PORT_53_TCP_PROTO"] == "tcp"


def test_headless_services_give_no_variables() -> None:
    assert from_services([service("db", "app", "None", {"port": 5432})]) == []


def test_the_kubernetes_service_is_in_every_namespace_even_without_service_links() -> None:
    web = service("web", "app", "10.96.7.7", {"port": 80})
    variables = dict(service_env_vars([KUBERNETES, web], "app", enable_service_links=False))
    assert variables["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert variables["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert "WEB_SERVICE_HOST" not in variables


def test_service_links_add_only_the_pods_own_namespace() -> None:
    web = service("web", "app", "10.96.7.7", {"port": 80})
    other = service("other", "elsewhere", "10.96.8.8", {"port": 80})
    variables = dict(service_env_vars([KUBERNETES, web, other], "app", enable_service_links=True))
    assert variables["WEB_SERVICE_HOST"] == "10.96.7.7"
    assert "OTHER_SERVICE_HOST" not in variables


def test_with_service_links_a_namespaces_own_kubernetes_service_wins_whatever_the_order() -> None:
    own = service("kubernetes", "app", "10.96.9.9", {"port": 443})
    for services in ([own, KUBERNETES], [KUBERNETES, own]):
        variables = dict(service_env_vars(services, "app", enable_service_links=True))
        assert variables["KUBERNETES_SERVICE_HOST"] == "10.96.9.9"
