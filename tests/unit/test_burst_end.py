"""When serve hands freed memory back after work: once a burst of pods has ended and the count stayed down for a
look, never per pod or request. Counts are fed in directly: nothing here waits."""

from __future__ import annotations

from podrun.api.burst_end import BurstEnd


def looks(trigger: BurstEnd, counts: list[int]) -> list[bool]:
    return [trigger.observe(count) for count in counts]


def test_a_burst_ends_at_the_second_look_at_the_low_count() -> None:
    assert looks(BurstEnd(), [0, 100, 0, 0]) == [False, False, False, True]


def test_an_ended_burst_is_reported_once() -> None:
    assert looks(BurstEnd(), [100, 0, 0, 0, 0]) == [False, False, True, False, False]


def test_a_count_still_falling_is_not_the_end() -> None:
    assert looks(BurstEnd(), [100, 60, 20, 5, 5]) == [False, False, False, False, True]


def test_a_drop_by_fewer_than_a_burst_of_pods_is_no_burst() -> None:
    assert looks(BurstEnd(burst=10), [9, 0, 0]) == [False, False, False]


def test_a_count_above_a_quarter_of_the_peak_is_no_end() -> None:
    assert looks(BurstEnd(), [100, 30, 30, 30]) == [False, False, False, False]


def test_the_next_burst_is_measured_from_the_low_after_the_last() -> None:
    assert looks(BurstEnd(), [100, 0, 0, 12, 12, 0, 0, 40, 0, 0]) == [
        False, False, True, False, False, False, True, False, False, True,
    ]  # fmt: skip


def test_steady_pods_never_trigger() -> None:
    assert not any(looks(BurstEnd(), [50] * 10))
