"""The kubelet's image manager: pull policy, image-pull backoff, and the Pulling/Pulled events.

One deliberate difference from the kubelet, for a tool that often runs offline: when the policy
asks for a pull, the registry cannot be reached at all (DNS or connection failure, or a time-out;
not an auth or not-found answer) and the image is in the local store, the local image is used and
a Warning event says so. `strict_pull=True` restores the kubelet's behaviour.

Pulls of the same image with the same credentials that are asked for while one is running share it,
as CRI-O does (`pullOperationsInProgress`, server/image_pull.go): a hundred pods of one `:latest`
image make one pull, and each pod still gets its own Pulling and Pulled events.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podrun.kubelet.backoff import Backoff, format_duration, image_pull_backoff
from podrun.runtime.images.auth import DockerAuth
from podrun.runtime.images.endpoints import PullError, first_failure, refusal
from podrun.runtime.images.progress import PullObserver
from podrun.runtime.images.registries_conf import load_containers_registries
from podrun.runtime.images.registry_config import RegistryConfig
from podrun.runtime.images.store import ImageRecord, ImageStore
from podrun.runtime.reference import InvalidReference, Reference

RecordEvent = Callable[[str, str, str], None]  # (type, reason, message) on the container's ref
GetSecret = Callable[[str], dict[str, Any] | None]
PullKey = tuple[tuple[str, ...], tuple[DockerAuth, ...]]  # (the candidates, the pod's pull credentials)


class ImageError(Exception):
    """The image could not be made available. `reason` becomes the container's waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class _SharedPull:
    """A pull in progress and how many pods wait for it."""

    task: asyncio.Task[ImageRecord]
    waiters: int = 0


