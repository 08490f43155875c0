"""Requests to `podrun serve` from the commands that talk to it (`podrun timeline`, `podrun dashboard`).

The server is the one of the `podrun` context of the kubeconfig that `podrun serve` wrote (`--kubeconfig`, else
`$KUBECONFIG`'s first entry or `~/.kube/config`): its URL, its CA and the bearer token.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podrun.api.kubeconfig import NAME as CONTEXT
from podrun.api.kubeconfig import read_kubeconfig
from podrun.json_types import JSON


class ServerError(Exception):
    """The server could not be asked or refused; the message says why, for the user."""


@dataclass(frozen=True)
class ServerContext:
    """Where the server is and how to authenticate to it."""

    server: str
    ca_pem: str
    token: str


def podrun_context(kubeconfig: Path) -> ServerContext:
    """The server URL, CA (PEM) and token of the kubeconfig's `podrun` context."""
    try:
        config = read_kubeconfig(kubeconfig)
    except (OSError, ValueError) as e:
        raise ServerError(f"cannot read {kubeconfig}: {e}") from None
    if config is None:
        raise ServerError(f"{kubeconfig} does not exist: start `podrun serve` first")
    try:
        context = next(c["context"] for c in config.get("contexts") or [] if c.get("name") == CONTEXT)
        cluster = next(c["cluster"] for c in config["clusters"] if c.get("name") == context["cluster"])
        user = next(u["user"] for u in config["users"] if u.get("name") == context["user"])
        ca_pem = base64.b64decode(cluster["certificate-authority-data"]).decode()
        return ServerContext(cluster["server"], ca_pem, user["token"])
    except (StopIteration, KeyError, TypeError, ValueError):
        raise ServerError(f"{kubeconfig} has no usable '{CONTEXT}' context: run `podrun serve` to write it") from None


def request_json(kubeconfig: Path, path: str, *, method: str = "GET") -> JSON:
    """`method` on `path` of the `podrun` context's server, with its token and verified against its CA; the JSON
    answer. A refusal raises `ServerError` with the `Status` message."""
    context = podrun_context(kubeconfig)
    request = urllib.request.Request(
        context.server + path, method=method, headers={"Authorization": f"Bearer {context.token}"}
    )
    tls = ssl.create_default_context(cadata=context.ca_pem)
    try:
        with urllib.request.urlopen(request, context=tls, timeout=30) as answer:
            doc: JSON = json.loads(answer.read())
    except urllib.error.HTTPError as e:
        raise ServerError(_status_message(e)) from None
    except (urllib.error.URLError, OSError) as e:
        raise ServerError(f"cannot reach podrun serve at {context.server}: {e}") from None
    return doc


def _status_message(error: urllib.error.HTTPError) -> str:
    try:
        status: Any = json.loads(error.read())
        return str(status["message"])
    except (ValueError, KeyError, TypeError):
        return f"the server answered {error.code} {error.reason}"
