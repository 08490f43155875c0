"""`podrun run --timeline/--timeline-file` and `podrun timeline POD`: a pod's lifecycle as a Gantt chart.

`podrun timeline` asks `podrun serve` for `pods/{name}/lifecycle` through the `podrun` context of the
kubeconfig that `podrun serve` wrote (`--kubeconfig`, else `$KUBECONFIG`'s first entry or `~/.kube/config`).
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from podrun.api.kubeconfig import NAME as CONTEXT
from podrun.api.kubeconfig import default_kubeconfig_path, read_kubeconfig
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


class TimelineError(Exception):
    """The chart could not be fetched; the message says why, for the user."""


def timeline_command(args: argparse.Namespace) -> int:
    """`podrun timeline POD [-n NS] [-o text|json|html]`: print the pod's lifecycle from `podrun serve`."""
    try:
        doc = fetch_lifecycle(args.kubeconfig or default_kubeconfig_path(), args.namespace, args.pod)
    except TimelineError as e:
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
    server, ca_pem, token = _podrun_context(kubeconfig)
    path = f"/api/v1/namespaces/{urllib.parse.quote(namespace)}/pods/{urllib.parse.quote(pod)}/lifecycle"
    request = urllib.request.Request(server + path, headers={"Authorization": f"Bearer {token}"})
    context = ssl.create_default_context(cadata=ca_pem)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:
            doc: JSON = json.loads(answer.read())
    except urllib.error.HTTPError as e:
        raise TimelineError(_status_message(e)) from None
    except (urllib.error.URLError, OSError) as e:
        raise TimelineError(f"cannot reach podrun serve at {server}: {e}") from None
    return doc


def _status_message(error: urllib.error.HTTPError) -> str:
    try:
        status: Any = json.loads(error.read())
        return str(status["message"])
    except (ValueError, KeyError, TypeError):
        return f"the server answered {error.code} {error.reason}"


def _podrun_context(kubeconfig: Path) -> tuple[str, str, str]:
    """(server URL, CA in PEM, token) of the `podrun` context."""
    try:
        config = read_kubeconfig(kubeconfig)
    except (OSError, ValueError) as e:
        raise TimelineError(f"cannot read {kubeconfig}: {e}") from None
    if config is None:
        raise TimelineError(f"{kubeconfig} does not exist: start `podrun serve` first")
    try:
        context = next(c["context"] for c in config.get("contexts") or [] if c.get("name") == CONTEXT)
        cluster = next(c["cluster"] for c in config["clusters"] if c.get("name") == context["cluster"])
        user = next(u["user"] for u in config["users"] if u.get("name") == context["user"])
        return cluster["server"], base64.b64decode(cluster["certificate-authority-data"]).decode(), user["token"]
    except (StopIteration, KeyError, TypeError, ValueError):
        raise TimelineError(f"{kubeconfig} has no usable '{CONTEXT}' context: run `podrun serve` to write it") from None
