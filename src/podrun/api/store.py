"""The object store behind `podrun serve`: Kubernetes objects in SQLite, with etcd-style resource versions and
watches that behave like the API server's watch cache.

Objects are JSON-shaped dicts in API form. Every write (create, update, delete) takes the next value of one
global resourceVersion counter, as etcd's revision does across all kinds, commits the object and the counter
in one SQLite transaction, and only then updates the in-memory copy and notifies watchers. The file is in WAL
mode with `synchronous=NORMAL`: a committed write survives the process dying (this is what a restarted
`podrun serve` needs); a power cut may lose the last writes but never corrupts the file.

Reads are served from memory: every object is kept decoded (for selectors) and encoded (for fresh copies,
which `json.loads` makes faster than a deep copy), so a write costs one encode, one decode and one commit.
Events are the exception: the most numerous objects and the least read, they are kept as text only (a decoded
Event costs 4 to 7 KiB, its text about 1) and decoded where read.

Watches follow `staging/src/k8s.io/apiserver/pkg/storage/cacher`: a watch from resourceVersion "" or "0"
starts with a synthetic ADDED for every matching object, a watch from "N" replays the changes after N from a
history per resource bounded as the watch cache's is (the last `HISTORY_SIZE` changes, none older than
`HISTORY_AGE` seconds) and fails with 410 `too old resource version: N (M)` when N is older than what the
history still holds (clients then list again), and selector transitions are reported as the cacher does (an
object that stops matching is DELETED, one that starts matching is ADDED). Everything runs on one event loop:
a write hands its event to every watcher synchronously, so nothing is lost between `watch()` returning and the
first write.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import secrets
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podrun.api.errors import already_exists, bad_request, conflict, gone, invalid_from, not_found
from podrun.api.selectors import FieldSelector, LabelSelector, parse_field_selector, parse_label_selector
from podrun.model.errors import FieldError, InvalidError
from podrun.timestamps import now_time

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"

CLUSTER_SCOPED = frozenset({"namespaces", "nodes"})
# Kinds, for bookmarks and validation errors, of the resources podrun serves.
KINDS = {
    "pods": "Pod",
    "events": "Event",
    "namespaces": "Namespace",
    "nodes": "Node",
    "configmaps": "ConfigMap",
    "secrets": "Secret",
}
# Changes kept per resource for watches resumed from a resourceVersion: at most this many, none older than
# HISTORY_AGE seconds. The watch cache keeps 100 to 102,400 events per resource and sizes itself for 75 s of
# history (`eventFreshDuration`); a fixed cap of 1,000 bounds memory where the cache's growth would not (each
# kept change holds an object's JSON text), and 75 s is the window a lagging client may resume in.
HISTORY_SIZE = 1_000
HISTORY_AGE = 75.0
# Resources whose objects are kept as JSON text only, decoded where they are read (see the module's docstring).
TEXT_ONLY = frozenset({"events"})
# Seconds without an event after which a watch that allows bookmarks sends one.
BOOKMARK_INTERVAL = 1.0
# Changes queued for one watch that its client has not taken yet. Past this the watch ends, as the cacher ends a
# watcher whose buffer stays full (`cacheWatcher.add`): the client watches again from the last version it saw
# (or lists again, if that is gone), and a client that stopped reading cannot make the server hold every change.
WATCH_BACKLOG = 10_000

# apiserver/pkg/storage/names: generateName appends five characters from this alphabet (no vowels, no 0/1/3).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NAME_SUFFIX_LENGTH = 5
_NAME_ATTEMPTS = 8
# ObjectMeta's fields in the order the API server serializes them.
_METADATA_ORDER = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    rv INTEGER NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('resourceVersion', 0);
"""


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One watch event: ADDED, MODIFIED, DELETED or BOOKMARK, and the object: a fresh copy per event, or for a
    shared watch the store's own decoded version, which the receiver must not change."""

    type: str
    object: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Stored:
    """One version of an object: encoded, and decoded (shared, never mutated) unless its resource is kept as
    text only (`TEXT_ONLY`)."""

    text: str
    decoded: dict[str, Any] | None

    @classmethod
    def of(cls, resource: str, text: str, obj: dict[str, Any] | None = None) -> _Stored:
        """The version to keep of `resource`'s object `text` (`obj`: that text decoded, when at hand)."""
        if resource in TEXT_ONLY:
            return cls(text, None)
        return cls(text, obj if obj is not None else json.loads(text))

    @property
    def obj(self) -> dict[str, Any]:
        """The object decoded: the shared copy, or a fresh one for a text-only resource."""
        return self.decoded if self.decoded is not None else json.loads(self.text)


