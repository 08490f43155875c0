"""The seam between the kubelet and the API side: what a pod worker reads and writes.

In `podrun run` it is an in-memory store; in `podrun serve` it is the SQLite store behind the
API server; later it could be a remote Kubernetes API server.
"""

from __future__ import annotations

from typing import Literal, Protocol

from podrun.json_types import JSON


class PodHost(Protocol):
    """Objects the kubelet reads, and the status and events it writes back."""

    node_name: str

    def get_configmap(self, namespace: str, name: str) -> JSON | None:
        """A ConfigMap, or None when it does not exist."""
        ...

    def get_secret(self, namespace: str, name: str) -> JSON | None:
        """A Secret, or None when it does not exist."""
        ...

    def list_services(self, namespace: str) -> list[JSON]:
        """The namespace's Services (for the service environment variables)."""
        ...

    def service_account_token(self, pod: JSON, audience: str | None, expiration_seconds: int) -> str | None:
        """A token for the pod's service account, bound to the pod; None when none can be issued.

        The same token comes back until it is due for a refresh (the kubelet's token manager); the volume
        set-up may call this from a worker thread.
        """
        ...

    async def update_pod_status(self, pod: JSON, status: JSON) -> None:
        """Store a pod's new status (the kubelet's status manager)."""
        ...

    async def record_event(self, action: Literal["create", "update"], event: JSON) -> None:
        """Store a new event, or an update of a deduplicated one (count, lastTimestamp)."""
        ...

    async def pod_terminated(self, pod: JSON) -> None:
        """Every container of the pod has stopped and its sandbox is gone (deletion may complete)."""
        ...
