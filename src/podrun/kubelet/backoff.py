"""Per-key exponential backoff, as client-go's `flowcontrol.Backoff` and as the kubelet uses it.

The kubelet keeps two: CrashLoopBackOff for container restarts and ImagePullBackOff for pulls.
Both start at 10s, double on every use and stop at 300s.

How the executor uses the crash-loop backoff at each container start (the kubelet's `doBackOff`, in
`kuberuntime_manager.go`)::

    previous = newest *Exited* runtime instance of the container
    if previous is None: start now                          # never ran: no backoff at all
    key = stable_key(pod, container)
    if backoff.is_in_backoff_since(key, previous.finished_at):
        event Warning BackOff backoff_event_message(...); waiting CrashLoopBackOff crash_loop_message(...)
    else:
        backoff.next(key, previous.finished_at); start now

The first crash finds no entry, so the first restart is immediate and `next` records 10s. Each later
crash must wait the recorded delay, measured from its `finished_at`, and the `next` at that restart doubles
it: restarts come immediately, then after 10s, 20s, 40s, 80s, 160s, 300s, 300s, ...
The delay resets when the exit comes more than 10 minutes after the last `next`, so a container that ran
for 10 minutes restarts immediately again.

Times are plain float seconds. The clock must be on the same timeline as the event times passed in:
for the crash-loop backoff those are the runtime's `finished_at`, Unix seconds, hence `time.time`.
podrun drives each pod from one asyncio loop, so no lock is needed (the Go type has a mutex).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from podrun.kubelet.labels import container_hash

# pkg/kubelet/kubelet.go: initialCrashLoopBackOff, MaxCrashLoopBackOff (v1beta1.MaxContainerBackOff), and the
# HasExpiredFunc the kubelet installs: `eventTime.Sub(lastUpdate) > 600*time.Second`.
CRASH_LOOP_INITIAL = 10.0
CRASH_LOOP_MAX = 300.0
CRASH_LOOP_RESET_AFTER = 600.0

# pkg/kubelet/kubelet.go: imageBackOffPeriod, and MaxImageBackOff (pkg/kubelet/images); no HasExpiredFunc,
# so client-go's default expiry of 2 x max applies.
IMAGE_PULL_INITIAL = 10.0
IMAGE_PULL_MAX = 300.0


@dataclass
class _Entry:
    backoff: float
    last_update: float


class Backoff:
    """Exponential backoff per key: `initial`, doubling on each `next`, capped at `max`.

    An entry expires, and the next `next` starts again from `initial`, when an event comes more than
    `expire_after` seconds after the entry's last update. `expire_after=None` is client-go's default,
    2 x `max`; the kubelet's crash-loop backoff sets 600s (`HasExpiredFunc`).
    """

    def __init__(
        self,
        initial: float = CRASH_LOOP_INITIAL,
        max: float = CRASH_LOOP_MAX,
        expire_after: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._initial = initial
        self._max = max
        self._expire_after = 2 * max if expire_after is None else expire_after
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def get(self, key: str) -> float:
        """The current delay for `key` in seconds; 0 when there is none."""
        entry = self._entries.get(key)
        return entry.backoff if entry is not None else 0.0

    def next(self, key: str, event_time: float) -> None:
        """Move `key` to its next delay: `initial` if new or expired at `event_time`, else double, capped."""
        now = self._clock()
        entry = self._entries.get(key)
        if entry is None or self._has_expired(event_time, entry.last_update):
            self._entries[key] = _Entry(backoff=self._initial, last_update=now)
        else:
            entry.backoff = min(entry.backoff * 2, self._max)
            entry.last_update = now

    def reset(self, key: str) -> None:
        """Forget `key`."""
        self._entries.pop(key, None)

    def is_in_backoff_since(self, key: str, event_time: float) -> bool:
        """Whether less than the current delay has passed between `event_time` and now.

        False when there is no entry, or when it has expired at `event_time`. Container restarts use this,
        with the last exit's `finished_at`.
        """
        entry = self._entries.get(key)
        if entry is None or self._has_expired(event_time, entry.last_update):
            return False
        return self._clock() - event_time < entry.backoff

    def is_in_backoff_since_update(self, key: str, event_time: float) -> bool:
        """Whether less than the current delay separates the last `next` from `event_time`.

        Image pulls use this, with the time of the pull attempt.
        """
        entry = self._entries.get(key)
        if entry is None or self._has_expired(event_time, entry.last_update):
            return False
        return event_time - entry.last_update < entry.backoff

    def gc(self) -> None:
        """Drop entries that have expired by now. The kubelet calls this from housekeeping."""
        now = self._clock()
        expired = [key for key, entry in self._entries.items() if self._has_expired(now, entry.last_update)]
        for key in expired:
            del self._entries[key]

    def _has_expired(self, event_time: float, last_update: float) -> bool:
        return event_time - last_update > self._expire_after


def crash_loop_backoff(clock: Callable[[], float] = time.time) -> Backoff:
    """The kubelet's container restart backoff: 10s doubling to 300s, reset after 600s."""
    return Backoff(CRASH_LOOP_INITIAL, CRASH_LOOP_MAX, CRASH_LOOP_RESET_AFTER, clock)