@dataclass(frozen=True, slots=True)
class _Change:
    """One write as the watch history keeps it: the new version and, for updates and deletes, the previous one,
    encoded only. A decoded pod costs several times its JSON text; the history decodes again only to replay a
    change to a watch with selectors, and consecutive changes share the text of the version between them."""

    rv: int
    type: str
    namespace: str
    current: str
    previous: str | None
    at: float


def _make_private(path: Path) -> None:
    """The store holds Secrets and service-account token hashes: its file is root's alone (0600), whatever the
    umask, and so is its directory (0700). SQLite creates the -wal and -shm files with the database file's mode,
    so fixing that one file before opening covers them; an existing store made readable elsewhere is fixed too."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    path.chmod(0o600)
    for suffix in ("-wal", "-shm"):
        sibling = path.with_name(path.name + suffix)
        if sibling.exists():
            sibling.chmod(0o600)


def _enable_incremental_vacuum(db: sqlite3.Connection) -> None:
    """Free pages can then be given back to the file system (`Store.compact`). A new file takes the mode at its
    first table; a store made before needs one full VACUUM to switch (2 = INCREMENTAL)."""
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
        return
    db.execute("PRAGMA auto_vacuum=INCREMENTAL")
    db.execute("VACUUM")


def _encode(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _now() -> str:
    return now_time()


def _in_api_order(obj: dict[str, Any]) -> dict[str, Any]:
    """kind, apiVersion and metadata first, and metadata's fields in ObjectMeta order, as the API server writes."""
    meta = obj["metadata"]
    ordered_meta = {key: meta[key] for key in _METADATA_ORDER if key in meta}
    ordered_meta.update((key, value) for key, value in meta.items() if key not in ordered_meta)
    head: dict[str, Any] = {key: obj[key] for key in ("kind", "apiVersion") if key in obj}
    head["metadata"] = ordered_meta
    head.update((key, value) for key, value in obj.items() if key not in head)
    return head


def _metadata(resource: str, obj: Any) -> dict[str, Any]:
    """The object's metadata (added when missing); ApiError 400 when the object or its metadata is no map."""
    if not isinstance(obj, dict) or not isinstance(obj.setdefault("metadata", {}), dict):
        kind = KINDS.get(resource, resource)
        raise bad_request(f'{kind} in version "v1" cannot be handled as a {kind}: expected an object with metadata')
    return obj["metadata"]


