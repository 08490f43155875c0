"""What `podrun serve` does now and then so that its memory and files stay bounded however long it runs.

Every sweep deletes the Events whose TTL has passed (kube-apiserver's `--event-ttl`, 1 h: etcd drops an Event
that long after its last write through a lease; here the newest of the Event's own timestamps stands for that
write, so the TTL holds across restarts too), forgets the service-account token records of pods that are gone,
drops watch history older than the window a watch may resume in, compacts the SQLite files, and hands the C
allocator's free pages back to the system. Between sweeps it looks at the pod count, and compacts and hands pages
back also when a burst of pods has ended (`burst_end`), so that what they left is not kept for up to a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from podrun.api.burst_end import CHECK_INTERVAL, BurstEnd
from podrun.api.errors import ApiError
from podrun.api.store import Store
from podrun.json_types import JSON
from podrun.services.tokens import forget_orphaned_tokens
from podrun.timestamps import parse_unix

log = logging.getLogger(__name__)

EVENT_TTL = 3600.0
# Sweeps run this often, or four times per TTL when that is shorter (an Event outlives its TTL by at most this).
MAX_INTERVAL = 60.0
MIN_INTERVAL = 1.0
# The Event fields that record when it was last written, newest wins (core/v1 and events.k8s.io/v1 names).
_EVENT_TIMES = ("lastTimestamp", "eventTime", "firstTimestamp")


@dataclass(frozen=True)
class Swept:
    """What one sweep removed."""

    events: int
    tokens: int
    history: int


def sweep_interval(event_ttl: float) -> float:
    """Seconds between sweeps for this TTL."""
    return max(MIN_INTERVAL, min(MAX_INTERVAL, event_ttl / 4))


def last_written(event: JSON) -> float | None:
    """When the Event was last written (Unix seconds), from its timestamps; None when it carries none."""
    candidates = [event.get(field) for field in _EVENT_TIMES]
    candidates.append((event.get("series") or {}).get("lastObservedTime"))
    candidates.append((event.get("metadata") or {}).get("creationTimestamp"))
    times = []
    for text in candidates:
        if isinstance(text, str) and text:
            with contextlib.suppress(ValueError):
                times.append(parse_unix(text))
    return max(times, default=None)


def release_free_heap() -> bool:
    """Give the C allocator's free pages back to the system (glibc's `malloc_trim`); False where there is none.

    Objects larger than pymalloc's 512 bytes (every encoded object) come from malloc, and a churn of them leaves
    free pages inside the heap that glibc keeps: without this RSS creeps up by several KiB per pod churned while
    the Python heap stays flat (measured with tracemalloc over `bench/soak.py`)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


class Housekeeping:
    """Periodic sweeps over a store; `sweep()` runs one now, `start()`/`stop()` the periodic task."""

    def __init__(self, store: Store, *, event_ttl: float = EVENT_TTL, clock: Callable[[], float] = time.time) -> None:
        """`clock` (Unix seconds) is what Event timestamps are compared with; tests pass their own."""
        self.store = store
        self.event_ttl = event_ttl
        self._clock = clock
        self._burst_end = BurstEnd()
        self._tasks: list[asyncio.Task[None]] = []

    def sweep(self) -> Swept:
        """Delete expired Events and orphaned token records, expire watch history, compact the files, release the
        allocator's free pages."""
        events = self.delete_expired_events()
        tokens = forget_orphaned_tokens(self.store)
        history = self.store.expire_history()
        self.store.compact()
        release_free_heap()
        return Swept(events, tokens, history)

    def look_at_pods(self) -> bool:
        """Compact and hand free pages back when the pod count shows a burst of pods has ended; whether it did."""
        if not self._burst_end.observe(self.store.count("pods")):
            return False
        self.store.compact()
        release_free_heap()
        return True

    def delete_expired_events(self) -> int:
        """Delete every Event last written at least `event_ttl` ago; how many."""
        deadline = self._clock() - self.event_ttl
        expired = [
            event["metadata"]
            for event in self.store.list("events", None)[0]
            if (written := last_written(event)) is not None and written <= deadline
        ]
        for meta in expired:
            with contextlib.suppress(ApiError):
                self.store.delete("events", meta.get("namespace"), meta["name"])
        return len(expired)

    def start(self) -> None:
        """Sweep now and then every `sweep_interval(event_ttl)` seconds, and look at the pod count every
        `burst_end.CHECK_INTERVAL`, until `stop()`."""
        self._tasks = [asyncio.ensure_future(self._loop()), asyncio.ensure_future(self._pods_loop())]

    async def stop(self) -> None:
        """End the periodic sweeps and the looks at the pod count."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        interval = sweep_interval(self.event_ttl)
        while True:
            try:
                swept = self.sweep()
            except Exception:
                # A failed sweep (a full disk, say) must not end the server; the next one tries again.
                log.exception("housekeeping sweep failed")
            else:
                if swept.events or swept.tokens:
                    log.debug("housekeeping: %s", swept)
            await asyncio.sleep(interval)

    async def _pods_loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            try:
                self.look_at_pods()
            except Exception:
                log.exception("housekeeping after a burst of pods failed")
