"""Pod-bound service account tokens, what they may do, and the admission's lookup of accounts in the store."""

from __future__ import annotations

from podrun.api.store import Store
from podrun.services.tokens import (
    RequestAttributes,
    ServiceAccountUser,
    allowed,
    authenticate_token,
    denial_detail,
    find_service_account,
    issue_token,
    request_attributes,
)


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


def namespace(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {}, "status": {"phase": "Active"}}


def test_the_lookup_finds_a_stored_account() -> None:
    store = Store()
    store.create("serviceaccounts", {"metadata": {"name": "robot", "namespace": "app"}})
    found = find_service_account(store, "app", "robot")
    assert found is not None and found["metadata"]["name"] == "robot"


def test_the_default_account_of_an_existing_namespace_is_made_on_demand() -> None:
    store = Store()
    store.create("namespaces", namespace("fresh"))
    found = find_service_account(store, "fresh", "default")
    assert found is not None
    assert store.get("serviceaccounts", "fresh", "default")["metadata"]["uid"] == found["metadata"]["uid"]


def test_no_account_is_made_for_a_missing_namespace_or_another_name() -> None:
    store = Store()
    store.create("namespaces", namespace("app"))
    assert find_service_account(store, "gone", "default") is None
    assert find_service_account(store, "app", "robot") is None
    assert store.list("serviceaccounts", None)[0] == []
