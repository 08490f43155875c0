"""The event recorder: client-go's EventCorrelator (dedup, aggregation, spam filter), the Scheduled event."""

from __future__ import annotations

from typing import Any

from podrun.kubelet.events import (
    AGGREGATE_MESSAGE_PREFIX,
    SPAM_BURST,
    EventRecorder,
    pod_reference,
    scheduled_event,
)

POD = {"metadata": {"name": "web", "namespace": "default", "uid": "6f1c-uid", "resourceVersion": "42"}}
START = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class FakeClock:
    """A clock the test moves by hand, in Unix seconds."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def recorder() -> tuple[EventRecorder, FakeClock]:
    clock = FakeClock()
    return EventRecorder("node-1", clock=clock), clock


def kept(outcome: tuple[str, dict[str, Any]] | None) -> tuple[str, dict[str, Any]]:
    """An outcome the spam filter let through."""
    assert outcome is not None
    return outcome


def test_a_new_event_is_a_core_v1_event_named_after_the_pod_and_the_time() -> None:
    events, _ = recorder()
    action, event = kept(events.record(POD, "Normal", "Pulled", "Container image ok", "spec.containers{app}"))
    assert action == "create"
    assert event == {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": f"web.{int(START * 1e9):x}", "namespace": "default"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "default",
            "name": "web",
            "uid": "6f1c-uid",
            "apiVersion": "v1",
            "resourceVersion": "42",
            "fieldPath": "spec.containers{app}",
        },
        "reason": "Pulled",
        "message": "Container image ok",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2023-11-14T22:13:20Z",
        "lastTimestamp": "2023-11-14T22:13:20Z",
        "count": 1,
        "type": "Normal",
        "eventTime": None,
        "reportingComponent": "kubelet",
        "reportingInstance": "node-1",
    }
    assert len(event["metadata"]["name"].split(".")[1]) == 16


def test_an_identical_event_updates_the_first_one() -> None:
    events, clock = recorder()
    args = (POD, "Warning", "BackOff", "Back-off restarting", "spec.containers{app}")
    _, first = kept(events.record(*args))
    clock.now += 30
    action, again = kept(events.record(*args))
    assert action == "update"
    assert again["metadata"]["name"] == first["metadata"]["name"]
    assert again["count"] == 2
    assert again["firstTimestamp"] == "2023-11-14T22:13:20Z"
    assert again["lastTimestamp"] == "2023-11-14T22:13:50Z"
    clock.now += 30
    assert (kept(events.record(POD, "Warning", "BackOff", "Back-off restarting", "spec.containers{app}")))[1][
        "count"
    ] == 3


def test_the_field_path_type_and_message_are_part_of_the_identity() -> None:
    events, _ = recorder()
    actions = [
        kept(events.record(POD, kind, "Started", message, f"spec.containers{{{name}}}"))[0]
        for kind, message, name in [
            ("Normal", "Started container", "a"),
            ("Normal", "Started container", "b"),
            ("Warning", "Started container", "b"),
            ("Normal", "Started container!", "b"),
            ("Normal", "Started container", "a"),
        ]
    ]
    assert actions == ["create", "create", "create", "create", "update"]


def test_names_stay_unique_when_the_clock_does_not_move() -> None:
    events, _ = recorder()
    names = {
        (kept(events.record(POD, "Normal", "Created", f"Created container: c{i}")))[1]["metadata"]["name"]
        for i in range(5)
    }
    assert len(names) == 5


def test_the_tenth_similar_event_within_ten_minutes_is_aggregated() -> None:
    events, clock = recorder()
    outcomes = []
    for i in range(1, 10):
        outcomes.append(kept(events.record(POD, "Warning", "Unhealthy", f"Readiness probe failed: {i}")))
        clock.now += 10
    assert [action for action, _ in outcomes] == ["create"] * 9
    assert [event["message"][-1] for _, event in outcomes] == [str(i) for i in range(1, 10)]
    action, combined = kept(events.record(POD, "Warning", "Unhealthy", "Readiness probe failed: 10"))
    assert action == "create"
    assert combined["message"] == AGGREGATE_MESSAGE_PREFIX + "Readiness probe failed: 10"
    # client-go's aggregate copy carries no reporting fields.
    assert combined["reportingComponent"] == ""
    assert combined["count"] == 1
    clock.now += 10
    action, again = kept(events.record(POD, "Warning", "Unhealthy", "Readiness probe failed: 11"))
    assert action == "update"
    assert again["metadata"]["name"] == combined["metadata"]["name"]
    assert again["message"] == AGGREGATE_MESSAGE_PREFIX + "Readiness probe failed: 11"
    assert again["count"] == 2
    # A repeat of one of the first nine messages still counts on its own event.
    action, repeat = kept(events.record(POD, "Warning", "Unhealthy", "Readiness probe failed: 3"))
    assert (action, repeat["count"]) == ("update", 2)
    assert repeat["metadata"]["name"] == outcomes[2][1]["metadata"]["name"]


def test_similar_events_spread_over_more_than_ten_minutes_are_not_aggregated() -> None:
    events, clock = recorder()
    for i in range(1, 10):
        events.record(POD, "Warning", "Unhealthy", f"Liveness probe failed: {i}")
        clock.now += 10
    clock.now += 601
    action, event = kept(events.record(POD, "Warning", "Unhealthy", "Liveness probe failed: 10"))
    assert action == "create"
    assert event["message"] == "Liveness probe failed: 10"


def test_similar_events_aggregate_across_containers_of_one_pod() -> None:
    # The aggregation key leaves out fieldPath: ten Pulled messages for ten containers are "similar".
    events, _ = recorder()
    for i in range(9):
        events.record(POD, "Normal", "Pulled", f"image {i} present", f"spec.containers{{c{i}}}")
    _, event = kept(events.record(POD, "Normal", "Pulled", "image 9 present", "spec.containers{c9}"))
    assert event["message"].startswith(AGGREGATE_MESSAGE_PREFIX)


def test_the_spam_filter_allows_a_burst_of_25_then_one_event_per_5_minutes() -> None:
    events, clock = recorder()
    accepted = [events.record(POD, "Warning", "BackOff", "Back-off") for _ in range(SPAM_BURST)]
    assert all(outcome is not None for outcome in accepted)
    assert events.record(POD, "Warning", "BackOff", "Back-off") is None
    # Other pods have their own bucket.
    other = {"metadata": {"name": "db", "namespace": "default", "uid": "u2"}}
    assert events.record(other, "Warning", "BackOff", "Back-off") is not None
    clock.now += 299
    assert events.record(POD, "Warning", "BackOff", "Back-off") is None
    clock.now += 1
    action, event = kept(events.record(POD, "Warning", "BackOff", "Back-off"))
    # The filtered repeats were still counted by the correlator, as in client-go.
    assert (action, event["count"]) == ("update", SPAM_BURST + 3)
    assert events.record(POD, "Warning", "BackOff", "Back-off") is None


def test_the_spam_filter_keys_on_the_pod_not_the_container() -> None:
    events, _ = recorder()
    for i in range(SPAM_BURST):
        assert events.record(POD, "Normal", "Started", "Started", f"spec.containers{{c{i}}}") is not None
    assert events.record(POD, "Normal", "Started", "Started", "spec.containers{late}") is None


def test_events_of_another_source_component() -> None:
    events, _ = recorder()
    _, event = kept(events.record(POD, "Normal", "Evicted", "gone", source_component="eviction"))
    assert event["source"] == {"component": "eviction", "host": "node-1"}
    assert event["reportingComponent"] == "eviction"


def test_pod_reference_without_a_namespace_puts_the_event_in_default() -> None:
    events, _ = recorder()
    pod = {"metadata": {"name": "x", "uid": "u"}}
    _, event = kept(events.record(pod, "Normal", "Scheduled", "m"))
    assert event["metadata"]["namespace"] == "default"
    assert "resourceVersion" not in pod_reference(pod)


def test_the_scheduled_event_reads_back_like_an_events_v1_event() -> None:
    action, event = scheduled_event(POD, "node-1", clock=FakeClock(START + 0.25))
    assert action == "create"
    assert event == {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": f"web.{int((START + 0.25) * 1e9):x}", "namespace": "default"},
        "involvedObject": pod_reference(POD),
        "reason": "Scheduled",
        "message": "Successfully assigned default/web to node-1",
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "type": "Normal",
        "eventTime": "2023-11-14T22:13:20.250000Z",
        "action": "Binding",
        "reportingComponent": "default-scheduler",
        "reportingInstance": "default-scheduler-node-1",
    }


def test_forgetting_a_deleted_pod_drops_what_the_caches_held_about_it() -> None:
    events, _ = recorder()
    other = {"metadata": {**POD["metadata"], "name": "db", "uid": "77aa-uid"}}
    args = ("Normal", "Started", "Started container app", "spec.containers{app}")
    kept(events.record(POD, *args))
    kept(events.record(other, *args))

    events.forget("6f1c-uid")

    assert kept(events.record(POD, *args))[0] == "create"
    assert kept(events.record(other, *args))[0] == "update"
