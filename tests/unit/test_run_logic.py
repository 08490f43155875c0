"""`podrun run`'s exit codes and its answer to signals, without running containers."""

from __future__ import annotations

import argparse
import signal
from types import SimpleNamespace

import pytest

from podrun.cli.output import RunOutput
from podrun.cli.run import EXIT_TIMEOUT, PodRun, parse_duration, pod_exit_code
from podrun.json_types import JSON


def _pod(phase: str, *terminated: tuple[str, int], uid: str = "u1") -> JSON:
    statuses = [{"name": n, "state": {"terminated": {"exitCode": code}}} for n, code in terminated]
    return {"metadata": {"name": "p", "uid": uid}, "spec": {"containers": [{"name": n} for n, _ in terminated]},
            "status": {"phase": phase, "containerStatuses": statuses}}  # fmt: skip


def _run(**args: object) -> PodRun:
    namespace = argparse.Namespace(output="", grace_period=None, **args)
    return PodRun(namespace, [], None, RunOutput(quiet=True, multiple_pods=False))  # type: ignore[arg-type]


class RecordingNode:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def delete_pod(self, pod: JSON, grace: int | None) -> None:
        self.calls.append(("delete_pod", grace))

    async def force_kill(self, uid: str) -> None:
        self.calls.append(("force_kill", uid))


def test_a_succeeded_pod_exits_zero() -> None:
    assert pod_exit_code(_pod("Succeeded", ("app", 0))) == 0


def test_a_failed_pod_exits_with_its_first_failing_main_containers_code() -> None:
    assert pod_exit_code(_pod("Failed", ("a", 0), ("b", 3), ("c", 4))) == 3


def test_a_failed_pod_without_a_failing_main_container_exits_one() -> None:
    assert pod_exit_code(_pod("Failed")) == 1


def test_an_interrupted_run_exits_128_plus_the_signal() -> None:
    run = _run()
    run.interrupted = signal.SIGINT

    assert run._outcome([_pod("Succeeded", ("app", 0))]) == 130


def test_a_timeout_with_a_pod_not_ready_exits_124() -> None:
    run = _run()
    run.timed_out = True

    assert run._outcome([_pod("Running", ("app", 137))]) == EXIT_TIMEOUT


def test_a_timeout_with_every_pod_ready_exits_zero() -> None:
    run = _run()
    run.timed_out, run.ready_at_timeout = True, {"u1"}

    assert run._outcome([_pod("Running", ("app", 143))]) == 0


async def test_the_first_signal_deletes_every_pod_with_the_grace_period_asked_for() -> None:
    run, node = _run(), RecordingNode()
    run.args.grace_period = 5
    run.workers = [SimpleNamespace(pod=_pod("Running"), uid="u1")]  # type: ignore[list-item]

    run._on_signal(signal.SIGINT, node)  # type: ignore[arg-type]

    assert (run.interrupted, node.calls) == (signal.SIGINT, [("delete_pod", 5)])


async def test_the_second_signal_kills_every_pod() -> None:
    run, node = _run(), RecordingNode()
    run.workers = [SimpleNamespace(pod=_pod("Running"), uid="u1")]  # type: ignore[list-item]
    run._on_signal(signal.SIGINT, node)  # type: ignore[arg-type]

    run._on_signal(signal.SIGINT, node)  # type: ignore[arg-type]
    for kill in list(run._kills):
        await kill

    assert node.calls == [("delete_pod", None), ("force_kill", "u1")]


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("1h30m", 5400), ("500ms", 0.5), ("7", 7)])
def test_durations_are_go_style_or_plain_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_malformed_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("5 minutes")
