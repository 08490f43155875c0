"""`podrun serve`'s housekeeping: Events expire after their TTL, token records of gone pods are forgotten, and the
store is compacted. The clock is injected: nothing here waits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from podrun.api.housekeeping import EVENT_TTL, Housekeeping, last_written, release_free_heap, sweep_interval
from podrun.api.store import Store
from podrun.services.tokens import TOKEN_RESOURCE, issue_token
from podrun.timestamps import format_micro_time, format_time

NOW = 1_800_000_000.0


def event(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "Started",
        **fields,
    }


def names(store: Store, resource: str) -> list[str]:
    return [item["metadata"]["name"] for item in store.list(resource, None)[0]]


@pytest.fixture
def store() -> Store:
    return Store()


def test_an_event_last_written_an_hour_ago_is_deleted(store: Store) -> None:
    store.create("events", event("old", lastTimestamp=format_time(NOW - EVENT_TTL)))
    store.create("events", event("recent", lastTimestamp=format_time(NOW - EVENT_TTL + 60)))
    swept = Housekeeping(store, clock=lambda: NOW).sweep()
    assert swept.events == 1
    assert names(store, "events") == ["recent"]


def test_the_newest_timestamp_of_an_event_counts(store: Store) -> None:
    repeated = event(
        "repeated", firstTimestamp=format_time(NOW - 2 * EVENT_TTL), lastTimestamp=format_time(NOW - 10), count=5
    )
    store.create("events", repeated)
    assert Housekeeping(store, clock=lambda: NOW).delete_expired_events() == 0


def test_a_series_keeps_an_events_k8s_io_event_alive() -> None:
    series = event(
        "series",
        eventTime=format_micro_time(NOW - 2 * EVENT_TTL),
        series={"count": 3, "lastObservedTime": format_micro_time(NOW - 5)},
    )
    assert last_written(series) == pytest.approx(NOW - 5)


def test_an_event_without_its_own_times_expires_by_its_creation(store: Store) -> None:
    store.create("events", event("bare"))
    assert Housekeeping(store, clock=lambda: NOW + 10 * 365 * 86400).delete_expired_events() == 1


def test_a_shorter_ttl_expires_sooner(store: Store) -> None:
    store.create("events", event("minute", lastTimestamp=format_time(NOW - 61)))
    assert Housekeeping(store, event_ttl=60, clock=lambda: NOW).delete_expired_events() == 1


async def test_watchers_see_an_expired_event_deleted(store: Store) -> None:
    store.create("events", event("old", lastTimestamp=format_time(NOW - EVENT_TTL - 1)))
    watch = store.watch("events", None, resource_version=str(store.resource_version))
    Housekeeping(store, clock=lambda: NOW).sweep()
    deleted = await asyncio.wait_for(anext(watch), 1.0)
    assert (deleted.type, deleted.object["metadata"]["name"]) == ("DELETED", "old")
    watch.close()


def test_token_records_of_deleted_pods_are_forgotten(store: Store) -> None:
    kept = store.create("pods", {"metadata": {"name": "kept", "namespace": "app"}, "spec": {}})
    gone = store.create("pods", {"metadata": {"name": "gone", "namespace": "app"}, "spec": {}})
    issue_token(store, kept)
    issue_token(store, gone)
    store.delete("pods", "app", "gone")
    swept = Housekeeping(store, clock=lambda: NOW).sweep()
    assert swept.tokens == 1
    assert [item["pod"]["name"] for item in store.list(TOKEN_RESOURCE, None)[0]] == ["kept"]


def test_token_records_of_a_replaced_pod_with_the_same_name_are_forgotten(store: Store) -> None:
    issue_token(store, store.create("pods", {"metadata": {"name": "p", "namespace": "app"}, "spec": {}}))
    store.delete("pods", "app", "p")
    store.create("pods", {"metadata": {"name": "p", "namespace": "app"}, "spec": {}})
    assert Housekeeping(store, clock=lambda: NOW).sweep().tokens == 1
    assert names(store, TOKEN_RESOURCE) == []


@pytest.mark.parametrize(("ttl", "interval"), [(3600, 60), (60, 15), (2, 1)])
def test_sweeps_run_every_minute_or_four_times_per_ttl(ttl: float, interval: float) -> None:
    assert sweep_interval(ttl) == interval


def test_the_c_allocators_free_pages_are_released_on_linux() -> None:
    assert release_free_heap()


def pod(name: str) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }


def test_free_pages_are_handed_back_once_a_burst_of_pods_is_gone(store: Store) -> None:
    housekeeping = Housekeeping(store)
    for k in range(12):
        store.create("pods", pod(f"web-{k}"))
    seen = [housekeeping.look_at_pods()]
    for k in range(12):
        store.delete("pods", "default", f"web-{k}")
    seen += [housekeeping.look_at_pods(), housekeeping.look_at_pods()]
    assert seen == [False, False, True]