def image_pull_backoff(clock: Callable[[], float] = time.time) -> Backoff:
    """The kubelet's image pull backoff: 10s doubling to 300s, expiring after 2 x 300s."""
    return Backoff(IMAGE_PULL_INITIAL, IMAGE_PULL_MAX, None, clock)


def stable_key(pod: dict[str, Any], container: dict[str, Any]) -> str:
    """The crash-loop backoff key of a container (`GetStableKey`): `<pod>_<ns>_<uid>_<container>_<hash>`.

    The spec hash is part of it, so a new image starts the backoff afresh.
    """
    meta = pod.get("metadata", {})
    return "_".join(
        (
            meta.get("name", ""),
            meta.get("namespace", ""),
            meta.get("uid", ""),
            container["name"],
            container_hash(container),
        )
    )


def format_pod(pod: dict[str, Any]) -> str:
    """A pod as the kubelet's messages print it (`format.Pod`): `name_namespace(uid)`."""
    meta = pod.get("metadata", {})
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def crash_loop_message(container_name: str, pod: dict[str, Any], delay: float) -> str:
    """The CrashLoopBackOff waiting message: `back-off 40s restarting failed container=app pod=web_ns(uid)`.

    `delay` is `Backoff.get(key)` at the time of the refused start.
    """
    return (
        f"back-off {format_duration(delay)} restarting failed container={container_name} "
        f"pod={format_pod(pod)}"
    )


def backoff_event_message(container_name: str, pod: dict[str, Any]) -> str:
    """The message of the Warning `BackOff` event for a refused restart (`doBackOff`)."""
    return f"Back-off restarting failed container {container_name} in pod {format_pod(pod)}"


def format_duration(seconds: float) -> str:
    """A duration printed as Go's `time.Duration.String()` prints it: `10s`, `1m20s`, `5m0s`, `1.5ms`.

    The value is first rounded to whole nanoseconds, Go's resolution.
    """
    nanos = round(seconds * 1e9)
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        # Under a second Go switches to the largest unit that keeps an integer part: ns, µs or ms.
        if nanos < 1_000:
            unit, digits = "ns", 0
        elif nanos < 1_000_000:
            unit, digits = "µs", 3
        else:
            unit, digits = "ms", 6
        whole, fraction = divmod(nanos, 10**digits)
        return f"{sign}{whole}{_fraction(fraction, digits)}{unit}"

    whole_seconds, fraction = divmod(nanos, 1_000_000_000)
    text = f"{whole_seconds % 60}{_fraction(fraction, 9)}s"
    minutes = whole_seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def _fraction(value: int, digits: int) -> str:
    """Go's `fmtFrac`: `.` and the fractional digits without trailing zeros, or "" when they are all zero."""
    text = f"{value:0{digits}d}".rstrip("0")
    return f".{text}" if text else ""