class Store:
    """Kubernetes objects by resource, namespace and name, with a global resourceVersion and watches."""

    def __init__(self, path: Path | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        """`clock` (seconds, monotonic) dates the watch history's changes; tests pass their own."""
        if path is not None:
            _make_private(path)
        # Transactions are explicit (BEGIN … COMMIT), so that a write and its counter commit together.
        self._db = sqlite3.connect(str(path) if path is not None else ":memory:", isolation_level=None)
        self._clock = clock
        self._on_disk = path is not None
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            _enable_incremental_vacuum(self._db)
        self._db.executescript(_SCHEMA)
        self._rv: int = self._db.execute("SELECT value FROM meta WHERE key = 'resourceVersion'").fetchone()[0]
        self._objects: dict[str, dict[str, dict[str, _Stored]]] = {}
        for resource, namespace, name, text in self._db.execute("SELECT resource, namespace, name, json FROM objects"):
            self._objects.setdefault(resource, {}).setdefault(namespace, {})[name] = _Stored.of(resource, text)
        # The history starts empty: resuming from a version before this open is answered with 410, which makes
        # clients list again, as after an API server restart.
        self._opened_rv = self._rv
        self._history: dict[str, deque[_Change]] = {}
        self._history_start: dict[str, int] = {}
        self._watches: dict[str, set[Watch]] = {}

    def close(self) -> None:
        """End every watch and close the database."""
        for watches in list(self._watches.values()):
            for watch in list(watches):
                watch.close()
        self._db.close()

    @property
    def resource_version(self) -> int:
        """The global resourceVersion: the version of the latest write."""
        return self._rv

    # -- reads ---------------------------------------------------------------------------------------------------

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        """A copy of one object; ApiError 404 when there is none."""
        stored = self._objects.get(resource, {}).get(self._namespace(resource, namespace), {}).get(name)
        if stored is None:
            raise not_found(resource, name)
        return json.loads(stored.text)

    def count(self, resource: str) -> int:
        """How many objects of the resource there are, in every namespace."""
        return sum(map(len, self._objects.get(resource, {}).values()))

    def list(
        self,
        resource: str,
        namespace: str | None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
    ) -> tuple[list[dict[str, Any]], str, str]:
        """Matching objects sorted by namespace and name, the list's resourceVersion and a continue token.

        `namespace` None lists all namespaces. With `limit` > 0 at most that many objects are returned, and the
        token (empty when nothing is left) continues after the last one; pages after the first carry the first
        page's resourceVersion, as the API server's do.
        """
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, resource)
        list_rv = self._rv
        after: tuple[str, str] | None = None
        if continue_token:
            list_rv, after = _decode_continue(continue_token)
        everything = labels.empty and fields.empty
        items: list[tuple[tuple[str, str], _Stored]] = []
        token = ""
        for key, stored in self._sorted(resource, namespace):
            if after is not None and key <= after:
                continue
            if not everything and not _matches(stored.obj, labels, fields):
                continue
            if limit > 0 and len(items) == limit:
                token = _encode_continue(list_rv, items[-1][0])
                break
            items.append((key, stored))
        return [json.loads(stored.text) for _key, stored in items], str(list_rv), token

    def _sorted(self, resource: str, namespace: str | None) -> Iterator[tuple[tuple[str, str], _Stored]]:
        by_namespace = self._objects.get(resource, {})
        if namespace is None or resource in CLUSTER_SCOPED:
            namespaces = sorted(by_namespace)
        else:
            namespaces = [namespace] if namespace in by_namespace else []
        for each in namespaces:
            objects = by_namespace[each]
            for name in sorted(objects):
                yield (each, name), objects[name]

    # -- writes --------------------------------------------------------------------------------------------------

    def create(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object and return it as stored.

        Sets `metadata.uid`, `creationTimestamp`, `resourceVersion` and (for objects with a spec) `generation`
        1; a missing name is made from `generateName`. The namespace comes from the object (cluster-scoped
        resources drop it). Raises ApiError 409 AlreadyExists, or 422 when there is no name or namespace.
        """
        new = json.loads(_encode(obj))
        meta = _metadata(resource, new)
        if resource in CLUSTER_SCOPED:
            meta.pop("namespace", None)
        namespace = self._namespace(resource, meta.get("namespace"))
        if resource not in CLUSTER_SCOPED and not namespace:
            raise self._invalid(resource, new, FieldError.required("metadata.namespace"))
        existing = self._objects.get(resource, {}).get(namespace, {})
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise self._invalid(
                    resource, new, FieldError.required("metadata.name", "name or generateName is required")
                )
            meta["name"] = self._generate_name(prefix, existing)
        name = meta["name"]
        if name in existing:
            raise already_exists(resource, name)
        rv = self._rv + 1
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["resourceVersion"] = str(rv)
        if "spec" in new:
            meta["generation"] = 1
        return self._write(resource, namespace, name, new, rv, ADDED, None)

    @staticmethod
    def _generate_name(prefix: str, existing: dict[str, _Stored]) -> str:
        """`prefix` plus a random suffix not taken yet; after a few clashes (27^5 suffixes make that all but
        impossible) the last candidate, which the caller then refuses as already existing."""
        candidate = prefix
        for _ in range(_NAME_ATTEMPTS):
            candidate = prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(_NAME_SUFFIX_LENGTH))
            if candidate not in existing:
                break
        return candidate

    def update(self, resource: str, obj: dict[str, Any], *, check_resource_version: bool = True) -> dict[str, Any]:
        """Replace a stored object (found by the object's namespace and name) and return it as stored.

        `uid` and `creationTimestamp` are kept from the stored object; `generation` too, plus one when the spec
        changed. With `check_resource_version`, an object whose `metadata.resourceVersion` is set and differs
        from the stored one is refused with ApiError 409 Conflict. Always writes and bumps the resourceVersion,
        as a PUT does. ApiError 404 when there is no such object.
        """
        namespace, stored, new = self._prepare_update(resource, obj)
        if check_resource_version:
            self._check_version(resource, obj, stored)
        return self._replace(resource, namespace, stored, new)

    def update_if_changed(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """`update`, except that an object equal to the stored one but for its resourceVersion is not written:
        the stored object is returned and no event is sent (the API server skips no-op patches this way)."""
        namespace, stored, new = self._prepare_update(resource, obj)
        old = stored.obj
        before = dict(old, metadata={k: v for k, v in old["metadata"].items() if k != "resourceVersion"})
        # Unequal dicts encode differently: only equal ones are encoded, to tell 1 from 1.0 and True as JSON does.
        if before == new and json.dumps(before, sort_keys=True) == json.dumps(new, sort_keys=True):
            return json.loads(stored.text)
        self._check_version(resource, obj, stored)
        return self._replace(resource, namespace, stored, new)

    def _prepare_update(self, resource: str, obj: dict[str, Any]) -> tuple[str, _Stored, dict[str, Any]]:
        """The stored object and the object to store in its place, without a resourceVersion yet."""
        new = json.loads(_encode(obj))
        meta = _metadata(resource, new)
        if resource in CLUSTER_SCOPED:
            meta.pop("namespace", None)
        namespace = self._namespace(resource, meta.get("namespace"))
        name = meta.get("name") or ""
        stored = self._objects.get(resource, {}).get(namespace, {}).get(name)
        if stored is None:
            raise not_found(resource, name)
        old = stored.obj
        old_meta = old["metadata"]
        meta.pop("resourceVersion", None)
        meta["uid"] = old_meta["uid"]
        meta["creationTimestamp"] = old_meta["creationTimestamp"]
        # Clients cannot set the generation; it counts changes of the spec (rest.BeforeUpdate, PrepareForUpdate).
        generation = old_meta.get("generation")
        if generation is None:
            meta.pop("generation", None)
        else:
            meta["generation"] = generation + (new.get("spec") != old.get("spec"))
        return namespace, stored, _in_api_order(new)

    @staticmethod
    def _check_version(resource: str, obj: dict[str, Any], stored: _Stored) -> None:
        wanted = (obj.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != (stored_meta := stored.obj["metadata"])["resourceVersion"]:
            raise conflict(resource, stored_meta["name"])

    def _replace(self, resource: str, namespace: str, stored: _Stored, new: dict[str, Any]) -> dict[str, Any]:
        rv = self._rv + 1
        new["metadata"]["resourceVersion"] = str(rv)
        return self._write(resource, namespace, new["metadata"]["name"], new, rv, MODIFIED, stored)

    def delete(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        """Remove an object and return its last state, which carries the deletion's new resourceVersion (as
        the DELETED event does). ApiError 404 when there is no such object."""
        key_namespace = self._namespace(resource, namespace)
        stored = self._objects.get(resource, {}).get(key_namespace, {}).get(name)
        if stored is None:
            raise not_found(resource, name)
        rv = self._rv + 1
        last = json.loads(stored.text)
        last["metadata"]["resourceVersion"] = str(rv)
        return self._write(resource, key_namespace, name, last, rv, DELETED, stored)

    def _write(
        self,
        resource: str,
        namespace: str,
        name: str,
        obj: dict[str, Any],
        rv: int,
        change_type: str,
        previous: _Stored | None,
    ) -> dict[str, Any]:
        """Commit one change with the new counter, then update memory and notify watchers; return a copy."""
        obj = _in_api_order(obj)
        text = _encode(obj)
        db = self._db
        db.execute("BEGIN")
        try:
            if change_type == DELETED:
                db.execute(
                    "DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?", (resource, namespace, name)
                )
            else:
                db.execute(
                    "INSERT OR REPLACE INTO objects (resource, namespace, name, uid, rv, json) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (resource, namespace, name, obj["metadata"]["uid"], rv, text),
                )
            db.execute("UPDATE meta SET value = ? WHERE key = 'resourceVersion'", (rv,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._rv = rv
        current = _Stored.of(resource, text, obj)
        by_namespace = self._objects.setdefault(resource, {})
        if change_type == DELETED:
            objects = by_namespace[namespace]
            del objects[name]
            if not objects:
                del by_namespace[namespace]
        else:
            by_namespace.setdefault(namespace, {})[name] = current
        change = _Change(rv, change_type, namespace, text, previous.text if previous else None, self._clock())
        self._record(resource, change, current, previous)
        return json.loads(text)

    # -- watches -------------------------------------------------------------------------------------------------

    def watch(
        self,
        resource: str,
        namespace: str | None,
        *,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        allow_bookmarks: bool = False,
        shared: bool = False,
    ) -> Watch:
        """Watch a resource (in one namespace, or all with None) from a resourceVersion.

        "" or "0": a synthetic ADDED for every matching object now, then every later change. "N": every change
        after N; when the history no longer reaches back to N the watch's first iteration raises ApiError 410.
        Malformed selectors or versions raise ApiError 400 here. `shared`: events carry the store's own decoded
        versions where it keeps them, not copies, for a watcher in this process that only reads them (the node
        agent: a second decoded copy of every running pod was about a fifth of serve's memory per pod).
        """
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, resource)
        scope = None if namespace is None or resource in CLUSTER_SCOPED else namespace
        watch = Watch(self, resource, scope, labels, fields, allow_bookmarks, shared)
        if resource_version in ("", "0"):
            everything = labels.empty and fields.empty
            for _key, stored in self._sorted(resource, scope):
                if everything or _matches(stored.obj, labels, fields):
                    watch._events.append((ADDED, stored.text, None, stored.decoded if shared else None))
            watch._backlog_limit += len(watch._events)
        else:
            since = _parse_version(resource_version)
            oldest = self._history_start.get(resource, self._opened_rv)
            if since < oldest:
                watch._fail(gone(f"too old resource version: {since} ({oldest})"))
                return watch
            for change in self._history.get(resource, ()):
                if change.rv > since:
                    watch._offer(change)
        self._watches.setdefault(resource, set()).add(watch)
        return watch

    def _record(self, resource: str, change: _Change, current: _Stored, previous: _Stored | None) -> None:
        """Keep the change for resumed watches and hand it to the current ones (with both versions decoded, unless
        the resource is kept as text only)."""
        history = self._history.setdefault(resource, deque())
        history.append(change)
        self._trim(resource, history, change.at)
        # A copy: a watch that falls too far behind closes itself, and leaves the set, while being offered.
        for watch in list(self._watches.get(resource, ())):
            watch._offer(change, current.decoded, previous.decoded if previous else None)

    def expire_history(self) -> int:
        """Drop the changes older than `HISTORY_AGE` from every resource's history (writes do it for their own
        resource; this covers the resources nobody writes to any more); how many were dropped."""
        now = self._clock()
        dropped = 0
        for resource, history in list(self._history.items()):
            dropped += self._trim(resource, history, now)
            if not history:
                del self._history[resource]
        return dropped

    def _trim(self, resource: str, history: deque[_Change], now: float) -> int:
        dropped = 0
        while history and (len(history) > HISTORY_SIZE or now - history[0].at > HISTORY_AGE):
            # Watches from before the dropped change can no longer be resumed.
            self._history_start[resource] = history.popleft().rv
            dropped += 1
        return dropped

    def history_length(self, resource: str) -> int:
        """How many changes of the resource the history holds."""
        return len(self._history.get(resource, ()))

    def compact(self) -> None:
        """Give the file's free pages back (incremental vacuum), empty the write-ahead log into the database (a
        truncating checkpoint), so that deleted objects do not leave the files growing, and free SQLite's page
        cache; nothing of the objects in memory."""
        if not self._on_disk:
            return
        # executescript steps the pragma to the end; execute() would free a single page.
        self._db.executescript("PRAGMA incremental_vacuum;")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        # The page cache fills as the file grows (up to 2 MiB a connection) and stays full after a burst of pods
        # has come and gone. Reads are served from memory, so an idle server has no use for it; the next write
        # reads back the few pages it touches.
        self._db.execute("PRAGMA shrink_memory")

    def _forget(self, watch: Watch) -> None:
        self._watches.get(watch.resource, set()).discard(watch)

    # -- helpers -------------------------------------------------------------------------------------------------

    @staticmethod
    def _namespace(resource: str, namespace: str | None) -> str:
        """The namespace part of an object's key: "" for cluster-scoped resources."""
        return "" if resource in CLUSTER_SCOPED else namespace or ""

    @staticmethod
    def _invalid(resource: str, obj: dict[str, Any], error: FieldError) -> Exception:
        kind = obj.get("kind") or KINDS.get(resource, resource)
        return invalid_from(InvalidError(kind, obj["metadata"].get("name") or "", [error]))


