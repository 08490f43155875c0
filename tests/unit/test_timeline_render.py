"""The lifecycle Gantt chart, drawn from a history recorded on a real node (init-demo with a native sidecar,
an app crashing with exit 3 twice, a back-off, then deletion); `UPDATE_GOLDEN=1` rewrites the golden files."""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser
from pathlib import Path

from podrun.json_types import JSON
from podrun.printers.timeline import render_html, render_svg, render_text, timeline_rows

GOLDEN = Path(__file__).parent.parent / "golden" / "timeline"


def history() -> JSON:
    doc: JSON = json.loads((GOLDEN / "history.json").read_text())
    return doc


def test_text_chart_matches_the_golden_file() -> None:
    text = render_text(history())
    expected = GOLDEN / "chart.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(text)
    assert text == expected.read_text()


def test_text_chart_fits_80_columns() -> None:
    assert max(len(line) for line in render_text(history()).splitlines()) <= 80


def test_rows_follow_spec_order_init_then_sidecars_then_app() -> None:
    chart = timeline_rows(history())
    assert [(r.name, r.kind) for r in chart.rows] == [
        ("init-myservice", "init"), ("proxy", "sidecar"), ("app-container", "app"),
    ]  # fmt: skip


def test_each_restart_is_its_own_run_with_its_exit_code() -> None:
    app = timeline_rows(history()).rows[2]
    assert [(run.index, run.exit_code) for run in app.runs] == [(0, 3), (1, 3), (2, 3)]


def test_a_run_still_going_reaches_the_end_of_the_chart() -> None:
    doc = history()
    doc["records"] = [r for r in doc["records"] if not (r["container"] == "proxy" and r["type"] == "Exited")]
    proxy = timeline_rows(doc).rows[1]
    assert proxy.runs[0].exit_code is None and "running" in render_text(doc)


class _Bars(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.runs: list[tuple[str | None, str | None]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if tag == "rect" and "run" in (found.get("class") or "").split():
            self.runs.append((found.get("data-container"), found.get("data-run")))


def test_html_page_parses_and_has_a_bar_per_run() -> None:
    page = render_html(history())
    bars = _Bars()
    bars.feed(page)
    bars.close()
    assert bars.runs == [("init-myservice", "0"), ("proxy", "0"), ("app-container", "0"), ("app-container", "1"),
                         ("app-container", "2")]  # fmt: skip
    assert "svg" in bars.tags and "style" in bars.tags


def test_html_page_needs_no_script_and_no_network() -> None:
    page = render_html(history())
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def test_a_back_off_wait_is_drawn_up_to_the_run_it_delayed() -> None:
    svg = render_svg(history())
    runs = [line for line in svg.splitlines() if 'data-container="app-container"' in line]
    waits = [line for line in svg.splitlines() if line.startswith('<line class="backoff"')]
    assert waits, svg
    ends = {line.split('x2="', 1)[1].split('"', 1)[0] for line in waits}
    starts = {line.split(' x="', 1)[1].split('"', 1)[0] for line in runs}
    assert ends <= starts, (ends, starts)
