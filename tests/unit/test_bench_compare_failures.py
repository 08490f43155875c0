"""`bench/compare.py` carries on past a failing case: the failure is recorded under the case's titles, shown in the
table in the case's place, and what the case left is removed before the next case runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench_module(name: str, path: Path) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = _bench_module("compare_script", BENCH / "compare.py")  # the script; `compare` is its package
report = sys.modules["compare.report"]


class _Side:
    """Stands in for a tool's side of the comparison: counts the clean-ups asked of it."""

    def __init__(self) -> None:
        self.cleaned: list[str] = []

    def stop_children(self) -> None:
        self.cleaned.append("children")

    def delete_all_pods(self, timeout: float) -> None:
        self.cleaned.append("pods")

    def remove_all_pods(self) -> None:
        self.cleaned.append("pods")


def _comparison() -> tuple[object, _Side, _Side]:
    comparison = script.Comparison.__new__(script.Comparison)
    podrun, podman = _Side(), _Side()
    comparison.podrun, comparison.podman, comparison.failures = podrun, podman, {}
    return comparison, podrun, podman


def _fail() -> None:
    raise script.BenchError("seed-podman-1 serving: not after 60 s")


def test_a_failing_case_is_recorded_under_each_of_its_titles() -> None:
    comparison, _, _ = _comparison()

    comparison.attempt(("1 pod start", "5 teardown"), _fail)  # type: ignore[attr-defined]

    assert comparison.failures == {  # type: ignore[attr-defined]
        "1 pod start": "seed-podman-1 serving: not after 60 s",
        "5 teardown": "seed-podman-1 serving: not after 60 s",
    }


def test_a_failing_case_has_its_pods_removed_under_both_tools() -> None:
    comparison, podrun, podman = _comparison()

    comparison.attempt(("3 seed multi-container, HTTP",), _fail)  # type: ignore[attr-defined]

    assert podrun.cleaned == ["children", "pods"]
    assert podman.cleaned == ["pods"]


def test_the_next_case_runs_after_a_failing_one() -> None:
    comparison, _, _ = _comparison()
    ran: list[str] = []

    comparison.attempt(("2 init hand-off",), _fail)  # type: ignore[attr-defined]
    comparison.attempt(("3 seed multi-container, HTTP",), lambda: ran.append("seed"))  # type: ignore[attr-defined]

    assert ran == ["seed"]
    assert list(comparison.failures) == ["2 init hand-off"]  # type: ignore[attr-defined]


def test_the_table_shows_a_failed_case_in_its_place() -> None:
    start = report.Case("start", "1 pod start", 2, "", {"serve": report.Variant("podrun", "serve", [10.0, 12.0])})
    many = report.Case("many", "4 3 pods at once", 1, "", {"serve": report.Variant("podrun", "serve", [30.0])})

    failures = {"3 seed multi-container, HTTP": "seed-podman-1 serving: not after 60 s"}

    rows = report.table_rows([start, many], {}, failures)

    assert [row[0] for row in rows] == ["1 pod start (n=2)", "3 seed multi-container, HTTP", "4 3 pods at once (n=1)"]
    assert rows[1][1:3] == ("FAILED", "seed-podman-1 serving: not after 60 s")
