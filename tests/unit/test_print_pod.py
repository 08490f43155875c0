"""`kubectl get pods` as the API server prints it and kubectl lays it out.

The golden cases under tests/golden/print_pod/ each hold a pod (spec and status), the `now` to print it
at, and the row kubectl would show: one file per STATUS, READY or RESTARTS behaviour.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from podrun.printers import (
    POD_COLUMNS,
    human_duration,
    pod_row_conditions,
    print_pod,
    render_table,
    translate_timestamp_since,
)

GOLDEN = Path(__file__).parent.parent / "golden" / "print_pod"
NOW = datetime(2026, 11, 26, 4, 10, 0, tzinfo=UTC)


class _ApiLoader(yaml.SafeLoader):
    """YAML as the API reads it: RFC3339 timestamps stay strings."""


_ApiLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_ApiLoader)


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.yaml")), ids=lambda p: p.name)
def test_golden_row(path: Path) -> None:
    case = _load(path)
    now = datetime.fromisoformat(case["now"])

    assert print_pod(case["pod"], wide=case.get("wide", False), now=now) == case["row"]


# --- human_duration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (5.9, "5s"),
        (119, "119s"),
        (120, "2m"),
        (270, "4m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (15 * 60 + 59, "15m"),
        (179 * 60, "179m"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (7 * 3600, "7h"),
        (10 * 3600 + 59 * 60, "10h"),
        (47 * 3600, "47h"),
        (2 * 86400 + 3 * 3600, "2d3h"),
        (7 * 86400, "7d"),
        (45 * 86400, "45d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (3 * 365 * 86400 + 20 * 86400, "3y20d"),
        (9 * 365 * 86400 + 20 * 86400, "9y"),
    ],
)
def test_human_duration_loses_precision_as_durations_grow(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_age_of_a_missing_timestamp_is_unknown() -> None:
    assert translate_timestamp_since(None, NOW) == "<unknown>"


def test_age_is_measured_from_an_rfc3339_timestamp() -> None:
    assert translate_timestamp_since("2026-11-26T03:55:00Z", NOW) == "15m"


def test_a_naive_now_is_taken_as_utc() -> None:
    assert translate_timestamp_since("2026-11-26T04:09:00Z", datetime(2026, 11, 26, 4, 10)) == "60s"


def test_a_pod_without_a_creation_timestamp_has_unknown_age() -> None:
    pod = {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "app"}]}, "status": {}}

    assert print_pod(pod, now=NOW)[4] == "<unknown>"


# --- Table row conditions -----------------------------------------------------------------------------


def test_a_succeeded_pod_row_is_marked_completed() -> None:
    assert pod_row_conditions({"status": {"phase": "Succeeded"}}) == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]


def test_a_failed_pod_row_is_marked_completed_with_reason_failed() -> None:
    assert pod_row_conditions({"status": {"phase": "Failed"}}) == [
        {"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}
    ]


def test_a_running_pod_row_has_no_conditions() -> None:
    assert pod_row_conditions({"status": {"phase": "Running"}}) == []


# --- column definitions -------------------------------------------------------------------------------


def test_pod_columns_are_kubernetes_table_column_definitions() -> None:
    assert [(c["name"], c["type"], c["format"], c["priority"]) for c in POD_COLUMNS] == [
        ("Name", "string", "name", 0),
        ("Ready", "string", "", 0),
        ("Status", "string", "", 0),
        ("Restarts", "string", "", 0),
        ("Age", "string", "", 0),
        ("IP", "string", "", 1),
        ("Node", "string", "", 1),
        ("Nominated Node", "string", "", 1),
        ("Readiness Gates", "string", "", 1),
    ]


def test_every_pod_column_is_described() -> None:
    assert all(column["description"] for column in POD_COLUMNS)


# --- kubectl's tabwriter ------------------------------------------------------------------------------


def test_table_pads_columns_to_the_widest_cell_plus_three_and_leaves_the_last_unpadded() -> None:
    headers = [c["name"] for c in POD_COLUMNS[:5]]
    rows = [["web", "1/1", "Running", "0", "5m"], ["db-0", "0/1", "CrashLoopBackOff", "4 (40s ago)", "2d3h"]]

    assert render_table(headers, rows) == (
        "NAME   READY   STATUS             RESTARTS      AGE\n"
        "web    1/1     Running            0             5m\n"
        "db-0   0/1     CrashLoopBackOff   4 (40s ago)   2d3h\n"
    )


def test_table_columns_are_at_least_six_wide() -> None:
    assert render_table(["a", "b"], [["x", "y"]]) == "A     B\nx     y\n"


def test_table_pads_empty_cells_too() -> None:
    assert render_table(["name", "ip", "age"], [["web", "", "5m"]]) == "NAME   IP    AGE\nweb          5m\n"


def test_table_upper_cases_multi_word_headers() -> None:
    assert render_table(["Nominated Node", "Readiness Gates"], []) == "NOMINATED NODE   READINESS GATES\n"


def test_table_cuts_a_cell_at_its_first_line_break() -> None:
    assert render_table(["name", "message"], [["web", "first\nsecond"]]) == (
        "NAME   MESSAGE\nweb    first...\n"
    )


def test_table_escapes_terminal_control_sequences() -> None:
    assert render_table(["name"], [["\x1b[31mred"]]) == "NAME\n^[[31mred\n"


def test_wide_rows_render_like_kubectl_get_pods_wide() -> None:
    pod = _load(GOLDEN / "wide.yaml")["pod"]

    assert render_table([c["name"] for c in POD_COLUMNS], [print_pod(pod, wide=True, now=NOW)]) == (
        "NAME   READY   STATUS    RESTARTS   AGE    IP          NODE     NOMINATED NODE   READINESS GATES\n"
        "web    1/1     Running   0          107s   10.88.0.5   podrun   <none>           <none>\n"
    )
