"""The object store: CRUD with resource versions, lists with selectors and pages, persistence and watches."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podrun.api import store as store_module
from podrun.api.errors import ApiError
from podrun.api.store import Store, Watch, WatchEvent


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store()
    yield opened
    opened.close()


def pod(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }


def event(name: str, involved: str) -> dict[str, Any]:
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": involved, "namespace": "default"},
        "reason": "Started",
    }


def refused(call: Any, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)
    return caught.value


async def next_event(watch: Watch, timeout: float = 1.0) -> WatchEvent:
    return await asyncio.wait_for(anext(watch), timeout)


async def no_event(watch: Watch) -> bool:
    try:
        await asyncio.wait_for(anext(watch), 0.05)
    except TimeoutError:
        return True
    return False


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


# -- create, get -------------------------------------------------------------------------------------------------


def test_create_sets_uid_timestamp_version_and_generation(store: Store) -> None:
    created = store.create("pods", pod("web"))
    meta = created["metadata"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert meta["resourceVersion"] == "1"
    assert meta["generation"] == 1
    assert store.get("pods", "default", "web") == created


def test_objects_without_a_spec_get_no_generation(store: Store) -> None:
    assert "generation" not in store.create("events", event("web.1", "web"))["metadata"]


def test_metadata_is_written_in_object_meta_order(store: Store) -> None:
    created = store.create("pods", {"spec": {}, "metadata": {"labels": {}, "namespace": "default", "name": "web"}})
    assert list(created) == ["metadata", "spec"]
    assert list(created["metadata"]) == ["name", "namespace", "uid", "resourceVersion", "generation",
                                         "creationTimestamp", "labels"]  # fmt: skip


def test_resource_versions_increase_across_resources(store: Store) -> None:
    versions = [
        rv(store.create("pods", pod("a"))),
        rv(store.create("events", event("a.1", "a"))),
        rv(store.create("pods", pod("b"))),
    ]
    assert versions == [1, 2, 3]
    assert store.resource_version == 3


def test_returned_objects_are_copies(store: Store) -> None:
    manifest = pod("web")
    created = store.create("pods", manifest)
    created["metadata"]["labels"]["changed"] = "yes"
    store.get("pods", "default", "web")["spec"]["containers"].clear()
    assert "uid" not in manifest["metadata"]
    assert store.get("pods", "default", "web")["metadata"]["labels"] == {}
    assert store.get("pods", "default", "web")["spec"]["containers"]


def test_get_of_a_missing_object_is_the_api_servers_not_found(store: Store) -> None:
    error = refused(store.get, "pods", "default", "web")
    assert error.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "web" not found',
        "reason": "NotFound",
        "details": {"name": "web", "kind": "pods"},
        "code": 404,
    }


def test_creating_an_existing_name_is_already_exists(store: Store) -> None:
    store.create("pods", pod("web"))
    error = refused(store.create, "pods", pod("web"))
    assert (error.code, error.reason, error.message) == (409, "AlreadyExists", 'pods "web" already exists')


def test_the_same_name_in_another_namespace_is_another_object(store: Store) -> None:
    store.create("pods", pod("web", "a"))
    store.create("pods", pod("web", "b"))
    assert store.get("pods", "b", "web")["metadata"]["namespace"] == "b"


def test_generate_name_appends_five_random_characters(store: Store) -> None:
    manifest = pod("")
    manifest["metadata"]["generateName"] = "web-"
    created = store.create("pods", manifest)
    assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{5}", created["metadata"]["name"])


def test_a_missing_name_is_invalid(store: Store) -> None:
    error = refused(store.create, "pods", pod(""))
    assert (error.code, error.message) == (
        422,
        'Pod "" is invalid: metadata.name: Required value: name or generateName is required',
    )


def test_a_namespaced_object_without_a_namespace_is_invalid(store: Store) -> None:
    error = refused(store.create, "pods", pod("web", ""))
    assert (error.code, error.message) == (422, 'Pod "web" is invalid: metadata.namespace: Required value')


def test_cluster_scoped_objects_have_no_namespace(store: Store) -> None:
    created = store.create("namespaces", {"metadata": {"name": "dev", "namespace": "default"}})
    assert "namespace" not in created["metadata"]
    assert store.get("namespaces", None, "dev") == created
    assert store.get("namespaces", "anything", "dev") == created


# -- update, delete ----------------------------------------------------------------------------------------------


def test_update_bumps_the_version_and_keeps_uid_and_creation_time(store: Store) -> None:
    created = store.create("pods", pod("web"))
    changed = dict(
        created, metadata={**created["metadata"], "uid": "forged", "creationTimestamp": "2000-01-01T00:00:00Z"}
    )
    updated = store.update("pods", changed)
    assert rv(updated) == rv(created) + 1
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert updated["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]


def test_update_with_a_stale_version_is_a_conflict(store: Store) -> None:
    created = store.create("pods", pod("web"))
    store.update("pods", created)
    error = refused(store.update, "pods", created)
    assert (error.code, error.reason) == (409, "Conflict")
    assert error.message == (
        'Operation cannot be fulfilled on pods "web": the object has been modified; please apply your changes to '
        "the latest version and try again"
    )


def test_update_without_the_check_ignores_a_stale_version(store: Store) -> None:
    created = store.create("pods", pod("web"))
    store.update("pods", created)
    assert rv(store.update("pods", created, check_resource_version=False)) == 3


def test_update_without_a_version_is_unconditional(store: Store) -> None:
    store.create("pods", pod("web"))
    assert rv(store.update("pods", pod("web", app="web"))) == 2


def test_update_of_a_missing_object_is_not_found(store: Store) -> None:
    assert refused(store.update, "pods", pod("web")).code == 404


def test_generation_counts_spec_changes_only(store: Store) -> None:
    created = store.create("pods", pod("web"))
    relabelled = store.update("pods", dict(created, metadata={**created["metadata"], "labels": {"a": "b"}}))
    assert relabelled["metadata"]["generation"] == 1
    respecced = store.update("pods", dict(relabelled, spec={"containers": []}))
    assert respecced["metadata"]["generation"] == 2


def test_update_always_writes(store: Store) -> None:
    created = store.create("pods", pod("web"))
    assert rv(store.update("pods", created)) == rv(created) + 1


def test_update_if_changed_skips_a_no_op(store: Store) -> None:
    created = store.create("pods", pod("web"))
    assert store.update_if_changed("pods", created) == created
    assert store.resource_version == rv(created)


def test_update_if_changed_writes_a_change(store: Store) -> None:
    created = store.create("pods", pod("web"))
    updated = store.update_if_changed("pods", dict(created, spec={"containers": []}))
    assert rv(updated) == rv(created) + 1


def test_delete_returns_the_object_at_the_new_version(store: Store) -> None:
    created = store.create("pods", pod("web"))
    deleted = store.delete("pods", "default", "web")
    assert rv(deleted) == rv(created) + 1 == store.resource_version
    assert deleted["spec"] == created["spec"]
    assert refused(store.get, "pods", "default", "web").code == 404


def test_delete_of_a_missing_object_is_not_found(store: Store) -> None:
    assert refused(store.delete, "pods", "default", "web").code == 404


# -- list --------------------------------------------------------------------------------------------------------


def names(items: list[dict[str, Any]]) -> list[str]:
    return [f"{item['metadata']['namespace']}/{item['metadata']['name']}" for item in items]


def test_list_is_sorted_by_namespace_and_name_and_carries_the_global_version(store: Store) -> None:
    for namespace, name in [("b", "x"), ("a", "z"), ("a", "y")]:
        store.create("pods", pod(name, namespace))
    store.create("events", event("x.1", "x"))
    items, version, token = store.list("pods", None)
    assert names(items) == ["a/y", "a/z", "b/x"]
    assert (version, token) == ("4", "")


def test_list_in_a_namespace_holds_only_its_objects(store: Store) -> None:
    store.create("pods", pod("web", "a"))
    store.create("pods", pod("web", "b"))
    assert names(store.list("pods", "a")[0]) == ["a/web"]
    assert store.list("pods", "missing")[0] == []


def test_list_filters_by_labels(store: Store) -> None:
    store.create("pods", pod("web", app="web"))
    store.create("pods", pod("db", app="db"))
    assert names(store.list("pods", "default", label_selector="app in (web)")[0]) == ["default/web"]


def test_list_filters_by_fields(store: Store) -> None:
    store.create("events", event("web.1", "web"))
    store.create("events", event("db.1", "db"))
    items = store.list("events", "default", field_selector="involvedObject.name=web")[0]
    assert [item["metadata"]["name"] for item in items] == ["web.1"]


def test_list_refuses_an_unsupported_field(store: Store) -> None:
    error = refused(store.list, "pods", "default", field_selector="metadata.uid=x")
    assert (error.code, error.message) == (400, "field label not supported: metadata.uid")


def test_list_pages_with_limit_and_continue(store: Store) -> None:
    for name in "abcde":
        store.create("pods", pod(name))
    first, version, token = store.list("pods", "default", limit=2)
    store.create("pods", pod("f"))
    second, second_version, token = store.list("pods", "default", limit=2, continue_token=token)
    third, _, last = store.list("pods", "default", limit=2, continue_token=token)
    assert [names(first), names(second), names(third)] == [
        ["default/a", "default/b"],
        ["default/c", "default/d"],
        ["default/e", "default/f"],
    ]
    assert (version, second_version, last) == ("5", "5", "")


def test_a_limit_covering_everything_has_no_continue_token(store: Store) -> None:
    store.create("pods", pod("a"))
    assert store.list("pods", "default", limit=1)[2] == ""


def test_a_garbled_continue_token_is_a_bad_request(store: Store) -> None:
    error = refused(store.list, "pods", "default", continue_token="not-a-token")
    assert (error.code, error.message.startswith("invalid continue token: ")) == (400, True)


# -- persistence -------------------------------------------------------------------------------------------------


def test_reopening_the_file_keeps_objects_and_the_counter(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first = Store(path)
    created = first.create("pods", pod("web"))
    first.create("pods", pod("gone"))
    first.delete("pods", "default", "gone")
    first.close()
    second = Store(path)
    try:
        assert second.get("pods", "default", "web") == created
        assert second.resource_version == 3
        assert rv(second.create("pods", pod("next"))) == 4
        assert names(second.list("pods", None)[0]) == ["default/next", "default/web"]
    finally:
        second.close()


# -- watch -------------------------------------------------------------------------------------------------------


async def test_a_watch_from_zero_starts_with_synthetic_added_events(store: Store) -> None:
    web = store.create("pods", pod("web"))
    store.create("pods", pod("db"))
    watch = store.watch("pods", "default", resource_version="0", field_selector="metadata.name=web")
    assert await next_event(watch) == WatchEvent("ADDED", web)
    assert await no_event(watch)
    updated = store.update("pods", dict(web, spec={"containers": []}))
    assert await next_event(watch) == WatchEvent("MODIFIED", updated)


async def test_shared_watches_hand_over_the_same_stored_version(store: Store) -> None:
    store.create("pods", pod("db"))
    first, second = (store.watch("pods", None, resource_version="0", shared=True) for _ in range(2))
    assert (await next_event(first)).object is (await next_event(second)).object
    web = store.create("pods", pod("web"))
    added = await next_event(first)
    assert added.object == web and added.object is (await next_event(second)).object


async def test_ordinary_watches_hand_over_copies(store: Store) -> None:
    first, second = (store.watch("pods", None, resource_version=str(store.resource_version)) for _ in range(2))
    store.create("pods", pod("web"))
    assert (await next_event(first)).object is not (await next_event(second)).object


async def test_a_watch_from_a_version_replays_only_later_changes(store: Store) -> None:
    store.create("pods", pod("a"))
    _, version, _ = store.list("pods", "default")
    b = store.create("pods", pod("b"))
    watch = store.watch("pods", "default", resource_version=version)
    assert await next_event(watch) == WatchEvent("ADDED", b)
    assert await no_event(watch)


async def test_no_event_is_lost_between_watch_and_the_next_write(store: Store) -> None:
    watch = store.watch("pods", None, resource_version=str(store.resource_version))
    created = store.create("pods", pod("web"))
    assert await next_event(watch) == WatchEvent("ADDED", created)


async def test_deleted_carries_the_deletions_version(store: Store) -> None:
    store.create("pods", pod("web"))
    watch = store.watch("pods", "default", resource_version=str(store.resource_version))
    deleted = store.delete("pods", "default", "web")
    received = await next_event(watch)
    assert (received.type, received.object, rv(received.object)) == ("DELETED", deleted, store.resource_version)


async def test_an_object_leaving_the_selection_is_deleted_with_its_previous_content(store: Store) -> None:
    created = store.create("pods", pod("web", app="web"))
    watch = store.watch("pods", "default", resource_version=str(store.resource_version), label_selector="app=web")
    moved = store.update("pods", dict(created, metadata={**created["metadata"], "labels": {"app": "other"}}))
    received = await next_event(watch)
    assert received.type == "DELETED"
    assert received.object["metadata"]["labels"] == {"app": "web"}
    assert received.object["metadata"]["resourceVersion"] == moved["metadata"]["resourceVersion"]


async def test_an_object_entering_the_selection_is_added(store: Store) -> None:
    created = store.create("pods", pod("web", app="other"))
    watch = store.watch("pods", "default", resource_version=str(store.resource_version), label_selector="app=web")
    moved = store.update("pods", dict(created, metadata={**created["metadata"], "labels": {"app": "web"}}))
    assert await next_event(watch) == WatchEvent("ADDED", moved)


async def test_a_namespaced_watch_ignores_other_namespaces(store: Store) -> None:
    watch = store.watch("pods", "a")
    store.create("pods", pod("web", "b"))
    created = store.create("pods", pod("web", "a"))
    assert await next_event(watch) == WatchEvent("ADDED", created)


async def test_a_watch_ignores_other_resources(store: Store) -> None:
    watch = store.watch("pods", None)
    store.create("events", event("web.1", "web"))
    assert await no_event(watch)


async def test_a_version_older_than_the_history_is_gone(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "HISTORY_SIZE", 2)
    for name in "abcd":
        store.create("pods", pod(name))
    watch = store.watch("pods", "default", resource_version="1")
    with pytest.raises(ApiError) as caught:
        await next_event(watch)
    assert (caught.value.code, caught.value.reason) == (410, "Expired")
    assert caught.value.message == "too old resource version: 1 (2)"
    with pytest.raises(StopAsyncIteration):
        await next_event(watch)


async def test_the_oldest_version_still_in_the_history_can_be_resumed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "HISTORY_SIZE", 2)
    for name in "abcd":
        store.create("pods", pod(name))
    watch = store.watch("pods", "default", resource_version="2")
    assert [(await next_event(watch)).object["metadata"]["name"] for _ in range(2)] == ["c", "d"]


async def test_versions_from_before_a_reopen_are_gone(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first = Store(path)
    first.create("pods", pod("a"))
    first.create("pods", pod("b"))
    first.close()
    second = Store(path)
    try:
        with pytest.raises(ApiError) as caught:
            await next_event(second.watch("pods", None, resource_version="1"))
        assert caught.value.message == "too old resource version: 1 (2)"
    finally:
        second.close()


async def test_bookmarks_carry_the_current_version(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "BOOKMARK_INTERVAL", 0.01)
    store.create("pods", pod("web"))
    watch = store.watch("pods", "default", resource_version="1", allow_bookmarks=True)
    assert await next_event(watch) == WatchEvent(
        "BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}}
    )


async def test_no_bookmarks_unless_allowed(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "BOOKMARK_INTERVAL", 0.01)
    assert await no_event(store.watch("pods", "default"))


async def test_closing_a_watch_ends_a_waiting_iteration(store: Store) -> None:
    watch = store.watch("pods", "default")
    waiting = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0)
    watch.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 1)


async def test_closing_the_store_ends_its_watches(store: Store) -> None:
    watch = store.watch("pods", "default")
    store.close()
    assert [event async for event in watch] == []


def test_a_malformed_watch_version_is_a_bad_request(store: Store) -> None:
    assert refused(store.watch, "pods", None, resource_version="abc").code == 400


# -- Events, kept as text ----------------------------------------------------------------------------------------


def test_events_are_kept_as_their_json_text_only(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    written = Store(path)
    written.create("events", event("web.1", "web"))
    written.create("pods", pod("web"))
    kept_before_reopen = written._objects["events"]["default"]["web.1"]
    written.close()
    reopened = Store(path)
    kept_after_reopen = reopened._objects["events"]["default"]["web.1"]
    reopened.close()
    assert [kept_before_reopen.decoded, kept_after_reopen.decoded] == [None, None]
    assert '"involvedObject"' in kept_after_reopen.text


def test_events_read_back_are_fresh_copies(store: Store) -> None:
    store.create("events", event("web.1", "web"))
    store.get("events", "default", "web.1")["reason"] = "Changed"
    store.list("events", "default")[0][0]["reason"] = "Changed"
    assert store.get("events", "default", "web.1")["reason"] == "Started"


def test_an_event_update_keeps_its_uid_and_checks_its_version(store: Store) -> None:
    created = store.create("events", event("web.1", "web"))
    updated = store.update("events", {**created, "reason": "Killing"})
    stale = refused(store.update, "events", {**created, "reason": "Pulled"})
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]
    assert (updated["reason"], rv(updated)) == ("Killing", rv(created) + 1)
    assert stale.code == 409


def test_an_unchanged_event_is_not_written_again(store: Store) -> None:
    created = store.create("events", event("web.1", "web"))
    assert store.update_if_changed("events", created) == created
    assert store.resource_version == rv(created)


def test_events_page_with_limit_and_continue(store: Store) -> None:
    for name in "abc":
        store.create("events", event(f"{name}.1", name))
    first, _, token = store.list("events", "default", limit=2)
    rest, _, last = store.list("events", "default", limit=2, continue_token=token)
    assert [names(first), names(rest), last] == [["default/a.1", "default/b.1"], ["default/c.1"], ""]


async def test_a_watch_of_events_by_field_sees_them_enter_and_leave_its_selection(store: Store) -> None:
    watch = store.watch("events", "default", field_selector="involvedObject.name=web")
    web = store.create("events", event("web.1", "web"))
    store.create("events", event("db.1", "db"))
    moved = store.update("events", {**web, "involvedObject": {"kind": "Pod", "name": "db", "namespace": "default"}})
    assert [(await next_event(watch)).type, (await next_event(watch)).type] == ["ADDED", "DELETED"]
    assert rv(moved) == rv(web) + 2
    watch.close()


async def test_a_watch_of_events_resumed_by_field_replays_only_its_selection(store: Store) -> None:
    start = store.resource_version
    store.create("events", event("db.1", "db"))
    web = store.create("events", event("web.1", "web"))
    watch = store.watch("events", "default", resource_version=str(start), field_selector="involvedObject.name=web")
    assert await next_event(watch) == WatchEvent("ADDED", web)
    assert await no_event(watch)
    watch.close()


def test_count_covers_every_namespace(store: Store) -> None:
    store.create("pods", pod("a"))
    store.create("pods", pod("b", namespace="other"))
    store.create("pods", pod("c", namespace="other"))
    store.delete("pods", "other", "c")
    assert (store.count("pods"), store.count("services")) == (2, 0)
