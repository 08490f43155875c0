"""Kubernetes Events as the kubelet records them: client-go's `EventCorrelator`, and the `Scheduled` event.

`EventRecorder.record` does what the kubelet's event recorder and broadcaster do between `Eventf` and the
API server (`staging/src/k8s.io/client-go/tools/record/event.go` and `events_cache.go`, see the
kubelet-semantics spec, §7.2), in the same order:

1. `makeEvent`: a core/v1 Event named `<object>.<UnixNano in hex>`, `count` 1, first and last timestamps
   now, `source` and `reportingComponent`/`reportingInstance` from the recorder's component and node.
2. `EventAggregator.EventAggregate`: events that differ only by message are "similar". Once
   `AGGREGATE_MAX_EVENTS` distinct messages were seen for one (source, object, type, reason) within
   `AGGREGATE_INTERVAL_SECONDS` of each other, each further one is replaced by a single aggregate event
   whose message starts `(combined from similar events): `.
3. `eventLogger.eventObserve`: an event whose key (source, involved object including `fieldPath`, type,
   reason, message) was seen before becomes an update of the earlier one: same name and
   `firstTimestamp`, `count + 1`, `lastTimestamp` now. client-go PATCHes it; otherwise it creates it.
4. `EventSourceObjectSpamFilter`: a token bucket per (source, object), `SPAM_BURST` tokens refilled at
   `SPAM_QPS`. An event without a token is dropped, after step 3 counted it, as in client-go.

The recorder returns the event and what to do with it (`"create"` or `"update"`); storing it is the
caller's job, so it does no I/O and tests drive it with a fake clock. Where client-go leaves a choice to
chance (`sets.String.PopAny` when an aggregate record is full), this module picks deterministically.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from podrun.json_types import JSON
from podrun.timestamps import format_micro_time, format_time

EventAction = Literal["create", "update"]

# events_cache.go: maxLruCacheEntries, defaultAggregateMaxEvents, defaultAggregateIntervalInSeconds,
# defaultSpamBurst, defaultSpamQPS and EventAggregatorByReasonMessageFunc's prefix.
MAX_LRU_CACHE_ENTRIES = 4096
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL_SECONDS = 600.0
SPAM_BURST = 25
SPAM_QPS = 1.0 / 300.0
AGGREGATE_MESSAGE_PREFIX = "(combined from similar events): "

NORMAL = "Normal"
WARNING = "Warning"
KUBELET = "kubelet"
DEFAULT_SCHEDULER = "default-scheduler"

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class _LRU(Generic[_K, _V]):
    """groupcache's `lru.Cache`: a get or an add makes an entry the newest; the oldest goes past `size`."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[_K, _V] = OrderedDict()

    def get(self, key: _K) -> _V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def add(self, key: _K, value: _V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def drop_where(self, dead: Callable[[_K], bool]) -> None:
        for key in [key for key in self._entries if dead(key)]:
            del self._entries[key]


@dataclass
class _AggregateRecord:
    # An insertion-ordered set of the distinct messages seen (aggregateRecord.localKeys).
    messages: dict[str, None] = field(default_factory=dict)
    last_seen: float = 0.0


@dataclass(frozen=True)
class _EventLog:
    count: int
    first_timestamp: str
    name: str


@dataclass
class _TokenBucket:
    """golang.org/x/time/rate's Limiter as `flowcontrol.NewTokenBucketRateLimiter` builds it: starts full."""

    tokens: float
    last: float

    def try_accept(self, now: float, burst: int, qps: float) -> bool:
        tokens = min(float(burst), self.tokens + max(0.0, now - self.last) * qps)
        if tokens < 1.0:
            # rate.Limiter keeps its state on a refusal; the refill is a function of the time anyway.
            return False
        self.tokens, self.last = tokens - 1.0, now
        return True


class EventRecorder:
    """The kubelet's event recorder for one node, with client-go's correlation (module docstring).

    `clock` returns Unix seconds. Names are `<object>.<UnixNano in hex>` as in client-go; two events in
    the same nanosecond would collide there, so here a name's nanoseconds are bumped past the last one
    issued, which keeps every name unique with a coarse or fake clock.
    """

    def __init__(self, node_name: str, clock: Callable[[], float] = time.time) -> None:
        self._node = node_name
        self._clock = clock
        self._last_nanos = 0
        self._aggregates: _LRU[tuple[str, ...], _AggregateRecord] = _LRU(MAX_LRU_CACHE_ENTRIES)
        self._observed: _LRU[tuple[str, ...], _EventLog] = _LRU(MAX_LRU_CACHE_ENTRIES)
        self._spam: _LRU[tuple[str, ...], _TokenBucket] = _LRU(MAX_LRU_CACHE_ENTRIES)

    def record(
        self,
        pod: JSON,
        type: str,
        reason: str,
        message: str,
        field_path: str = "",
        *,
        source_component: str = KUBELET,
    ) -> tuple[EventAction, JSON] | None:
        """Record an event about `pod` (or its container at `field_path`, e.g. `spec.containers{app}`).

        Returns `("create", event)` for a new Event object, `("update", event)` when it is a repeat of
        one returned earlier (same `metadata.name`; the caller replaces or PATCHes the stored one), or
        None when the spam filter drops it.
        """
        now = self._clock()
        event = self._make_event(pod, type, reason, message, field_path, source_component, now)
        event, key = self._aggregate(event, now)
        action, event = self._observe(event, key)
        if not self._spam_accepts(event, now):
            return None
        return action, event

    def forget(self, uid: str) -> None:
        """Drop what the caches hold about the object with this UID (a deleted pod). Every cache key holds the
        object's UID, so nothing recorded later can match these entries; client-go leaves them to age out of its
        4,096-entry LRUs, which keeps ~10 KiB per pod for the last several hundred pods."""

        def about_it(key: tuple[str, ...]) -> bool:
            return uid in key

        self._aggregates.drop_where(about_it)
        self._observed.drop_where(about_it)
        self._spam.drop_where(about_it)

    def _make_event(
        self,
        pod: JSON,
        type: str,
        reason: str,
        message: str,
        field_path: str,
        component: str,
        now: float,
    ) -> JSON:
        # recorder.makeEvent, then generateEvent sets Source, ReportingController and ReportingInstance.
        reference = pod_reference(pod, field_path)
        stamp = format_time(now)
        return {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {"name": self._name(reference["name"], now), "namespace": _namespace(reference)},
            "involvedObject": reference,
            "reason": reason,
            "message": message,
            "source": {"component": component, "host": self._node},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": type,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": self._node,
        }

    def _name(self, object_name: str, now: float) -> str:
        nanos = max(int(now * 1_000_000_000), self._last_nanos + 1)
        self._last_nanos = nanos
        return f"{object_name}.{nanos:x}"

    def _aggregate(self, event: JSON, now: float) -> tuple[JSON, tuple[str, ...]]:
        """EventAggregator.EventAggregate (EventAggregatorByReasonFunc): the event and its cache key."""
        aggregate_key = ("aggregate", *_aggregate_fields(event))
        record = self._aggregates.get(aggregate_key)
        if record is None or now - record.last_seen > AGGREGATE_INTERVAL_SECONDS:
            record = _AggregateRecord()
        record.messages[event["message"]] = None
        record.last_seen = now
        self._aggregates.add(aggregate_key, record)
        if len(record.messages) < AGGREGATE_MAX_EVENTS:
            return event, ("event", *_event_key(event))
        # client-go pops an arbitrary message (PopAny) to stay at the maximum. Popping the one just added
        # keeps the nine earlier messages as they were, so repeats of those still count on their own events.
        record.messages.popitem()
        stamp = format_time(now)
        # The aggregate copy carries only these fields: no reportingComponent/Instance, as in client-go.
        combined = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {
                "name": self._name(event["involvedObject"]["name"], now),
                "namespace": event["metadata"]["namespace"],
            },
            "involvedObject": event["involvedObject"],
            "reason": event["reason"],
            "message": AGGREGATE_MESSAGE_PREFIX + event["message"],
            "source": event["source"],
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": event["type"],
            "eventTime": None,
            "reportingComponent": "",
            "reportingInstance": "",
        }
        return combined, aggregate_key

    def _observe(self, event: JSON, key: tuple[str, ...]) -> tuple[EventAction, JSON]:
        """eventLogger.eventObserve: a repeat takes the first one's name and firstTimestamp, count + 1."""
        event = {**event, "metadata": dict(event["metadata"])}
        last = self._observed.get(key)
        action: EventAction = "create"
        if last is not None:
            action = "update"
            event["metadata"]["name"] = last.name
            event["firstTimestamp"] = last.first_timestamp
            event["count"] = last.count + 1
        self._observed.add(key, _EventLog(event["count"], event["firstTimestamp"], event["metadata"]["name"]))
        return action, event

    def _spam_accepts(self, event: JSON, now: float) -> bool:
        """EventSourceObjectSpamFilter.Filter, keyed by getSpamKey (source and object, not fieldPath)."""
        source, obj = event["source"], event["involvedObject"]
        key = (
            source.get("component", ""),
            source.get("host", ""),
            obj.get("kind", ""),
            obj.get("namespace", ""),
            obj.get("name", ""),
            obj.get("uid", ""),
            obj.get("apiVersion", ""),
        )
        bucket = self._spam.get(key)
        if bucket is None:
            bucket = _TokenBucket(tokens=float(SPAM_BURST), last=now)
        accepted = bucket.try_accept(now, SPAM_BURST, SPAM_QPS)
        self._spam.add(key, bucket)
        return accepted


