"""The ServiceAccount admission mutation, pod-bound tokens and what a service account may do."""

from __future__ import annotations

from podrun.api.store import Store
from podrun.json_types import JSON
from podrun.services.accounts import (
    MOUNT_PATH,
    RequestAttributes,
    ServiceAccountUser,
    admit_pod,
    allowed,
    api_access_files,
    authenticate_token,
    denial_detail,
    issue_token,
    request_attributes,
)


def pod(**spec: object) -> JSON:
    return {
        "metadata": {"name": "p", "namespace": "app"},
        "spec": {"containers": [{"name": "c"}], "initContainers": [{"name": "i"}], **spec},
    }


def test_admission_names_the_default_account_and_mounts_the_token_everywhere() -> None:
    admitted = admit_pod(pod(), suffix="abcde")
    spec = admitted["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    assert spec["volumes"][0]["name"] == "kube-api-access-abcde"
    assert [s for source in spec["volumes"][0]["projected"]["sources"] for s in source] == [
        "serviceAccountToken", "configMap", "downwardAPI"
    ]  # fmt: skip
    for container in spec["containers"] + spec["initContainers"]:
        assert container["volumeMounts"] == [
            {"name": "kube-api-access-abcde", "readOnly": True, "mountPath": MOUNT_PATH}
        ]


def test_automount_false_on_the_pod_or_the_account_mounts_nothing() -> None:
    assert "volumes" not in admit_pod(pod(automountServiceAccountToken=False))["spec"]
    assert "volumes" not in admit_pod(pod(), {"automountServiceAccountToken": False})["spec"]


def test_the_pods_choice_wins_over_the_accounts() -> None:
    admitted = admit_pod(pod(automountServiceAccountToken=True), {"automountServiceAccountToken": False})
    assert admitted["spec"]["volumes"]


def test_a_container_that_mounts_the_path_itself_keeps_its_mount() -> None:
    own = {"name": "mine", "mountPath": MOUNT_PATH}
    admitted = admit_pod(pod(containers=[{"name": "c", "volumeMounts": [own]}]))
    assert admitted["spec"]["containers"][0]["volumeMounts"] == [own]


def test_the_volume_holds_token_ca_and_namespace() -> None:
    assert api_access_files("tok", "PEM", "app") == {"token": b"tok", "ca.crt": b"PEM", "namespace": b"app"}


def test_a_token_authenticates_as_its_account_while_its_pod_exists() -> None:
    store = Store()
    stored = store.create(
        "pods", {"metadata": {"name": "p", "namespace": "app"}, "spec": {"serviceAccountName": "robot"}}
    )
    token = issue_token(store, stored)
    assert authenticate_token(store, token) == ServiceAccountUser("app", "robot")
    assert authenticate_token(store, token + "x") is None
    store.delete("pods", "app", "p")
    assert authenticate_token(store, token) is None


def test_a_token_of_a_recreated_pod_with_the_same_name_is_dead() -> None:
    store = Store()
    token = issue_token(store, store.create("pods", {"metadata": {"name": "p", "namespace": "app"}, "spec": {}}))
    store.delete("pods", "app", "p")
    store.create("pods", {"metadata": {"name": "p", "namespace": "app"}, "spec": {}})
    assert authenticate_token(store, token) is None


def attributes(method: str, path: str, **query: str) -> RequestAttributes | None:
    return request_attributes(method, path, query)


def test_service_accounts_may_only_read_their_own_namespace() -> None:
    user = ServiceAccountUser("app", "default")
    assert allowed(user, attributes("GET", "/api/v1/namespaces/app/pods"))
    assert allowed(user, attributes("GET", "/api/v1/namespaces/app/services/web", watch="1"))
    assert not allowed(user, attributes("POST", "/api/v1/namespaces/app/pods"))
    assert not allowed(user, attributes("GET", "/api/v1/namespaces/other/pods"))
    assert not allowed(user, attributes("GET", "/api/v1/pods"))
    assert not allowed(user, attributes("POST", "/api/v1/namespaces/app/pods/p/exec"))


def test_discovery_is_open_to_service_accounts() -> None:
    assert attributes("GET", "/api") is None
    assert attributes("GET", "/apis/discovery.k8s.io/v1") is None
    assert allowed(ServiceAccountUser("app", "default"), None)


def test_request_attributes_name_verb_resource_and_namespace() -> None:
    assert attributes("GET", "/apis/discovery.k8s.io/v1/namespaces/app/endpointslices", watch="true") == (
        RequestAttributes("watch", "endpointslices", "", "", "app", "discovery.k8s.io")
    )
    assert attributes("DELETE", "/api/v1/namespaces/app") == RequestAttributes(
        "delete", "namespaces", "", "app", "app", ""
    )


def test_the_denial_reads_as_the_rbac_authorizers() -> None:
    denied = attributes("GET", "/api/v1/namespaces/other/pods")
    assert denied is not None
    assert denial_detail(ServiceAccountUser("app", "default"), denied) == (
        'User "system:serviceaccount:app:default" cannot list resource "pods" in API group "" in the namespace "other"'
    )
