"""`kubectl auth can-i`, `kubectl auth whoami` and `kubectl cluster-info` against podrun's API server
(`api_harness.Server`).

can-i asks the server (SelfSubjectAccessReview, SelfSubjectRulesReview with `--list`), in protobuf; the answers
must be what the server would decide for the same credentials: the admin token may do anything, a pod's service
account token may only read its own namespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from api_harness import KUBECTL, Server, pod_manifest
from kubernetes import client, config

from podrun.services.tokens import issue_token

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


@pytest.fixture(scope="module")
def pod_kubeconfig(server: Server) -> Iterator[Path]:
    """A kubeconfig with the token of a pod in `default` (its `default` service account)."""
    manifest = yaml.safe_load(pod_manifest("token-holder"))
    manifest["metadata"]["labels"]["hold"] = "true"
    assert server.api("POST", "/api/v1/namespaces/default/pods", manifest).status == 201
    assert server.store is not None
    pod = server.call(lambda: server.store.get("pods", "default", "token-holder"))
    token = server.call(lambda: issue_token(server.store, pod))
    yield server.write_kubeconfig(token, "pod-kubeconfig")
    server.api("DELETE", "/api/v1/namespaces/default/pods/token-holder", {"gracePeriodSeconds": 0})


def can_i(server: Server, *args: str, kubeconfig: Path | None = None) -> str:
    """kubectl's answer, `yes` or `no` (it exits 0 or 1 accordingly)."""
    answer = server.kubectl("auth", "can-i", *args, kubeconfig=kubeconfig, check=False)
    assert answer.returncode == (0 if answer.stdout == "yes\n" else 1), answer.stderr
    return answer.stdout.strip()


def test_the_admin_may_do_anything(server: Server) -> None:
    assert can_i(server, "create", "pods") == "yes"
    assert can_i(server, "delete", "nodes") == "yes"
    assert can_i(server, "*", "*", "--all-namespaces") == "yes"
    assert can_i(server, "get", "/healthz") == "yes"


def test_a_service_account_may_only_read_its_own_namespace(server: Server, pod_kubeconfig: Path) -> None:
    assert can_i(server, "get", "pods", kubeconfig=pod_kubeconfig) == "yes"
    assert can_i(server, "watch", "configmaps", kubeconfig=pod_kubeconfig) == "yes"
    assert can_i(server, "list", "pods", "-n", "kube-system", kubeconfig=pod_kubeconfig) == "no"
    assert can_i(server, "create", "pods", kubeconfig=pod_kubeconfig) == "no"
    assert can_i(server, "get", "pods", "--subresource=log", kubeconfig=pod_kubeconfig) == "no"
    assert can_i(server, "list", "nodes", kubeconfig=pod_kubeconfig) == "no"


def test_the_answers_match_what_the_server_then_does(server: Server, pod_kubeconfig: Path) -> None:
    assert server.kubectl("get", "configmaps", kubeconfig=pod_kubeconfig, check=False).returncode == 0
    assert server.kubectl("get", "nodes", kubeconfig=pod_kubeconfig, check=False).returncode == 1


def test_can_i_list_names_the_rules_of_the_credentials(server: Server, pod_kubeconfig: Path) -> None:
    admin = server.kubectl("auth", "can-i", "--list").stdout.splitlines()
    assert admin[1].split() == ["*.*", "[]", "[]", "[*]"]
    rules = {line.split()[0]: line.split()[-3:] for line in server.kubectl(
        "auth", "can-i", "--list", kubeconfig=pod_kubeconfig
    ).stdout.splitlines()[1:] if not line.startswith(" ")}  # fmt: skip
    assert rules["pods"] == ["[get", "list", "watch]"]
    assert rules["endpointslices.discovery.k8s.io"] == ["[get", "list", "watch]"]
    assert rules["selfsubjectaccessreviews.authorization.k8s.io"] == ["[]", "[]", "[create]"]
    assert "nodes" not in rules
    elsewhere = server.kubectl("auth", "can-i", "--list", "-n", "kube-system", kubeconfig=pod_kubeconfig).stdout
    assert "pods" not in elsewhere


def test_the_official_client_reviews_access_in_json(server: Server) -> None:
    api = config.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(namespace="default", verb="delete", resource="pods")
            )
        )
        answer = client.AuthorizationV1Api(api).create_self_subject_access_review(review)
    finally:
        api.close()
    assert answer.status.allowed is True


def test_a_review_without_attributes_is_invalid(server: Server) -> None:
    answer = server.api("POST", REVIEWS, {"spec": {}})
    assert answer.status == 422
    assert answer.json()["message"] == (
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": '
        "exactly one of nonResourceAttributes or resourceAttributes must be specified"
    )


def test_reviews_are_only_created(server: Server) -> None:
    assert server.api("GET", REVIEWS).status == 405


def whoami(server: Server, kubeconfig: Path | None = None) -> list[list[str]]:
    """kubectl's table, as rows of cells."""
    table = server.kubectl("auth", "whoami", kubeconfig=kubeconfig).stdout
    return [line.split(None, 1) for line in table.splitlines()]


def test_whoami_names_the_admin(server: Server) -> None:
    assert whoami(server) == [
        ["ATTRIBUTE", "VALUE"],
        ["Username", "podrun-admin"],
        ["Groups", "[system:masters system:authenticated]"],
    ]


def test_whoami_names_a_service_account_with_its_groups(server: Server, pod_kubeconfig: Path) -> None:
    assert whoami(server, pod_kubeconfig) == [
        ["ATTRIBUTE", "VALUE"],
        ["Username", "system:serviceaccount:default:default"],
        ["Groups", "[system:serviceaccounts system:serviceaccounts:default system:authenticated]"],
    ]


def test_the_official_client_asks_who_it_is(server: Server) -> None:
    api = config.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        answer = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview())
    finally:
        api.close()
    assert answer.status.user_info.username == "podrun-admin"


def test_cluster_info_names_the_control_plane_and_dns(server: Server) -> None:
    lines = server.kubectl("cluster-info").stdout.splitlines()
    assert lines[0] == f"Kubernetes control plane is running at https://127.0.0.1:{server.port}"
    assert lines[1] == (
        f"CoreDNS is running at https://127.0.0.1:{server.port}"
        "/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy"
    )
