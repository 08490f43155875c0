"""The pod lifecycle history: records, restart indexes, persistence and its bound."""

from __future__ import annotations

from pathlib import Path

from podrun.kubelet.lifecycle import LifecycleLog, container_of, document, load
from podrun.timestamps import parse_unix


def test_times_never_go_backwards_and_end_in_z() -> None:
    log = LifecycleLog(None)
    for _ in range(50):
        log.add("Started", "app")
    times = [parse_unix(r["time"]) for r in log.records]
    assert times == sorted(times)
    assert all(r["time"].endswith("Z") and len(r["time"].split(".")[1]) == 7 for r in log.records)


def test_each_created_begins_the_next_run_of_its_container() -> None:
    log = LifecycleLog(None)
    log.from_event("Created", "Created container: app", "spec.containers{app}")
    log.from_event("Started", "Started container app", "spec.containers{app}")
    log.exited("app", 0, 1, "Error")
    log.from_event("Created", "Created container: app", "spec.containers{app}")
    assert [(r["type"], r["run"]) for r in log.records] == [
        ("Created", 0),
        ("Started", 0),
        ("Exited", 0),
        ("Created", 1),
    ]


def test_exit_by_signal_names_the_signal() -> None:
    log = LifecycleLog(None)
    log.exited("app", 0, 137, "Error")
    assert log.records[0]["signal"] == 9


def test_events_map_to_record_types() -> None:
    log = LifecycleLog(None)
    log.from_event(
        "Pulled", 'Successfully pulled image "busybox" in 1.5s (1.5s including waiting). 1 MB', "spec.containers{a}"
    )
    log.from_event("Killing", "Container a failed liveness probe, will be restarted", "spec.containers{a}")
    log.from_event("Unhealthy", "Readiness probe failed: nope", "spec.containers{a}")
    log.from_event("Scheduled", "ignored", "")
    assert [r["type"] for r in log.records] == ["Pulled", "Killing", "Probe"]
    assert log.records[0]["durationMs"] == 1500.0
    assert log.records[1]["reason"] == "LivenessFailed"
    assert (log.records[2]["probe"], log.records[2]["result"]) == ("readiness", "failure")


def test_pod_level_events_have_no_container() -> None:
    assert container_of("") is None
    assert container_of("spec.initContainers{init-1}") == "init-1"


def test_history_is_read_back_from_the_pod_directory(tmp_path: Path) -> None:
    path = tmp_path / "lifecycle.jsonl"
    first = LifecycleLog(path)
    first.add("SandboxReady")
    first.from_event("Created", "", "spec.containers{app}")
    again = LifecycleLog(path)
    assert again.records == first.records
    again.from_event("Created", "", "spec.containers{app}")
    assert again.records[-1]["run"] == 1


def test_no_file_is_written_once_the_pod_directory_is_gone(tmp_path: Path) -> None:
    log = LifecycleLog(tmp_path / "gone" / "lifecycle.jsonl")
    log.add("SandboxReady")
    assert not (tmp_path / "gone").exists()


def test_history_keeps_the_first_and_last_records_and_counts_the_dropped(tmp_path: Path) -> None:
    path = tmp_path / "lifecycle.jsonl"
    log = LifecycleLog(path, keep_first=3, keep_last=5)
    for i in range(40):
        log.add("BackOff", "app", seconds=i)
    stored = load(path)
    assert stored == log.records
    assert [r.get("seconds") for r in stored[:3]] == [0, 1, 2]
    assert stored[3]["type"] == "Dropped"
    assert stored[3]["count"] + 3 + len(stored) - 4 == 40
    assert stored[-1]["seconds"] == 39
    assert len(stored) <= 3 + 1 + 5 + 1


def test_document_lists_containers_in_spec_order_with_their_kind() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
        "spec": {
            "initContainers": [
                {"name": "i", "image": "busybox"},
                {"name": "s", "image": "b", "restartPolicy": "Always"},
            ],
            "containers": [{"name": "a", "image": "nginx"}],
        },
    }
    doc = document(pod, [])
    assert doc["kind"] == "PodLifecycle" and doc["apiVersion"] == "podrun.dev/v1alpha1"
    assert [(c["name"], c["kind"]) for c in doc["containers"]] == [("i", "init"), ("s", "sidecar"), ("a", "app")]


def test_hook_runs_record_duration_and_outcome() -> None:
    log = LifecycleLog(None)
    log.hook("app", "preStop", 0.25, None)
    log.hook("app", "postStart", 1.5, "command 'false' exited with 1")
    assert [(r["hook"], r["durationMs"], r["outcome"]) for r in log.records] == [
        ("preStop", 250.0, "success"), ("postStart", 1500.0, "failure"),
    ]  # fmt: skip


def test_a_probe_is_recorded_when_its_result_changes() -> None:
    log = LifecycleLog(None)
    for result in (None, "failure", "failure", "success", "success", "failure"):
        log.probe("app", "readiness", result)
    assert [r["result"] for r in log.records] == ["failure", "success", "failure"]


def test_a_backoff_wait_is_recorded_once() -> None:
    log = LifecycleLog(None)
    log.backoff("app", 10)
    log.backoff("app", 10)
    assert [r["seconds"] for r in log.records] == [10]
