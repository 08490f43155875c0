"""A watch from a resourceVersion the history no longer holds gets 410 Gone, as a 200 stream whose one event is an
ERROR with the 410 Status (the watch cache's `newErrWatcher`), and clients recover by listing again (client-go's
reflector does; so does the official Python client, shown here).

The history is shrunk to three changes per resource for these tests, so that a handful of writes push a version
out of it, as 1,000 writes or 75 s do in `podrun serve`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from api_harness import Server
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from podrun.api import store as store_module

NAMESPACE = "default"


@pytest.fixture(autouse=True)
def short_history(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "HISTORY_SIZE", 3)


@pytest.fixture
def core(server: Server) -> Iterator[client.CoreV1Api]:
    api = config.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        yield client.CoreV1Api(api)
    finally:
        api.close()


def create_configmap(core: client.CoreV1Api, name: str) -> Any:
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"k": name})
    return core.create_namespaced_config_map(NAMESPACE, body)


def expired_version(core: client.CoreV1Api, prefix: str) -> str:
    """A resourceVersion that five later writes pushed out of the history."""
    old = str(core.list_namespaced_config_map(NAMESPACE).metadata.resource_version)
    for i in range(5):
        create_configmap(core, f"{prefix}-{i}")
    return old


def test_the_python_client_gets_410_for_an_expired_version_and_resumes_after_a_relist(
    core: client.CoreV1Api,
) -> None:
    old = expired_version(core, "py")

    with pytest.raises(ApiException) as caught:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, NAMESPACE, resource_version=old, timeout_seconds=5
        ):
            pass
    assert caught.value.status == 410
    assert caught.value.reason == f"Expired: too old resource version: {old} ({int(old) + 2})"

    listed = core.list_namespaced_config_map(NAMESPACE)
    assert {f"py-{i}" for i in range(5)} <= {item.metadata.name for item in listed.items}
    after = create_configmap(core, "py-after")
    stream = watch.Watch().stream(
        core.list_namespaced_config_map, NAMESPACE, resource_version=listed.metadata.resource_version,
        timeout_seconds=5,
    )  # fmt: skip
    first = next(iter(stream))
    assert (first["type"], first["object"].metadata.name) == ("ADDED", "py-after")
    assert first["object"].metadata.resource_version == after.metadata.resource_version


def test_the_expired_watch_is_a_200_stream_with_one_410_error_event(server: Server, core: client.CoreV1Api) -> None:
    old = expired_version(core, "raw")

    answer = server.api("GET", f"/api/v1/namespaces/{NAMESPACE}/configmaps?watch=1&resourceVersion={old}")

    assert answer.status == 200
    events = [line for line in answer.body.decode().splitlines() if line]
    assert len(events) == 1
    error = json.loads(events[0])
    assert error["type"] == "ERROR"
    assert error["object"] == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"too old resource version: {old} ({int(old) + 2})",
        "reason": "Expired",
        "code": 410,
    }