class Watch:
    """An async iterator of `WatchEvent`s; `close()` ends it. Made by `Store.watch`."""

    def __init__(
        self,
        store: Store,
        resource: str,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        allow_bookmarks: bool,
        shared: bool = False,
    ) -> None:
        self.resource = resource
        self._store = store
        self._namespace = namespace
        self._labels = labels
        self._fields = fields
        self._everything = labels.empty and fields.empty
        self._allow_bookmarks = allow_bookmarks
        self._shared = shared
        # (type, encoded object, resourceVersion to put in it or None, the store's decoded object for a shared
        # watch or None); filled synchronously by the store.
        self._events: deque[tuple[str, str, int | None, dict[str, Any] | None]] = deque()
        self._ready = asyncio.Event()
        self._error: Exception | None = None
        self._closed = False
        self._backlog_limit = WATCH_BACKLOG

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> WatchEvent:
        while True:
            if self._error is not None:
                error, self._error = self._error, None
                self._closed = True
                raise error
            if self._closed:
                raise StopAsyncIteration
            if self._events:
                change_type, text, rv, decoded = self._events.popleft()
                if decoded is not None:
                    return WatchEvent(change_type, decoded)
                obj = json.loads(text)
                if rv is not None:
                    obj["metadata"]["resourceVersion"] = str(rv)
                return WatchEvent(change_type, obj)
            self._ready.clear()
            if not self._allow_bookmarks:
                await self._ready.wait()
                continue
            try:
                await asyncio.wait_for(self._ready.wait(), BOOKMARK_INTERVAL)
            except TimeoutError:
                # Everything up to the store's version has been delivered, so a client may resume from it.
                kind = KINDS.get(self.resource, self.resource)
                metadata = {"resourceVersion": str(self._store.resource_version)}
                return WatchEvent(BOOKMARK, {"kind": kind, "apiVersion": "v1", "metadata": metadata})

    def close(self) -> None:
        """Stop the watch: a waiting or later iteration ends."""
        if not self._closed:
            self._closed = True
            self._events.clear()
            self._store._forget(self)
            self._ready.set()

    def _fail(self, error: Exception) -> None:
        self._error = error

    def _offer(
        self, change: _Change, current: dict[str, Any] | None = None, previous: dict[str, Any] | None = None
    ) -> None:
        """Queue what this watcher sees of a change, if anything (cacheWatcher.convertToWatchEvent). The decoded
        versions are given for a live change of a resource kept decoded; otherwise the text is decoded here, and
        only for a selector."""
        if self._namespace is not None and change.namespace != self._namespace:
            return
        handed = current if self._shared else None
        if change.type == ADDED:
            if self._selects(change.current, current):
                self._push((ADDED, change.current, None, handed))
        elif change.type == DELETED:
            if change.previous is not None and self._selects(change.previous, previous):
                self._push((DELETED, change.current, None, handed))
        else:
            now = self._selects(change.current, current)
            before = change.previous is not None and self._selects(change.previous, previous)
            if now:
                self._push((MODIFIED if before else ADDED, change.current, None, handed))
            elif before and change.previous is not None:
                # The object left the selection: DELETED with its previous content at this change's version (a
                # copy even for a shared watch, as its resourceVersion is changed).
                self._push((DELETED, change.previous, change.rv, None))

    def _selects(self, text: str, obj: dict[str, Any] | None) -> bool:
        if self._everything:
            return True
        return _matches(obj if obj is not None else json.loads(text), self._labels, self._fields)

    def _push(self, event: tuple[str, str, int | None, dict[str, Any] | None]) -> None:
        if len(self._events) >= self._backlog_limit:
            self.close()
            return
        self._events.append(event)
        self._ready.set()


def _matches(obj: dict[str, Any], labels: LabelSelector, fields: FieldSelector) -> bool:
    return labels.matches(obj["metadata"].get("labels")) and fields.matches(obj)


def _parse_version(value: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise bad_request(f'invalid resource version "{value}"')
    return int(value)


def _encode_continue(rv: int, after: tuple[str, str]) -> str:
    """A continue token as the API server makes one: base64 of a small JSON document."""
    document = {"v": "meta.k8s.io/v1", "rv": rv, "start": list(after)}
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
        rv, (namespace, name) = document["rv"], document["start"]
        if document.get("v") != "meta.k8s.io/v1" or not isinstance(rv, int) or not isinstance(name, str):
            raise ValueError("unknown token format")
        return rv, (str(namespace), name)
    except (ValueError, TypeError, KeyError, binascii.Error) as error:
        raise bad_request(f"invalid continue token: {error}") from None
