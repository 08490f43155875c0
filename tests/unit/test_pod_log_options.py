"""`GET pods/{name}/log` options and the timestamps `kubectl logs --timestamps` prints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from podrun.api.node_backends import cri_unix_nanos, kubelet_log_timestamp
from podrun.api.server import create_app
from podrun.api.store import Store


class _NoLogs:
    async def logs(self, *args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
        raise AssertionError("the request should have been refused before reaching the node")


def test_log_timestamps_are_rfc3339nano_in_utc_with_z() -> None:
    assert kubelet_log_timestamp("2026-12-05T10:12:48.016753597+00:00") == "2026-12-05T10:12:48.016753597Z"


def test_log_timestamps_in_another_zone_are_shown_in_utc() -> None:
    assert kubelet_log_timestamp("2026-12-05T11:12:48.5+01:00") == "2026-12-05T10:12:48.5Z"


def test_cri_timestamps_keep_their_nanoseconds() -> None:
    assert cri_unix_nanos("1970-01-01T00:00:01.000000007Z") == 1_000_000_007


async def test_a_since_time_that_is_no_time_is_a_bad_request(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"nodeName": "node", "containers": [{"name": "app", "image": "busybox"}]}}  # fmt: skip
    store.create("pods", pod)
    app = create_app(store, token=None, node_name="node", streams=None, logs=_NoLogs())  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/api/v1/namespaces/default/pods/web/log?sinceTime=yesterday")
        status = await response.json()
    store.close()

    assert response.status == 400
    assert (status["kind"], status["reason"]) == ("Status", "BadRequest")
    assert 'parsing time "yesterday"' in status["message"]