def pod_reference(pod: JSON, field_path: str = "") -> JSON:
    """The `involvedObject` for a pod or a container of it (`ref.GetReference`, `GenerateContainerRef`)."""
    meta = pod.get("metadata") or {}
    reference: JSON = {
        "kind": "Pod",
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "apiVersion": "v1",
    }
    if meta.get("resourceVersion"):
        reference["resourceVersion"] = meta["resourceVersion"]
    if field_path:
        reference["fieldPath"] = field_path
    return reference


def scheduled_event(
    pod: JSON, node_name: str, *, clock: Callable[[], float] = time.time
) -> tuple[EventAction, JSON]:
    """`("create", event)` for the `Scheduled` event the scheduler records when it binds `pod` to `node_name`.

    The scheduler writes it through the events.k8s.io/v1 API, so read back as a core/v1 Event it has
    `eventTime` (microseconds), `action: Binding`, `reportingComponent: default-scheduler` and an empty
    `source`, and no count or first/last timestamps; `kubectl describe` shows it as
    "From default-scheduler" through `reportingComponent`. It is a one-off and skips the correlator.
    """
    now = clock()
    reference = pod_reference(pod)
    name, namespace = reference["name"], _namespace(reference)
    return "create", {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": f"{name}.{int(now * 1_000_000_000):x}", "namespace": namespace},
        "involvedObject": reference,
        "reason": "Scheduled",
        "message": f"Successfully assigned {namespace}/{name} to {node_name}",
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "type": NORMAL,
        "eventTime": format_micro_time(now),
        "action": "Binding",
        # events/v1 NewRecorder: reportingInstance is the controller name, "-", and the host name.
        "reportingComponent": DEFAULT_SCHEDULER,
        "reportingInstance": f"{DEFAULT_SCHEDULER}-{node_name}",
    }


def _namespace(reference: JSON) -> str:
    # makeEvent: an object without a namespace has its events in "default".
    return str(reference.get("namespace") or "default")


def _event_key(event: JSON) -> tuple[str, ...]:
    """getEventKey: source, the whole involved object (fieldPath included), type, reason and message."""
    source, obj = event["source"], event["involvedObject"]
    return (
        source.get("component", ""),
        source.get("host", ""),
        obj.get("kind", ""),
        obj.get("namespace", ""),
        obj.get("name", ""),
        obj.get("fieldPath", ""),
        obj.get("uid", ""),
        obj.get("apiVersion", ""),
        event["type"],
        event["reason"],
        event["message"],
    )


def _aggregate_fields(event: JSON) -> tuple[str, ...]:
    """EventAggregatorByReasonFunc's aggregate key: everything but the message, and without fieldPath."""
    source, obj = event["source"], event["involvedObject"]
    return (
        source.get("component", ""),
        source.get("host", ""),
        obj.get("kind", ""),
        obj.get("namespace", ""),
        obj.get("name", ""),
        obj.get("uid", ""),
        obj.get("apiVersion", ""),
        event["type"],
        event["reason"],
        event.get("reportingComponent", ""),
        event.get("reportingInstance", ""),
    )
