"""The in-memory `PodHost` of `podrun run`: objects from the manifests, status and events to the terminal.

There is no API server behind `podrun run`, so a pod's service account token is a random opaque string that
authenticates nowhere, and the `kube-root-ca.crt` ConfigMap every namespace has carries a throwaway CA (its key
was discarded when it was made). Both exist so that pods mounting `kube-api-access-*` start as on a cluster.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from podrun.cli.output import RunOutput
from podrun.json_types import JSON
from podrun.printers import print_pod
from podrun.services.accounts import ROOT_CA_CONFIGMAP, root_ca_configmap

if TYPE_CHECKING:
    from podrun.cli.event_lines import EventLines

# The `ca.crt` of every run: a self-signed CA made once as `podrun serve` makes its own (`api.tls`), with a key
# that was never saved, so nothing is signed by it. A constant spares every run ~40 ms of importing cryptography.
RUN_ROOT_CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBcDCCARWgAwIBAgIUX47M1qtwIstdrV7mmBhb6XsyTo4wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJcG9kcnVuLWNhMB4XDTI2MTIwNTEzMTMwNFoXDTM2MTIwMjEz
MTgwNFowFDESMBAGA1UEAwwJcG9kcnVuLWNhMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEXDMhTgeCa3diKI9yovPYzHHpNRtAgnjN9WhcGnbnEu+l5chJ4XWYa/iW
0Ysnz1aqOIZErEvwftIRdUkXh4rd9qNFMEMwEgYDVR0TAQH/BAgwBgEB/wIBADAO
BgNVHQ8BAf8EBAMCAYYwHQYDVR0OBBYEFM8/cnahIsoIvo9BsKxw2ZFg+a5aMAoG
CCqGSM49BAMCA0kAMEYCIQDA/x3BDuMZH7KStuRHczWqDLM+wLPFtB5YT90rscr8
xgIhAJuO+7o/cqELpIcOapIxJcycQozbifxq5adLxUd3/4EM
-----END CERTIFICATE-----
"""


class RunHost:
    """Holds the manifests' ConfigMaps, Secrets and Services, and reports each pod's changes as kubectl shows them."""

    def __init__(
        self,
        configmaps: list[JSON],
        secrets: list[JSON],
        output: RunOutput,
        node_name: str,
        *,
        services: Iterable[JSON] = (),
        event_lines: EventLines | None = None,
    ) -> None:
        self.node_name = node_name
        self._event_lines = event_lines  # set: every event is printed as `kubectl get events -w` prints it
        self._configmaps = {_key(o): o for o in configmaps}
        self._secrets = {_key(o): o for o in secrets}
        self._services = list(services)
        self._output = output
        self._last_row: dict[str, tuple[str, str]] = {}
        self._tokens: dict[tuple[str, str | None, int], str] = {}
        self.events: list[JSON] = []
        self.terminated: dict[str, asyncio.Event] = {}
        # Told every pod's new object, as a watch on the API would be (the run's Services follow it).
        self.on_pod_status: Callable[[JSON], None] | None = None

    def get_configmap(self, namespace: str, name: str) -> JSON | None:
        """A ConfigMap from the manifests; `kube-root-ca.crt` exists in every namespace unless a manifest has one."""
        found = self._configmaps.get((namespace, name))
        if found is None and name == ROOT_CA_CONFIGMAP:
            return root_ca_configmap(namespace, RUN_ROOT_CA_PEM)
        return found

    def get_secret(self, namespace: str, name: str) -> JSON | None:
        """A Secret from the manifests."""
        return self._secrets.get((namespace, name))

    def list_services(self, namespace: str) -> list[JSON]:
        """The manifests' Services in the namespace."""
        return [service for service in self._services if _key(service)[0] == namespace]

    def service_account_token(self, pod: JSON, audience: str | None, expiration_seconds: int) -> str | None:
        """A random opaque token, one per pod, audience and lifetime: no API server checks it."""
        key = (str(pod["metadata"].get("uid", "")), audience, expiration_seconds)
        return self._tokens.setdefault(key, os.urandom(32).hex())

    async def update_pod_status(self, pod: JSON, status: JSON) -> None:
        """Print the pod's READY and STATUS when they change, as `kubectl get pods -w` would."""
        if self.on_pod_status is not None:
            self.on_pod_status(dict(pod, status=status))
        row = print_pod(dict(pod, status=status), now=datetime.now(UTC))
        shown = (row[1], row[2])
        uid = pod["metadata"]["uid"]
        if self._last_row.get(uid) != shown:
            self._last_row[uid] = shown
            self._output.transition(pod["metadata"]["name"], row[1], row[2], row[3])

    async def record_event(self, action: Literal["create", "update"], event: JSON) -> None:
        """Keep the event; print it as it happens (only Warnings, unless every event is to be shown)."""
        if action == "create":
            self.events.append(event)
        if self._event_lines is not None:
            for line in self._event_lines.lines(event, now=datetime.now(UTC)):
                self._output.notice(line)
        elif event.get("type") == "Warning":
            self._output.warning(event)

    async def pod_terminated(self, pod: JSON) -> None:
        """The pod's containers and sandbox are gone."""
        self.terminated.setdefault(pod["metadata"]["uid"], asyncio.Event()).set()


def _key(obj: JSON) -> tuple[str, str]:
    return obj["metadata"].get("namespace", "default"), obj["metadata"]["name"]
