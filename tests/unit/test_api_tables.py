"""Server-side Tables: the rows `kubectl get` shows for events, configmaps, secrets, namespaces and nodes.

The golden cases under tests/golden/tables/ each hold an object, the `now` to print it at, the Table row's
cells (the wide form, which the API server always sends) and, for some, the text kubectl prints without
`-o wide`. The rest checks how the Table around the rows is built.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from podrun.api.registry import RESOURCES
from podrun.api.tables import include_object, partial_metadata, table
from podrun.printers import render_table

GOLDEN = Path(__file__).parent.parent / "golden" / "tables"
NOW = datetime(2026, 11, 26, 4, 10, 0, tzinfo=UTC)


class _ApiLoader(yaml.SafeLoader):
    """YAML as the API reads it: RFC3339 timestamps stay strings."""


_ApiLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_ApiLoader)


CASES = sorted(GOLDEN.glob("*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_golden_cells(path: Path) -> None:
    case = _load(path)
    resource = RESOURCES[case["resource"]]
    cells = resource.printer(case["object"], datetime.fromisoformat(case["now"]))
    assert cells == case["cells"]
    assert len(cells) == len(resource.columns)


@pytest.mark.parametrize("path", [p for p in CASES if "text" in _load(p)], ids=lambda p: p.name)
def test_golden_text(path: Path) -> None:
    """What kubectl prints: the columns of priority 0, upper-cased, through its tabwriter."""
    case = _load(path)
    resource = RESOURCES[case["resource"]]
    cells = resource.printer(case["object"], datetime.fromisoformat(case["now"]))
    shown = [index for index, column in enumerate(resource.columns) if column["priority"] == 0]
    text = render_table([resource.columns[i]["name"] for i in shown], [[str(cells[i]) for i in shown]])
    assert text == case["text"]


def test_golden_cases_cover_every_kind_but_pods() -> None:
    """Pods have their own golden rows (tests/golden/print_pod)."""
    assert {_load(path)["resource"] for path in CASES} == set(RESOURCES) - {"pods"}


def test_event_columns_are_kubectls() -> None:
    columns = [(column["name"], column["priority"]) for column in RESOURCES["events"].columns]
    assert columns == [
        ("Last Seen", 0),
        ("Type", 0),
        ("Reason", 0),
        ("Object", 0),
        ("Subobject", 1),
        ("Source", 1),
        ("Message", 0),
        ("First Seen", 1),
        ("Count", 1),
        ("Name", 1),
    ]


@pytest.mark.parametrize(
    ("resource", "names"),
    [
        ("configmaps", ["Name", "Data", "Age"]),
        ("secrets", ["Name", "Type", "Data", "Age"]),
        ("namespaces", ["Name", "Status", "Age"]),
        (
            "nodes",
            ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image", "Kernel-Version",
             "Container-Runtime"],
        ),
        ("pods", ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]),
    ],
)  # fmt: skip
def test_column_names(resource: str, names: list[str]) -> None:
    assert [column["name"] for column in RESOURCES[resource].columns] == names
    assert RESOURCES[resource].columns[0]["format"] == "name"


def _pod(name: str, phase: str = "Running") -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "resourceVersion": "7",
            "creationTimestamp": "2026-11-26T04:09:00Z",
            "labels": {"app": name},
        },
        "spec": {"containers": [{"name": "app", "image": "busybox"}], "nodeName": "node1"},
        "status": {"phase": phase},
    }


def test_table_rows_carry_partial_object_metadata_by_default() -> None:
    built = table(RESOURCES["pods"], [_pod("a"), _pod("b")], resource_version="42", continue_token="tok", now=NOW)
    assert built["kind"] == "Table" and built["apiVersion"] == "meta.k8s.io/v1"
    assert built["metadata"] == {"resourceVersion": "42", "continue": "tok"}
    assert [column["name"] for column in built["columnDefinitions"]][:2] == ["Name", "Ready"]
    first = built["rows"][0]
    assert first["cells"] == ["a", "0/1", "Running", "0", "60s", "<none>", "node1", "<none>", "<none>"]
    assert first["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": _pod("a")["metadata"],
    }
    assert "conditions" not in first


@pytest.mark.parametrize(("include", "expected"), [("Object", "Pod"), ("None", None)])
def test_table_include_object(include: str, expected: str | None) -> None:
    row = table(RESOURCES["pods"], [_pod("a")], resource_version="1", include=include, now=NOW)["rows"][0]
    assert (row.get("object") or {}).get("kind") == expected


def test_table_v1beta1_and_completed_rows() -> None:
    built = table(RESOURCES["pods"], [_pod("done", "Succeeded")], resource_version="1", version="v1beta1", now=NOW)
    assert built["apiVersion"] == "meta.k8s.io/v1beta1"
    row = built["rows"][0]
    assert row["object"]["apiVersion"] == "meta.k8s.io/v1beta1"
    assert row["conditions"] == [
        {"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}
    ]


def test_include_object_values() -> None:
    assert include_object("") == "Metadata"
    assert include_object("Object") == "Object"
    with pytest.raises(Exception, match='Unsupported value: "Everything"'):
        include_object("Everything")


def test_partial_metadata() -> None:
    assert partial_metadata(_pod("a")) == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": _pod("a")["metadata"],
    }
