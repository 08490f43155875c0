"""`podrun run --timeline/--timeline-file` and `podrun timeline POD`: a pod's lifecycle as a Gantt chart."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from podrun.json_types import JSON
from podrun.kubelet.lifecycle import document
from podrun.kubelet.worker import PodWorker
from podrun.printers.timeline import render_html, render_text


def show_run_timelines(workers: list[PodWorker], args: argparse.Namespace) -> None:
    """At the end of `podrun run`: the chart of each pod on standard error, and/or one HTML page."""
    docs = [document(w.pod, w.lifecycle.records) for w in workers]
    if args.timeline:
        width = min(shutil.get_terminal_size((80, 24)).columns, 120)
        color = sys.stderr.isatty()
        for doc in docs:
            sys.stderr.write("\n" + render_text(doc, width=width, color=color))
    if args.timeline_file:
        write_html(docs, args.timeline_file)


def write_html(docs: list[JSON], path: Path) -> None:
    """One self-contained page with the chart of each pod (several pods: their pages' bodies, one after another)."""
    pages = [render_html(doc) for doc in docs]
    if len(pages) > 1:
        bodies = [page.split("<body>", 1)[1].rsplit("</body>", 1)[0] for page in pages]
        pages = [pages[0].split("<body>", 1)[0] + "<body>" + "<hr>".join(bodies) + "</body></html>\n"]
    path.write_text(pages[0] if pages else "")
