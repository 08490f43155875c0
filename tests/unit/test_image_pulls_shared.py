"""Pods that ask for an image while the same pull is running wait for it instead of pulling again.

The registry is a small aiohttp server on 127.0.0.1 that counts manifest requests and answers each one
(not found) only when the test lets it, so the pods' requests can be made to overlap without timing.
No root needed.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from podrun.kubelet.images import ImageError, ImageManager
from podrun.runtime.images.registry_config import RegistryConfig
from podrun.runtime.images.store import ImageStore


class HeldRegistry:
    """Answers every manifest request with 404 once `release()` is called; counts them as they arrive."""

    def __init__(self) -> None:
        self.manifest_requests = 0
        self.arrived = asyncio.Condition()
        self._gate = asyncio.Event()
        self.host = ""

    def release(self) -> None:
        self._gate.set()

    async def until_requests(self, count: int) -> None:
        # A bound against a hang, reached only when sharing is broken the other way (the requests never come).
        async with asyncio.timeout(60), self.arrived:
            await self.arrived.wait_for(lambda: self.manifest_requests >= count)

    async def manifest(self, request: web.Request) -> web.Response:
        async with self.arrived:
            self.manifest_requests += 1
            self.arrived.notify_all()
        await self._gate.wait()
        body = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
        return web.json_response(body, status=404)


@pytest.fixture
async def registry() -> AsyncIterator[HeldRegistry]:
    held = HeldRegistry()
    app = web.Application()
    app.router.add_get("/v2/app/manifests/{reference}", held.manifest)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    held.host = f"127.0.0.1:{port}"
    try:
        yield held
    finally:
        held.release()
        await runner.cleanup()


def pod(name: str, pull_secret: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": []}
    if pull_secret is not None:
        spec["imagePullSecrets"] = [{"name": pull_secret}]
    return {"metadata": {"name": name, "uid": f"uid-{name}"}, "spec": spec}


def secret_for(host: str, username: str) -> dict[str, Any]:
    auth = base64.b64encode(f"{username}:secret".encode()).decode()
    config = json.dumps({"auths": {host: {"auth": auth}}}).encode()
    return {"data": {".dockerconfigjson": base64.b64encode(config).decode()}}


class Pods:
    """Runs `ImageManager.ensure` for pods of one image, each pod's events kept apart."""

    def __init__(self, tmp_path: Path, registry: HeldRegistry) -> None:
        self.registry = registry
        self.manager = ImageManager(ImageStore(tmp_path / "store"), RegistryConfig(insecure={registry.host}))
        self.events: dict[str, list[str]] = {}
        self.secrets: dict[str, dict[str, Any]] = {}

    def start(self, name: str, pull_secret: str | None = None) -> asyncio.Task[str]:
        events = self.events.setdefault(name, [])
        container = {"name": "c", "image": f"{self.registry.host}/app:1", "imagePullPolicy": "Always"}

        def record(kind: str, reason: str, message: str) -> None:
            events.append(reason)

        return asyncio.create_task(self.manager.ensure(pod(name, pull_secret), container, record, self.secrets.get))


@pytest.fixture
def pods(tmp_path: Path, registry: HeldRegistry) -> Pods:
    return Pods(tmp_path, registry)


async def failure(task: asyncio.Task[str]) -> ImageError:
    with pytest.raises(ImageError) as raised:
        await task
    return raised.value


async def test_pods_asking_while_a_pull_runs_make_one_request(registry: HeldRegistry, pods: Pods) -> None:
    tasks = [pods.start(f"p{i}") for i in range(3)]
    await registry.until_requests(1)
    assert all(pods.events[f"p{i}"] == ["Pulling"] for i in range(3))  # all three wait on the one request
    registry.release()

    errors = [await failure(task) for task in tasks]

    assert registry.manifest_requests == 1
    assert [e.reason for e in errors] == ["ErrImagePull"] * 3


async def test_each_pod_sharing_a_pull_gets_its_own_events(registry: HeldRegistry, pods: Pods) -> None:
    tasks = [pods.start(f"p{i}") for i in range(2)]
    await registry.until_requests(1)
    registry.release()
    for task in tasks:
        await failure(task)

    assert registry.manifest_requests == 1
    assert pods.events == {"p0": ["Pulling", "Failed"], "p1": ["Pulling", "Failed"]}


async def test_a_pod_asking_after_the_pull_ended_pulls_again(registry: HeldRegistry, pods: Pods) -> None:
    registry.release()
    await failure(pods.start("first"))
    await failure(pods.start("second"))

    assert registry.manifest_requests == 2


async def test_pods_with_different_pull_secrets_pull_apart(registry: HeldRegistry, pods: Pods) -> None:
    pods.secrets["creds"] = secret_for(registry.host, "someone")
    tasks = [pods.start("anonymous"), pods.start("with-secret", pull_secret="creds")]
    await registry.until_requests(2)
    registry.release()
    for task in tasks:
        await failure(task)

    assert registry.manifest_requests == 2


async def test_a_shared_pull_goes_on_when_one_of_its_pods_goes_away(registry: HeldRegistry, pods: Pods) -> None:
    leaving, staying = pods.start("leaving"), pods.start("staying")
    await registry.until_requests(1)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    registry.release()

    assert (await failure(staying)).reason == "ErrImagePull"
    assert registry.manifest_requests == 1


async def test_a_pull_no_pod_waits_for_is_dropped_and_the_next_pod_pulls_anew(
    registry: HeldRegistry, pods: Pods
) -> None:
    alone = pods.start("alone")
    await registry.until_requests(1)
    [dropped] = pods.manager._running.values()
    alone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await alone
    assert dropped.task.cancelled()  # ended, its cleanup done, by the time its last pod is gone

    later = pods.start("later")
    await registry.until_requests(2)
    registry.release()

    assert (await failure(later)).reason == "ErrImagePull"
