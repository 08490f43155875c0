"""`podrun run --timeline/--timeline-file` and `podrun timeline POD`: a pod's lifecycle as a Gantt chart.

`podrun timeline` asks `podrun serve` for `pods/{name}/lifecycle` through the `podrun` context of the
kubeconfig that `podrun serve` wrote (`podrun.cli.server_client`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import urllib.parse
from pathlib import Path

from podrun.api.kubeconfig import default_kubeconfig_path
from podrun.cli.server_client import ServerError, request_json
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


def timeline_command(args: argparse.Namespace) -> int:
    """`podrun timeline POD [-n NS] [-o text|json|html]`: print the pod's lifecycle from `podrun serve`."""
    try:
        doc = fetch_lifecycle(args.kubeconfig or default_kubeconfig_path(), args.namespace, args.pod)
    except ServerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.output == "json":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif args.output == "html":
        sys.stdout.write(render_html(doc))
    else:
        width = min(shutil.get_terminal_size((80, 24)).columns, 120)
        sys.stdout.write(render_text(doc, width=width, color=sys.stdout.isatty()))
    return 0


def fetch_lifecycle(kubeconfig: Path, namespace: str, pod: str) -> JSON:
    """The pod's `PodLifecycle` from the server of the kubeconfig's `podrun` context."""
    path = f"/api/v1/namespaces/{urllib.parse.quote(namespace)}/pods/{urllib.parse.quote(pod)}/lifecycle"
    return request_json(kubeconfig, path)
