"""Which container `podrun logs`/`exec` pick, and how `--tail` and `--timestamps` shape the lines."""

from __future__ import annotations

import pytest

from podrun.cli.pod_access import AccessError, format_line, last_lines, pick_container
from podrun.cli.pods_offline import OfflineContainer, OfflinePod
from podrun.runtime.logs import LogLine


def container(cid: str, name: str, at: float) -> OfflineContainer:
    return OfflineContainer(cid, name, "busybox", "exited", 0, "", at, f"/logs/{cid}")


def pod(*containers: OfflineContainer) -> OfflinePod:
    return OfflinePod("default", "web", "uid", "s" * 64, 0.0, [], "kept", list(containers))


def test_the_only_container_is_picked_without_a_name_and_its_newest_instance() -> None:
    assert pick_container(pod(container("a", "app", 1), container("b", "app", 2)), None).id == "b"


def test_previous_is_the_instance_before_the_newest() -> None:
    assert pick_container(pod(container("a", "app", 1), container("b", "app", 2)), "app", previous=True).id == "a"


def test_several_containers_need_a_name_as_kubectl_says() -> None:
    with pytest.raises(
        AccessError, match=r"a container name must be specified for pod web, choose one of: \[app log\]"
    ):
        pick_container(pod(container("a", "app", 1), container("b", "log", 1)), None)


def test_an_unknown_container_is_not_valid_for_the_pod() -> None:
    with pytest.raises(AccessError, match="container db is not valid for pod web"):
        pick_container(pod(container("a", "app", 1)), "db")


def test_tail_keeps_the_last_lines_and_minus_one_keeps_all() -> None:
    lines = [LogLine(f"t{i}", "stdout", str(i)) for i in range(3)]

    assert [line.text for line in last_lines(lines, 2)] == ["1", "2"]
    assert last_lines(lines, 0) == []
    assert last_lines(lines, -1) == lines


def test_timestamps_prefix_the_line_with_its_time() -> None:
    line = LogLine("2026-12-05T17:00:00.000000001Z", "stderr", "oops")

    assert format_line(line, timestamps=True) == "2026-12-05T17:00:00.000000001Z oops\n"
    assert format_line(line, timestamps=False) == "oops\n"
