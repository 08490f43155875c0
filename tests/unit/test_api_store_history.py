"""The watch history is bounded as the API server's watch cache is: by count and by age, with 410 beyond it.

The store's clock is injected, so ageing takes no time.
"""

from __future__ import annotations

import _sqlite3
import asyncio
import ctypes
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from podrun.api import store as store_module
from podrun.api.errors import ApiError
from podrun.api.store import HISTORY_AGE, Store, Watch, WatchEvent


class Clock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def configmap(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "data": {"k": name}}


async def next_event(watch: Watch) -> WatchEvent:
    return await asyncio.wait_for(anext(watch), 1.0)


async def gone_message(watch: Watch) -> str:
    with pytest.raises(ApiError) as caught:
        await next_event(watch)
    assert (caught.value.code, caught.value.reason) == (410, "Expired")
    return caught.value.message


def test_the_history_keeps_a_thousand_changes_per_resource() -> None:
    store = Store()
    for i in range(1_005):
        store.create("configmaps", configmap(f"c{i}"))
    assert store.history_length("configmaps") == 1_000


async def test_a_version_the_count_pushed_out_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "HISTORY_SIZE", 3)
    store = Store()
    first = store.create("configmaps", configmap("a"))
    for name in "bcde":
        store.create("configmaps", configmap(name))
    watch = store.watch("configmaps", None, resource_version=first["metadata"]["resourceVersion"])
    assert await gone_message(watch) == "too old resource version: 1 (2)"


async def test_changes_older_than_the_age_leave_with_the_next_write() -> None:
    clock = Clock()
    store = Store(clock=clock)
    first = store.create("configmaps", configmap("a"))
    store.create("configmaps", configmap("b"))
    clock.now += HISTORY_AGE + 1
    store.create("configmaps", configmap("c"))
    assert store.history_length("configmaps") == 1
    watch = store.watch("configmaps", None, resource_version=first["metadata"]["resourceVersion"])
    assert await gone_message(watch) == "too old resource version: 1 (2)"


async def test_changes_within_the_age_can_be_resumed() -> None:
    clock = Clock()
    store = Store(clock=clock)
    first = store.create("configmaps", configmap("a"))
    clock.now += HISTORY_AGE - 1
    second = store.create("configmaps", configmap("b"))
    watch = store.watch("configmaps", None, resource_version=first["metadata"]["resourceVersion"])
    assert await next_event(watch) == WatchEvent("ADDED", second)


def test_expiring_drops_old_changes_of_resources_nobody_writes_to_any_more() -> None:
    clock = Clock()
    store = Store(clock=clock)
    store.create("configmaps", configmap("a"))
    store.create("secrets", configmap("s"))
    clock.now += HISTORY_AGE + 1
    assert store.expire_history() == 2
    assert store.history_length("configmaps") == store.history_length("secrets") == 0


async def test_a_client_at_the_latest_version_resumes_after_the_history_expired() -> None:
    clock = Clock()
    store = Store(clock=clock)
    latest = store.create("configmaps", configmap("a"))
    clock.now += HISTORY_AGE + 1
    store.expire_history()
    watch = store.watch("configmaps", None, resource_version=latest["metadata"]["resourceVersion"])
    created = store.create("configmaps", configmap("b"))
    assert await next_event(watch) == WatchEvent("ADDED", created)


def test_compacting_gives_the_space_of_deleted_objects_back(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = Store(path)
    try:
        for i in range(200):
            store.create("configmaps", dict(configmap(f"c{i}"), data={"k": "x" * 4000}))
        store.compact()
        full = path.stat().st_size
        for i in range(200):
            store.delete("configmaps", "default", f"c{i}")
        store.compact()
        assert path.stat().st_size < full / 4
        assert path.with_name("store.db-wal").stat().st_size == 0
    finally:
        store.close()


def sqlite_memory_used() -> int:
    """Bytes SQLite holds in this process (every connection's page cache among them)."""
    memory_used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    memory_used.restype = ctypes.c_int64
    return int(memory_used())


def test_compacting_frees_sqlites_page_cache(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    try:
        for i in range(200):
            store.create("configmaps", dict(configmap(f"c{i}"), data={"k": "x" * 4000}))
        for i in range(100):
            store.delete("configmaps", "default", f"c{i}")
        before = sqlite_memory_used()
        store.compact()
        assert before - sqlite_memory_used() > 512 * 1024
    finally:
        store.close()


def test_a_store_made_before_incremental_vacuum_is_switched_to_it(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    old.commit()
    old.close()
    Store(path).close()
    reopened = sqlite3.connect(path)
    try:
        assert reopened.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    finally:
        reopened.close()


async def test_a_resumed_watch_with_a_selector_sees_replayed_transitions() -> None:
    store = Store()
    start = store.create("configmaps", configmap("before"))["metadata"]["resourceVersion"]
    labelled = store.create(
        "configmaps", dict(configmap("a"), metadata={**configmap("a")["metadata"], "labels": {"app": "web"}})
    )
    store.create("configmaps", configmap("b"))
    relabelled = dict(labelled, metadata={**labelled["metadata"], "labels": {"app": "db"}})
    store.update("configmaps", relabelled)
    watch = store.watch("configmaps", None, resource_version=start, label_selector="app=web")
    added, left = await next_event(watch), await next_event(watch)
    assert (added.type, added.object["metadata"]["name"]) == ("ADDED", "a")
    assert (left.type, left.object["metadata"]["labels"]) == ("DELETED", {"app": "web"})
    assert left.object["metadata"]["resourceVersion"] == str(store.resource_version)


async def test_a_watch_whose_client_stopped_reading_ends_instead_of_queueing_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store_module, "WATCH_BACKLOG", 3)
    store = Store()
    stalled = store.watch("configmaps", None, resource_version=str(store.resource_version))
    reading = store.watch("configmaps", None, resource_version=str(store.resource_version))
    for name in "abcd":
        store.create("configmaps", configmap(name))
        assert (await next_event(reading)).object["metadata"]["name"] == name
    with pytest.raises(StopAsyncIteration):
        await next_event(stalled)


async def test_the_backlog_allowance_comes_on_top_of_the_initial_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "WATCH_BACKLOG", 2)
    store = Store()
    for name in "abc":
        store.create("configmaps", configmap(name))
    watch = store.watch("configmaps", None)
    store.create("configmaps", configmap("d"))
    names = [(await next_event(watch)).object["metadata"]["name"] for _ in range(4)]
    assert names == ["a", "b", "c", "d"]
