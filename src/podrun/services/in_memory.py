"""Services without an API server: `podrun run`'s endpoints controller and service proxy in one object.

    services = InMemoryServices(manifest_services, network)
    await services.start()                 # DNS answers and rules for every Service (no endpoints yet)
    services.pod_changed(pod)              # each new pod status; endpoints follow readiness
    await services.stop()

Each change marks the snapshot stale and wakes one sync loop (a burst of status updates is one sync), which
computes the EndpointSlices of every Service from the pods' latest statuses (`endpoints`, pure, as the
controller under `serve` does), then the data plane from them (`dataplane`, pure), and applies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from podrun.json_types import JSON
from podrun.network.nftables import NftError
from podrun.services.applier import DataPlaneApplier, ServiceNetwork
from podrun.services.dataplane import compute_data_plane
from podrun.services.endpoints import compute_endpoint_slices

log = logging.getLogger(__name__)


class InMemoryServices:
    """Keeps the node's data path in step with a fixed set of Services and the pods of one run."""

    def __init__(self, services: Iterable[JSON], network: ServiceNetwork) -> None:
        self.services = list(services)
        self.network = network
        self.applier = DataPlaneApplier(network)
        self._pods: dict[str, JSON] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Apply the Services (without endpoints), then follow the pods."""
        await self.sync()
        self._task = asyncio.create_task(self._sync_loop(), name="run-services")

    async def stop(self) -> None:
        """Stop following; close the NodePorts."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.applier.close()

    def pod_changed(self, pod: JSON) -> None:
        """A pod's new object (with its status); endpoints are recomputed soon after."""
        self._pods[pod["metadata"]["uid"]] = pod
        self._wake.set()

    async def sync(self) -> None:
        """Compute the endpoint slices and the data plane from the latest pods and apply them."""
        pods = list(self._pods.values())
        slices = [
            endpoint_slice
            for service in self.services
            if (service.get("spec") or {}).get("selector")
            for endpoint_slice in compute_endpoint_slices(service, _in_namespace(pods, service))
        ]
        domain = self.network.config.cluster_domain
        await self.applier.apply(compute_data_plane(self.services, slices, domain=domain))

    async def _sync_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.sync()
            except NftError as error:
                log.error("services: nft refused the Service rules: %s", error)


def _in_namespace(pods: list[JSON], service: JSON) -> list[JSON]:
    namespace = service["metadata"].get("namespace", "default")
    return [pod for pod in pods if pod["metadata"].get("namespace", "default") == namespace]
