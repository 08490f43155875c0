"""RunHost, the in-memory PodHost of `podrun run`: the root CA, tokens and Services a pod sees without a server."""

from __future__ import annotations

from cryptography import x509

from podrun.cli.output import RunOutput
from podrun.cli.run_host import RunHost
from podrun.json_types import JSON


def host(configmaps: list[JSON] | None = None, services: tuple[JSON, ...] | list[JSON] = ()) -> RunHost:
    return RunHost(configmaps or [], [], RunOutput(quiet=True, multiple_pods=False), "node-1", services=services)


def pod(uid: str) -> JSON:
    return {"metadata": {"name": "p", "namespace": "app", "uid": uid}, "spec": {}}


def test_every_namespace_has_a_root_ca_configmap_with_a_ca_certificate() -> None:
    run_host = host()
    configmap = run_host.get_configmap("anywhere", "kube-root-ca.crt")
    assert configmap is not None
    certificate = x509.load_pem_x509_certificate(configmap["data"]["ca.crt"].encode())
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert run_host.get_configmap("elsewhere", "kube-root-ca.crt") == {
        **configmap, "metadata": {"name": "kube-root-ca.crt", "namespace": "elsewhere"}
    }  # fmt: skip


def test_a_root_ca_configmap_from_the_manifests_wins() -> None:
    mine = {"metadata": {"name": "kube-root-ca.crt", "namespace": "app"}, "data": {"ca.crt": "MINE"}}
    assert host([mine]).get_configmap("app", "kube-root-ca.crt") == mine


def test_other_configmaps_are_only_those_of_the_manifests() -> None:
    assert host().get_configmap("app", "settings") is None


def test_a_pod_keeps_its_token_and_another_pod_gets_another() -> None:
    run_host = host()
    token = run_host.service_account_token(pod("u1"), None, 3607)
    assert token and run_host.service_account_token(pod("u1"), None, 3607) == token
    assert run_host.service_account_token(pod("u2"), None, 3607) != token


def test_services_are_those_of_the_manifests_in_the_namespace() -> None:
    web = {"metadata": {"name": "web", "namespace": "app"}, "spec": {"clusterIP": "10.96.0.5"}}
    db = {"metadata": {"name": "db", "namespace": "other"}, "spec": {"clusterIP": "10.96.0.6"}}
    assert host(services=[web, db]).list_services("app") == [web]
