"""The backoff, as client-go's flowcontrol.Backoff with the kubelet's crash-loop and image-pull settings."""

from __future__ import annotations

import pytest

from podrun.kubelet.backoff import (
    Backoff,
    backoff_event_message,
    crash_loop_backoff,
    crash_loop_message,
    format_duration,
    format_pod,
    image_pull_backoff,
    stable_key,
)
from podrun.kubelet.labels import container_hash

POD = {"metadata": {"name": "web", "namespace": "default", "uid": "6f1c-uid"}, "spec": {}}
APP = {"name": "app", "image": "busybox:1.36"}
KEY = "web_default_6f1c-uid_app_hash"


class FakeClock:
    """A clock the test moves by hand, in Unix seconds."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def restart_delays(backoff: Backoff, clock: FakeClock, crashes: int, ran_for: float = 0.0) -> list[float]:
    """Crash a container `crashes` times, restarting it as the executor does (doBackOff), one second a poll.

    Returns how long each restart waited after the exit before which it happened. The container runs
    `ran_for` seconds each time before it exits.
    """
    delays = []
    for _ in range(crashes):
        clock.now += ran_for
        finished_at = clock.now
        while backoff.is_in_backoff_since(KEY, finished_at):
            clock.now += 1.0  # a refused start: CrashLoopBackOff, tried again on a later sync
        backoff.next(KEY, finished_at)
        delays.append(clock.now - finished_at)
    return delays


def test_crash_loop_schedule_is_immediate_then_10s_doubling_to_5m() -> None:
    clock = FakeClock()
    backoff = crash_loop_backoff(clock)
    assert restart_delays(backoff, clock, crashes=9) == [0, 10, 20, 40, 80, 160, 300, 300, 300]
    assert backoff.get(KEY) == 300


def test_the_delay_is_measured_from_the_exit_not_from_the_last_start() -> None:
    clock = FakeClock()
    backoff = crash_loop_backoff(clock)
    # Each run lasts 15s. Counted from the last start (the last `next`), every delay up to 10s would be
    # used up by the time the container exits; counted from the exit, each restart waits it in full.
    assert restart_delays(backoff, clock, crashes=4, ran_for=15.0) == [0, 10, 20, 40]


def test_crash_loop_backoff_resets_after_a_container_ran_10_minutes() -> None:
    clock = FakeClock()
    backoff = crash_loop_backoff(clock)
    restart_delays(backoff, clock, crashes=5)
    assert backoff.get(KEY) == 160
    # An exit more than 600s after the last backoff update: restart at once and start again at 10s.
    assert restart_delays(backoff, clock, crashes=3, ran_for=601.0) == [0, 0, 0]
    assert backoff.get(KEY) == 10
    assert restart_delays(backoff, clock, crashes=2) == [10, 20]


def test_exactly_10_minutes_is_not_enough_to_reset() -> None:
    clock = FakeClock()
    backoff = crash_loop_backoff(clock)
    backoff.next(KEY, clock.now)
    backoff.next(KEY, clock.now)
    assert backoff.get(KEY) == 20
    clock.now += 600.0
    assert backoff.is_in_backoff_since(KEY, clock.now)
    backoff.next(KEY, clock.now)
    assert backoff.get(KEY) == 40


def test_get_is_zero_without_an_entry_and_reset_forgets() -> None:
    clock = FakeClock()
    backoff = crash_loop_backoff(clock)
    assert backoff.get(KEY) == 0
    assert not backoff.is_in_backoff_since(KEY, clock.now)
    backoff.next(KEY, clock.now)
    assert backoff.get(KEY) == 10
    backoff.reset(KEY)
    assert backoff.get(KEY) == 0
    backoff.reset(KEY)  # forgetting an unknown key is fine


def test_gc_drops_crash_loop_entries_600s_after_their_last_update() -> None:
    clock = FakeClock()
    backoff = crash_loop_backoff(clock)
    backoff.next("old", clock.now)
    clock.now += 300.0
    backoff.next("recent", clock.now)
    clock.now += 300.0
    backoff.gc()
    assert backoff.get("old") == 10  # exactly 600s: kept
    clock.now += 1.0
    backoff.gc()
    assert backoff.get("old") == 0
    assert backoff.get("recent") == 10


def test_image_pull_backoff_expires_after_twice_its_maximum() -> None:
    # The kubelet sets no HasExpiredFunc on its image backoff: client-go's default, 2 x 300s, applies.
    clock = FakeClock()
    backoff = image_pull_backoff(clock)
    key = "6f1c-uid_docker.io/library/busybox:1.36"
    backoff.next(key, clock.now)
    assert backoff.get(key) == 10
    clock.now += 601.0
    backoff.gc()
    assert backoff.get(key) == 0


def test_default_expiry_is_twice_the_maximum() -> None:
    clock = FakeClock()
    backoff = Backoff(initial=1, max=60, clock=clock)
    backoff.next(KEY, clock.now)
    clock.now += 120.0
    backoff.gc()
    assert backoff.get(KEY) == 1
    clock.now += 0.5
    backoff.gc()
    assert backoff.get(KEY) == 0


def test_is_in_backoff_since_update_measures_from_the_last_update() -> None:
    # Image pulls: the attempt time against the time of the last failed pull (its `next`).
    clock = FakeClock()
    backoff = image_pull_backoff(clock)
    last_pull = clock.now
    backoff.next(KEY, last_pull)
    assert backoff.is_in_backoff_since_update(KEY, last_pull + 9.9)
    assert not backoff.is_in_backoff_since_update(KEY, last_pull + 10.0)
    clock.now += 10.0
    backoff.next(KEY, clock.now)
    assert backoff.is_in_backoff_since_update(KEY, clock.now + 19.0)
    assert not backoff.is_in_backoff_since_update(KEY, clock.now + 20.0)
    assert not backoff.is_in_backoff_since_update("unknown", clock.now)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (10, "10s"),
        (20, "20s"),
        (40, "40s"),
        (80, "1m20s"),
        (160, "2m40s"),
        (300, "5m0s"),
        (3600, "1h0m0s"),
        (90061.5, "25h1m1.5s"),
        (1.5, "1.5s"),
        (0.1, "100ms"),
        (0.0015, "1.5ms"),
        (0.000001, "1µs"),
        (0.0000001, "100ns"),
        (0.000000001, "1ns"),
        (-10, "-10s"),
    ],
)
def test_format_duration_prints_like_go(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_stable_key_names_pod_container_and_spec_hash() -> None:
    assert stable_key(POD, APP) == f"web_default_6f1c-uid_app_{container_hash(APP)}"
    # A new image is a new key: the backoff starts afresh.
    assert stable_key(POD, {**APP, "image": "busybox:1.37"}) != stable_key(POD, APP)


def test_kubelet_messages() -> None:
    assert format_pod(POD) == "web_default(6f1c-uid)"
    assert crash_loop_message("app", POD, 40.0) == (
        "back-off 40s restarting failed container=app pod=web_default(6f1c-uid)"
    )
    assert crash_loop_message("app", POD, 300.0) == (
        "back-off 5m0s restarting failed container=app pod=web_default(6f1c-uid)"
    )
    assert backoff_event_message("app", POD) == (
        "Back-off restarting failed container app in pod web_default(6f1c-uid)"
    )
