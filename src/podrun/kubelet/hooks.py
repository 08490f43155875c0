"""Container lifecycle hooks (postStart, preStop) as the kubelet runs them.

A transcription of `handlerRunner.Run` in `pkg/kubelet/lifecycle/handlers.go` (Kubernetes v1.33/1.34,
default gates; kubelet-semantics spec, §3.4). `run_hook` returns None on success, or the kubelet's failure
message, which the caller logs; the events are the caller's (`FailedPostStartHook` "PostStartHook failed",
`FailedPreStopHook` "PreStopHook failed", and for postStart the container is then killed).

- `exec`: `RunInContainer` with timeout 0, so no timeout of its own: the caller bounds a preStop hook by
  the grace period (`asyncio.wait_for`), a postStart hook is unbounded. The command is not `$(VAR)`-expanded.
- `httpGet`: the kubelet's lifecycle HTTP client: `kube-lifecycle/1.33`, keep-alives and gzip on, TLS
  without verification, redirects only to the same host, no timeout. Only a transport error fails the
  hook; any status code, 500 included, is a success. An HTTPS hook answered in plain HTTP is retried over
  HTTP, and if that works the pod gets a Warning `LifecycleHTTPFallback` event.
- `sleep`: waits `sleep.seconds` (the `PodLifecycleSleepAction` gate is on by default, zero allowed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from podrun.kubelet.backoff import format_pod
from podrun.kubelet.probing.target import Dial, ProbeActionError, runtime_dial
from podrun.kubelet.probing.worker import RecordEvent
from podrun.model.errors import go_quote
from podrun.runtime.protocol import Runtime, RuntimeError_

if TYPE_CHECKING:
    from podrun.kubelet.probing.http import HTTPRequest

log = logging.getLogger(__name__)

# handlers.go isHTTPResponseError looks for this text in the client's error.
_HTTP_RESPONSE_TO_HTTPS = "server gave HTTP response to HTTPS client"


async def run_hook(
    handler: Mapping[str, Any],
    *,
    kind: Literal["PostStart", "PreStop"],
    runtime: Runtime,
    container_id: str,
    sandbox_id: str,
    container: Mapping[str, Any],
    pod: Mapping[str, Any],
    container_env: Mapping[str, str] | None = None,
    record_event: RecordEvent | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> str | None:
    """Run one lifecycle handler of `container`: `lifecycle.postStart` or `lifecycle.preStop`, as `kind` says.

    Returns None on success, else the kubelet's failure message. `container_env` is accepted for the
    caller's convenience but not used: unlike exec probes, hook commands are not `$(VAR)`-expanded
    (handlers.go passes `handler.Exec.Command` as it is). `record_event(type, reason, message,
    field_path)` receives the pod-level `LifecycleHTTPFallback` event, if any.
    """
    message = await _run(handler, runtime, container_id, sandbox_id, container, pod, record_event, sleep)
    if message is not None:
        log.debug("%s hook failed: %s", kind, message)
    return message


async def _run(
    handler: Mapping[str, Any],
    runtime: Runtime,
    container_id: str,
    sandbox_id: str,
    container: Mapping[str, Any],
    pod: Mapping[str, Any],
    record_event: RecordEvent | None,
    sleep: Callable[[float], Awaitable[None]],
) -> str | None:
    """handlerRunner.Run."""
    name = go_quote(str(container.get("name", "")))
    pod_name = go_quote(format_pod(dict(pod)))
    exec_action = handler.get("exec")
    if isinstance(exec_action, Mapping):
        command = [str(arg) for arg in exec_action.get("command") or []]
        error, output = await _run_exec(runtime, container_id, command)
        if error is None:
            return None
        # %v of a []string prints `[a b c]`; %q of the output quotes it as Go does.
        return (
            f"Exec lifecycle hook ([{' '.join(command)}]) for Container {name} in Pod {pod_name} failed - "
            f"error: {error}, message: {go_quote(output)}"
        )
    http_action = handler.get("httpGet")
    if isinstance(http_action, Mapping):
        error = await _run_http(http_action, runtime, sandbox_id, container, record_event)
        if error is None:
            return None
        return (
            f"HTTP lifecycle hook ({http_action.get('path', '')}) for Container {name} in Pod {pod_name} "
            f"failed - error: {error}"
        )
    sleep_action = handler.get("sleep")
    if isinstance(sleep_action, Mapping):
        # A cancelled sleep (the container went away) propagates; the kubelet records nothing for it either.
        await sleep(float(sleep_action.get("seconds") or 0))
        return None
    return f"Cannot run handler: invalid handler: {dict(handler)!r}"


async def _run_exec(runtime: Runtime, container_id: str, command: list[str]) -> tuple[str | None, str]:
    """RunInContainer: (the error, stdout followed by stderr). The error of a non-zero exit is the CRI
    client's `command '<cmd>' exited with <code>: <stderr>`."""
    try:
        result = await runtime.exec_sync(container_id, command, None)
    except (RuntimeError_, OSError) as exc:
        return str(exc), ""
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    if result.exit_code == 0:
        return None, output
    stderr = result.stderr.decode("utf-8", "replace")
    return f"command '{' '.join(command)}' exited with {result.exit_code}: {stderr}", output


async def _run_http(
    action: Mapping[str, Any],
    runtime: Runtime,
    sandbox_id: str,
    container: Mapping[str, Any],
    record_event: RecordEvent | None,
) -> str | None:
    """runHTTPHandler: the client's error, or None. The response itself is read and discarded."""
    # Imported here: most pods have no HTTP hook, and `podrun run` should not load the HTTP client for them.
    from podrun.kubelet.probing.http import URL, http_request_for

    try:
        request = http_request_for(action, container, purpose="lifecycle")
    except ProbeActionError as exc:
        return str(exc)
    dial = runtime_dial(runtime, sandbox_id)
    error = await _get(request, dial)
    if error is None or _HTTP_RESPONSE_TO_HTTPS not in error:
        return error
    # The HTTPS server answered in plain HTTP: retry over HTTP, without credentials.
    plain = dataclasses.replace(
        request,
        url=URL("http", request.url.netloc, request.url.path, request.url.query),
        headers={k: v for k, v in request.headers.items() if k != "Authorization"},
    )
    if await _get(plain, dial) is not None:
        return error
    if record_event is not None:
        record_event(
            "Warning",
            "LifecycleHTTPFallback",
            f"request to HTTPS lifecycle hook {request.url.netloc} got HTTP response, "
            "retry with HTTP succeeded",
            "",  # about the pod, not a container (eventRecorder.Event(pod, ...))
        )
    return None


async def _get(request: HTTPRequest, dial: Dial) -> str | None:
    from podrun.kubelet.probing.http import HTTPBodyError, HTTPClientError, http_get

    try:
        await http_get(request, dial, timeout=None, keep_alives=True, compression=True)
    except HTTPClientError as exc:
        return str(exc)
    except HTTPBodyError:
        # discardHTTPRespBody ignores the body; only client.Do's error counts.
        return None
    return None
