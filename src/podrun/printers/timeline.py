"""A pod's lifecycle history (a `PodLifecycle` document, docs/lifecycle.md) drawn as a Gantt chart.

`timeline_rows` turns the records into one row per container with its runs on a common time axis;
`render_text` draws them for a terminal (rich, 80 columns), `render_svg` as one SVG element (the web UI's chart)
and `render_html` as one self-contained HTML/SVG page (no script, no network). All are pure.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from podrun.json_types import JSON
from podrun.timestamps import parse_unix

NAME_WIDTH = 22
NOTE_WIDTH = 14
KIND_MARK = {"init": "init", "sidecar": "side", "app": "app", "ephemeral": "eph"}
# Marks drawn over the bars: the probe transitions, podrun's kills and back-off waits.
PROBE_MARK = {"success": "+", "failure": "!", "unknown": "?"}
KILL_MARK = "K"
BACKOFF_MARK = "·"


@dataclass
class Run:
    """One run of a container: from its start to its exit (or the chart's end, `exit_code` None)."""

    index: int
    start: float
    end: float | None = None
    exit_code: int | None = None
    reason: str = ""


@dataclass
class Row:
    """One container's line of the chart."""

    name: str
    kind: str
    runs: list[Run] = field(default_factory=list)
    marks: list[tuple[float, str, str]] = field(default_factory=list)  # (time, mark, what it says)


@dataclass
class Chart:
    """The rows on their axis: `origin` and `end` in Unix seconds."""

    name: str
    namespace: str
    origin: float
    end: float
    rows: list[Row]

    @property
    def span(self) -> float:
        """The axis' length in seconds (never 0, so bars scale)."""
        return max(self.end - self.origin, 0.001)


def timeline_rows(doc: JSON, now: float | None = None) -> Chart:
    """The chart of a `PodLifecycle`; a run still going ends at `now` (default: the last record)."""
    rows = {c["name"]: Row(c["name"], c.get("kind", "app")) for c in doc.get("containers") or []}
    records = doc.get("records") or []
    times = [parse_unix(r["time"]) for r in records]
    origin = times[0] if times else 0.0
    end = max([*times, now or 0.0]) if times else origin
    for record, when in zip(records, times, strict=True):
        name = record.get("container")
        if name is None:
            continue
        row = rows.setdefault(name, Row(name, "app"))
        kind, run = record["type"], record.get("run", 0)
        current = row.runs[-1] if row.runs and row.runs[-1].index == run else None
        if kind == "Started":
            row.runs.append(Run(run, when))
        elif kind == "Exited":
            if current is None or current.end is not None:
                current = Run(run, when)
                row.runs.append(current)
            current.end, current.exit_code, current.reason = when, record.get("exitCode"), record.get("reason", "")
        elif kind == "Probe":
            row.marks.append((when, PROBE_MARK.get(record.get("result", ""), "?"), f"{record.get('probe')} "
                              f"{record.get('result')}"))  # fmt: skip
        elif kind == "Killing":
            row.marks.append((when, KILL_MARK, f"killed: {record.get('reason', '')}"))
        elif kind == "BackOff":
            row.marks.append((when, BACKOFF_MARK, f"back-off {record.get('seconds', '')}s"))
    meta = doc.get("metadata") or {}
    return Chart(meta.get("name", ""), meta.get("namespace", ""), origin, end, list(rows.values()))


def _seconds(value: float) -> str:
    return f"{value:.1f}s" if value < 60 else f"{int(value // 60)}m{int(value % 60)}s"


def _note(row: Row) -> str:
    if not row.runs:
        return "not started"
    last = row.runs[-1]
    state = "running" if last.exit_code is None else f"exit {last.exit_code}"
    restarts = len(row.runs) - 1
    return f"{state} ↻{restarts}" if restarts else state


def render_text(doc: JSON, *, width: int = 80, now: float | None = None, color: bool = False) -> str:
    """The chart for a terminal of `width` columns: a row per container, `█` while it runs, its exit code
    where it ends (`✓` for 0), and marks for probe results (`+` `!`), podrun's kills (`K`) and back-offs (`·`)."""
    chart = timeline_rows(doc, now)
    bar_width = max(width - NAME_WIDTH - NOTE_WIDTH - 2, 10)

    def column(when: float) -> int:
        return min(bar_width - 1, int((when - chart.origin) / chart.span * bar_width))

    lines: list[Text] = [Text(f"pod {chart.namespace}/{chart.name}: {_seconds(chart.span)}", style="bold")]
    axis = f"0s{_seconds(chart.span):>{bar_width - 2}}"
    lines.append(Text(" " * NAME_WIDTH + axis, style="dim"))
    for row in chart.rows:
        cells: list[tuple[str, str]] = [(" ", "")] * bar_width
        for run in row.runs:
            first, last = column(run.start), column(run.end if run.end is not None else chart.end)
            style = "green" if run.exit_code in (None, 0) else "red"
            for i in range(first, last + 1):
                cells[i] = ("█", style)
            if run.exit_code is not None:
                cells[last] = ("✓", "green") if run.exit_code == 0 else ("✗", "bold red")
        for when, mark, _ in row.marks:
            cells[column(when)] = (mark, "yellow")
        label = f"{row.name[: NAME_WIDTH - 6]:<{NAME_WIDTH - 6}} {KIND_MARK.get(row.kind, row.kind):<4} "
        line = Text(label)
        line.append("│", style="dim")
        for char, style in cells:
            line.append(char, style=style)
        line.append("│ ", style="dim")
        line.append(_note(row)[: NOTE_WIDTH - 1])
        lines.append(line)
    lines.append(Text(f"{'':{NAME_WIDTH}}█ run  ✓ exit 0  ✗ failed  + ! probe  K killed  · back-off", style="dim"))
    console = Console(width=width, record=True, color_system="standard" if color else None, file=io.StringIO())
    for line in lines:
        console.print(line, no_wrap=True, overflow="crop")
    return console.export_text(styles=color)


_PAGE_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.3em; } table { border-collapse: collapse; margin-top: 1.5em; font-size: 12px; }
td, th { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: left; }
.run { fill: #3a9d5d; } .run.failed { fill: #c94040; } .run.going { fill: #7cc593; }
.label { font-size: 12px; } .axis { font-size: 11px; fill: #777; } .mark { font-size: 12px; fill: #b07000; }
.backoff { stroke: #b07000; stroke-width: 2; stroke-dasharray: 4 3; }
"""


def render_svg(doc: JSON, *, now: float | None = None) -> str:
    """The chart as one `<svg>` element: a row per container, a `<rect class="run">` per run (its state in the
    class: `going`, `done`, `failed`; `data-container` and `data-run` name it), exit codes, marks with titles, and
    each back-off wait as a dashed `<line class="backoff">` up to the run it delayed.
    The web UI shows it as it is, with the page's CSS."""
    chart = timeline_rows(doc, now)
    left, bar_width, row_height = 220, 760, 26
    height = row_height * (len(chart.rows) + 1) + 10

    def x(when: float) -> float:
        return left + (when - chart.origin) / chart.span * bar_width

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{left + bar_width + 60}" height="{height}">',
        f'<text class="axis" x="{left}" y="14">0s</text>',
        f'<text class="axis" x="{left + bar_width}" y="14" text-anchor="end">{_seconds(chart.span)}</text>',
    ]
    for i, row in enumerate(chart.rows):
        y = row_height * (i + 1)
        esc = html.escape
        parts.append(f'<text class="label" x="4" y="{y + 16}">{esc(row.name)} ({esc(row.kind)})</text>')
        for run in row.runs:
            end = run.end if run.end is not None else chart.end
            state = "going" if run.exit_code is None else ("failed" if run.exit_code else "done")
            title = f"{row.name} run {run.index}: " + (
                "running" if run.exit_code is None else f"exit {run.exit_code} {run.reason}"
            )
            start_x = x(run.start)
            parts.append(
                f'<rect class="run {state}" data-container="{esc(row.name)}" data-run="{run.index}" x="{start_x:.1f}" '
                f'y="{y + 4}" width="{max(x(end) - start_x, 2):.1f}" height="{row_height - 8}">'
                f"<title>{esc(title)}</title></rect>"
            )
            if run.exit_code is not None:
                parts.append(f'<text class="label" x="{x(end) + 3:.1f}" y="{y + 16}">{run.exit_code}</text>')
        for when, mark, what in row.marks:
            if mark == BACKOFF_MARK:
                # The wait itself, dashed: from the back-off to the run it delayed (or the chart's end: still waiting).
                resumed = min((run.start for run in row.runs if run.start > when), default=chart.end)
                parts.append(
                    f'<line class="backoff" x1="{x(when):.1f}" y1="{y + 13}" x2="{x(resumed):.1f}" y2="{y + 13}">'
                    f"<title>{esc(what)}</title></line>"
                )
            mark_x = f"{x(when):.1f}"
            parts.append(f'<text class="mark" x="{mark_x}" y="{y + 4}"><title>{esc(what)}</title>{esc(mark)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def render_html(doc: JSON, *, now: float | None = None) -> str:
    """One self-contained page: the chart as inline SVG (`render_svg`) and every record in a table."""
    parts = [render_svg(doc, now=now)]
    table = ["<table><tr><th>time</th><th>container</th><th>run</th><th>type</th><th>details</th></tr>"]
    for record in doc.get("records") or []:
        details = ", ".join(f"{k}={v}" for k, v in record.items() if k not in ("time", "container", "run", "type"))
        cells = (record["time"], record.get("container") or "", record.get("run", 0), record["type"], details)
        table.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    table.append("</table>")
    meta = doc.get("metadata") or {}
    title = html.escape(f"{meta.get('namespace', '')}/{meta.get('name', '')}")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Lifecycle of {title}</title>'
        f"<style>{_PAGE_STYLE}</style></head><body><h1>Lifecycle of pod {title}</h1>\n"
        + "\n".join(parts) + "\n" + "\n".join(table) + "\n</body></html>\n"
    )  # fmt: skip