@dataclass
class ImageManager:
    """Ensures containers' images exist, pulling them as `imagePullPolicy` says."""

    store: ImageStore
    registry: RegistryConfig
    strict_pull: bool = False
    backoff: Backoff | None = None
    observer: PullObserver | None = None  # shown the pulls' progress (`podrun run`)
    last_errors: dict[str, str] = field(default_factory=dict)  # pull backoff key -> the last pull error
    _running: dict[PullKey, _SharedPull] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.backoff is None:
            self.backoff = image_pull_backoff()

    async def ensure(
        self, pod: dict[str, Any], container: dict[str, Any], record: RecordEvent, get_secret: GetSecret
    ) -> str:
        """The image ID to run `container` from; raises `ImageError` with the kubelet's reason."""
        image = container.get("image", "")
        try:
            candidates = self.registry.candidates(image)
        except InvalidReference as e:
            record("Warning", "InspectFailed", f'Failed to apply default image tag "{image}": {e}')
            raise ImageError("InvalidImageName", f'Failed to apply default image tag "{image}": {e}') from None
        present = next(filter(None, (self.store.resolve(str(ref)) for ref in candidates)), None)
        policy = container.get("imagePullPolicy") or "IfNotPresent"
        if policy == "Never" or (policy == "IfNotPresent" and present):
            if present:
                record("Normal", "Pulled", f'Container image "{image}" already present on machine')
                return present.id
            message = f'Container image "{image}" is not present with pull policy of Never'
            record("Warning", "ErrImageNeverPull", message)
            raise ImageError("ErrImageNeverPull", message)
        assert self.backoff is not None
        key = f"{pod['metadata'].get('uid', '')}_{image}"
        if self.backoff.is_in_backoff_since_update(key, time.time()):
            record("Normal", "BackOff", f'Back-off pulling image "{image}"')
            last = self.last_errors.get(key, "")
            raise ImageError("ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: {last}')
        record("Normal", "Pulling", f'Pulling image "{image}"')
        started = time.monotonic()
        try:
            pulled = await self._pull(pod, image, candidates, get_secret)
        except PullError as e:
            if present and not self.strict_pull and e.kind in ("unreachable", "timeout") and self.registry.offline:
                # The user asked for no registry: using the local image is the plan, not a problem.
                record("Normal", "Pulled", f'Container image "{image}" already present on machine (offline)')
                return present.id
            if present and not self.strict_pull and e.kind in ("unreachable", "timeout"):
                record(
                    "Warning", "Pulled",
                    f'Registry for image "{image}" could not be reached ({e}); using the image already present '
                    "on machine (with --strict-pull podrun fails instead, as the kubelet does)",
                )  # fmt: skip
                return present.id
            message = f'Failed to pull image "{image}": {e}'
            record("Warning", "Failed", message)
            self.backoff.next(key, time.time())
            self.last_errors[key] = str(e)
            raise ImageError("ErrImagePull", message) from None
        took = format_duration(time.monotonic() - started)
        size = f"Image size: {pulled.size} bytes."
        record("Normal", "Pulled", f'Successfully pulled image "{image}" in {took} ({took} including waiting). {size}')
        self.backoff.gc()
        return pulled.id

    async def _pull(
        self, pod: dict[str, Any], image: str, candidates: list[Reference], get_secret: GetSecret
    ) -> ImageRecord:
        """Pull the first candidate that pulls, or wait for the same pull already running; raises `PullError`."""
        refusals = [refusal(ref, self.registry) for ref in candidates]
        if all(refusals):
            # Nowhere to ask (no upstream, offline, blocked): fail without loading the HTTP stack.
            raise first_failure(candidates, [e for e in refusals if e is not None])
        secrets = self._pull_secrets(pod, get_secret)
        # By what is pulled, not how the pod spelled it: `busybox` and `docker.io/library/busybox` share a pull
        # (whose progress `podrun run` shows under the first spelling).
        key: PullKey = (tuple(str(ref) for ref in candidates), tuple(secrets))
        shared = self._running.get(key)
        if shared is None:
            shared = _SharedPull(asyncio.create_task(self._pull_now(image, candidates, secrets)))
            self._running[key] = shared
            shared.task.add_done_callback(lambda _: self._forget(key, shared))
        shared.waiters += 1
        try:
            # Shielded: one pod going away must not end the pull the others wait for.
            return await asyncio.shield(shared.task)
        except asyncio.CancelledError:
            if shared.waiters == 1:  # nobody else wants it; a pod asking from now on starts its own
                self._forget(key, shared)
                shared.task.cancel()
                # Its cleanup (partial blobs, the HTTP session) is done before this pod's teardown goes on, as
                # when the pod pulled alone.
                await asyncio.wait({shared.task})
            raise
        finally:
            shared.waiters -= 1

    def _forget(self, key: PullKey, shared: _SharedPull) -> None:
        if self._running.get(key) is shared:
            del self._running[key]

    async def _pull_now(self, image: str, candidates: list[Reference], secrets: Sequence[DockerAuth]) -> ImageRecord:
        # Imported here: the HTTP stack costs a tenth of a second to load, and most starts never pull.
        from podrun.runtime.images.registry import pull_first

        observer = self.observer
        progress = (lambda event: observer.update(image, event)) if observer is not None else None
        try:
            return await pull_first(self.store, candidates, self.registry, progress=progress, extra_auth=secrets)
        finally:
            if observer is not None:
                observer.finished(image)

    @staticmethod
    def _pull_secrets(pod: dict[str, Any], get_secret: GetSecret) -> Sequence[DockerAuth]:
        """Credentials from the pod's `imagePullSecrets` (missing secrets are skipped, as the kubelet does)."""
        auths: list[DockerAuth] = []
        for ref in pod["spec"].get("imagePullSecrets") or []:
            secret = get_secret(ref.get("name", ""))
            if not secret:
                continue
            data = secret.get("data") or {}
            raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
            if raw:
                auths.extend(DockerAuth.from_dockerconfigjson(base64.b64decode(raw)))
        return auths


def load_registry_config(root: Path) -> RegistryConfig:
    """`<root>/registries.json` (plain-HTTP registries, mirrors, domains never to contact directly) and
    Podman's registries.conf (search registries, aliases, mirrors, insecure and blocked registries).

    `{"insecure": ["host:port"], "mirrors": {"docker.io": ["http://..."]}, "no_upstream": ["docker.io"]}`;
    for a domain with mirrors in both, podrun's own list wins.
    """
    path = root / "registries.json"
    doc = json.loads(path.read_text()) if path.exists() else {}
    own = RegistryConfig(
        insecure=set(doc.get("insecure", [])), mirrors=dict(doc.get("mirrors", {})),
        no_upstream=set(doc.get("no_upstream", [])),
    )  # fmt: skip
    return own.with_containers_registries(load_containers_registries())
