"""The services controller's sync of a namespace costs what its selecting Services need, not one copy of every pod:
each pod change wakes it, so a pod's cost would otherwise grow with the number of pods in the namespace."""

from __future__ import annotations

from typing import Any

from podrun.api.store import Store
from podrun.services.controller import ServicesController


class CountingStore(Store):
    """A store that counts the lists asked of it, per resource."""

    def __init__(self) -> None:
        super().__init__()
        self.lists: dict[str, int] = {}

    def list(self, resource: str, *args: Any, **kwargs: Any) -> Any:
        self.lists[resource] = self.lists.get(resource, 0) + 1
        return super().list(resource, *args, **kwargs)


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default",
            "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}  # fmt: skip


def test_a_namespace_without_selecting_services_is_synced_without_listing_its_pods() -> None:
    store = CountingStore()
    store.create("pods", pod("a"))
    store.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual",
                 "namespace": "default"}, "spec": {"ports": [{"port": 80}]}})  # fmt: skip

    ServicesController(store).sync_namespace("default")

    assert "pods" not in store.lists


def test_a_selecting_service_still_gets_its_pods() -> None:
    store = CountingStore()
    store.create("pods", pod("a"))
    store.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web",
                 "namespace": "default"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})  # fmt: skip

    ServicesController(store).sync_namespace("default")

    assert store.lists["pods"] == 1
    assert store.get("endpoints", "default", "web")["metadata"]["name"] == "web"
