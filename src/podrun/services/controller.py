"""The controllers `podrun serve` runs on the store: endpoints, endpoint slices and service accounts.

`ServicesController.start()` lists and watches pods, services and namespaces; every change marks its namespace,
and each marked namespace's Services get their Endpoints and EndpointSlices recomputed (by the pure
`podrun.services.endpoints`) and written only where they differ. New namespaces get their `default`
ServiceAccount (and the `kube-root-ca.crt` ConfigMap when a CA is given). `stop()` ends it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from podrun.api.errors import ApiError
from podrun.api.field_managers import record_update
from podrun.api.followers import stop_following
from podrun.api.store import DELETED, Store, Watch
from podrun.json_types import JSON
from podrun.services.accounts import DEFAULT_ACCOUNT, ROOT_CA_CONFIGMAP, default_service_account, root_ca_configmap
from podrun.services.endpoints import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    compute_endpoint_slices,
    compute_endpoints,
    is_managed,
    slice_port_key,
)

log = logging.getLogger(__name__)


class ServicesController:
    """Keeps Endpoints, EndpointSlices and default ServiceAccounts in step with the store."""

    def __init__(self, store: Store, *, ca_pem: str | None = None) -> None:
        self.store = store
        self.ca_pem = ca_pem
        self._dirty: set[str] = set()
        self._deleted: dict[str, set[str]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._watches: list[Watch] = []

    def start(self) -> None:
        """Begin watching (each watch starts with every stored object, so the first sync covers everything)."""
        for resource in ("namespaces", "services", "pods"):
            watch = self.store.watch(resource, None)
            self._watches.append(watch)
            self._tasks.append(asyncio.ensure_future(self._follow(resource, watch)))
        self._tasks.append(asyncio.ensure_future(self._sync_loop()))

    async def stop(self) -> None:
        """End the watches and the sync loop."""
        await stop_following(self._watches, self._tasks)

    def sync_namespace(self, namespace: str, deleted_services: Iterable[str] = ()) -> None:
        """Recompute every Service of the namespace and write what changed; drop what deleted Services left."""
        for name in deleted_services:
            self._delete_quietly("endpoints", namespace, name)
        services = {item["metadata"]["name"]: item for item in self.store.list("services", namespace)[0]}
        managed = [service for service in services.values() if is_managed(service)]
        # Every pod change wakes this: listing (copying) the namespace's pods only when a Service selects from
        # them keeps a pod's cost flat in a namespace of many pods and no selecting Service.
        pods = self.store.list("pods", namespace)[0] if managed else []
        for service in managed:
            self._write_endpoints(compute_endpoints(service, pods))
            self._write_slices(service, compute_endpoint_slices(service, pods))
        for endpoint_slice in self.store.list("endpointslices", namespace, label_selector=_MANAGED_SELECTOR)[0]:
            owner = endpoint_slice["metadata"].get("labels", {}).get(SERVICE_NAME_LABEL)
            if owner not in services or not is_managed(services[owner]):
                self._delete_quietly("endpointslices", namespace, endpoint_slice["metadata"]["name"])

    def ensure_namespace_defaults(self, namespace: str) -> None:
        """The `default` ServiceAccount and, with a CA, the `kube-root-ca.crt` ConfigMap."""
        self._create_missing("serviceaccounts", namespace, DEFAULT_ACCOUNT, default_service_account(namespace))
        if self.ca_pem is not None:
            self._create_missing("configmaps", namespace, ROOT_CA_CONFIGMAP, root_ca_configmap(namespace, self.ca_pem))

    async def _follow(self, resource: str, watch: Watch) -> None:
        async for event in watch:
            meta = event.object.get("metadata") or {}
            if resource == "namespaces":
                if event.type != DELETED and not meta.get("deletionTimestamp"):
                    self._guard(self.ensure_namespace_defaults, meta["name"])
                continue
            namespace = meta.get("namespace") or ""
            if resource == "services" and event.type == DELETED:
                self._deleted.setdefault(namespace, set()).add(meta["name"])
            self._dirty.add(namespace)
            self._wake.set()

    async def _sync_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            for namespace in sorted(dirty):
                self._guard(self.sync_namespace, namespace, self._deleted.pop(namespace, set()))

    def _guard(self, action: Callable[..., Any], *args: Any) -> None:
        try:
            action(*args)
        except ApiError as error:
            # A namespace being deleted refuses new objects; its next change brings us back.
            log.debug("services controller: %s", error.status().get("message"))

    def _write_endpoints(self, desired: JSON) -> None:
        meta = desired["metadata"]
        try:
            current = self.store.get("endpoints", meta["namespace"], meta["name"])
        except ApiError:
            self.store.create("endpoints", _managed("Endpoints", None, desired))
            return
        self.store.update_if_changed("endpoints", _managed("Endpoints", current, _merged(current, desired)))

    def _write_slices(self, service: JSON, desired: list[JSON]) -> None:
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        selector = f"{SERVICE_NAME_LABEL}={name},{_MANAGED_SELECTOR}"
        existing = self.store.list("endpointslices", namespace, label_selector=selector)[0]
        unmatched = list(existing)
        for endpoint_slice in desired:
            match = next((item for item in unmatched if slice_port_key(item) == slice_port_key(endpoint_slice)), None)
            if match is None:
                self.store.create("endpointslices", _managed("EndpointSlice", None, endpoint_slice))
                continue
            unmatched.remove(match)
            updated = _managed("EndpointSlice", match, _merged(match, endpoint_slice))
            self.store.update_if_changed("endpointslices", updated)
        for leftover in unmatched:
            self._delete_quietly("endpointslices", namespace, leftover["metadata"]["name"])

    def _create_missing(self, resource: str, namespace: str, name: str, obj: JSON) -> None:
        try:
            self.store.get(resource, namespace, name)
        except ApiError:
            self.store.create(resource, _managed(str(obj.get("kind") or ""), None, obj))

    def _delete_quietly(self, resource: str, namespace: str, name: str) -> None:
        with contextlib.suppress(ApiError):
            self.store.delete(resource, namespace, name)


_MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
# The field manager of the controllers' writes, as kube-controller-manager's User-Agent names it.
CONTROLLER_MANAGER = "kube-controller-manager"


def _managed(kind: str, current: JSON | None, new: JSON) -> JSON:
    """`new` with the managedFields of the controller's Update of `current` (None: a create)."""
    api_version = str(new.get("apiVersion") or "v1")
    return record_update(kind, current, new, CONTROLLER_MANAGER, has_status=False, api_version=api_version)


def _merged(current: JSON, desired: JSON) -> JSON:
    """The desired object under the stored one's identity (name, uid, ...), without a version precondition."""
    meta = {key: value for key, value in current["metadata"].items() if key != "resourceVersion"}
    meta.update({key: value for key, value in desired["metadata"].items() if key != "generateName"})
    meta["name"] = current["metadata"]["name"]
    new = {key: value for key, value in desired.items() if key != "metadata"}
    new["metadata"] = meta
    if "subsets" not in desired:
        new.pop("subsets", None)
    return new
