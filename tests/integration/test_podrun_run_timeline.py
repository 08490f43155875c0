"""`podrun run --timeline` and `--timeline-file`: the pod's lifecycle chart when the run ends."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
import test_podrun_run as base
from test_podrun_run import EXAMPLES, PodrunRun, Roots, podrun_run

# The fixtures of `podrun run`'s own tests: its roots and the runs to stop if a test fails.
roots = base.roots
started = base.started

pytestmark = pytest.mark.root


async def test_timeline_prints_a_row_per_container_in_spec_order(roots: Roots, started: list[PodrunRun]) -> None:
    run = await podrun_run(started, roots, "-f", str(EXAMPLES / "native-sidecar.yaml"), "--timeline")

    assert run.code == 0, run.stderr
    lines = run.stderr.splitlines()
    chart = lines[next(i for i, line in enumerate(lines) if line.startswith("pod default/")) :]
    rows = [line.split()[:2] for line in chart[2:] if "│" in line]
    assert [kind for _, kind in rows] == ["side", "app"], run.stderr
    assert all(len(line) <= 80 for line in chart)


class _Runs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.runs: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "rect" and "run" in (found.get("class") or "").split():
            self.runs.append(found.get("data-container"))


async def test_timeline_file_is_a_page_with_a_bar_per_run(
    roots: Roots, started: list[PodrunRun], tmp_path: Path
) -> None:
    page = tmp_path / "out.html"
    run = await podrun_run(started, roots, "-f", str(EXAMPLES / "failing-init.yaml"), "--timeline-file", str(page))

    assert run.code != 0
    parser = _Runs()
    parser.feed(page.read_text())
    assert parser.runs == ["check-config"], parser.runs  # restartPolicy Never: one run, exit 3, and no app run
    assert "check-config run 0: exit 3 Error" in page.read_text()
