"""StoreHost, the kubelet's PodHost on the store: Services and service account tokens."""

from __future__ import annotations

import asyncio

from podrun.api.node_agent import StoreHost
from podrun.api.store import Store
from podrun.json_types import JSON
from podrun.services.tokens import ServiceAccountUser, authenticate_token

NODE = "node-1"


def stored_pod(store: Store) -> JSON:
    return store.create(
        "pods", {"metadata": {"name": "p", "namespace": "app"}, "spec": {"serviceAccountName": "robot"}}
    )


async def test_a_token_authenticates_as_the_pods_account() -> None:
    store = Store()
    host = StoreHost(store, NODE)
    token = host.service_account_token(stored_pod(store), None, 3607)
    assert token is not None
    assert authenticate_token(store, token) == ServiceAccountUser("app", "robot")


async def test_the_same_token_comes_back_until_it_is_due_for_a_refresh() -> None:
    store = Store()
    host, pod = StoreHost(store, NODE), stored_pod(store)
    first = host.service_account_token(pod, None, 3607)
    assert host.service_account_token(pod, None, 3607) == first
    assert host.service_account_token(pod, None, 0) != first  # a lifetime of 0 is due at once
    assert host.service_account_token(pod, "vault", 3607) != first


async def test_a_token_asked_for_from_another_thread_is_recorded_on_the_stores_loop() -> None:
    store = Store()
    host, pod = StoreHost(store, NODE), stored_pod(store)
    token = await asyncio.to_thread(host.service_account_token, pod, None, 3607)
    assert token is not None
    assert authenticate_token(store, token) == ServiceAccountUser("app", "robot")


async def test_a_terminated_pod_forgets_its_tokens() -> None:
    store = Store()
    host, pod = StoreHost(store, NODE), stored_pod(store)
    first = host.service_account_token(pod, None, 3607)
    await host.pod_terminated(pod)
    assert host.service_account_token(pod, None, 3607) != first


async def test_services_are_listed_by_namespace() -> None:
    store = Store()
    store.create("services", {"metadata": {"name": "web", "namespace": "app"}, "spec": {"clusterIP": "10.96.0.5"}})
    store.create("services", {"metadata": {"name": "db", "namespace": "other"}, "spec": {"clusterIP": "10.96.0.6"}})
    host = StoreHost(store, NODE)
    assert [service["metadata"]["name"] for service in host.list_services("app")] == ["web"]
