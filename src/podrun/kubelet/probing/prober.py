"""`prober.runProbe` and `runProbeWithRetries`: one probe action, run once or with retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from podrun.kubelet.expansion import expand, mapping_for
from podrun.kubelet.probing.exec import exec_probe
from podrun.kubelet.probing.outcome import ProbeOutcome
from podrun.kubelet.probing.target import POD_IP, ProbeActionError, resolve_port, runtime_dial
from podrun.kubelet.probing.tcp import tcp_probe
from podrun.runtime.protocol import Runtime

# prober.go: maxProbeRetries.
MAX_PROBE_RETRIES = 3


async def run_probe(
    probe: Mapping[str, Any],
    *,
    runtime: Runtime,
    container_id: str,
    sandbox_id: str,
    container_env: Mapping[str, str],
    timeout: float,
    container: Mapping[str, Any] | None = None,
) -> ProbeOutcome:
    """Run one probe action once (`prober.runProbe`), bounded by `timeout` (the probe's timeoutSeconds).

    `container_env` maps the container's env names to their literal values (`static_env`), for the
    `$(VAR)` expansion of exec commands; `container` supplies the named ports of httpGet and tcpSocket.
    """
    container = container or {}
    exec_action = probe.get("exec")
    if isinstance(exec_action, Mapping):
        # ExpandContainerCommandOnlyStatic: no pod env from other sources, no Downward API.
        lookup = mapping_for(container_env)
        command = [expand(str(arg), lookup) for arg in exec_action.get("command") or []]
        return await exec_probe(runtime, container_id, command, timeout)
    dial = runtime_dial(runtime, sandbox_id)
    http_action = probe.get("httpGet")
    if isinstance(http_action, Mapping):
        # The HTTP and gRPC (h2) clients are imported by the probes that use them: most pods have neither.
        from podrun.kubelet.probing.http import http_probe, http_request_for

        try:
            request = http_request_for(http_action, container, purpose="probe")
        except ProbeActionError as exc:
            return ProbeOutcome("unknown", "", str(exc))
        return await http_probe(request, dial, timeout)
    tcp_action = probe.get("tcpSocket")
    if isinstance(tcp_action, Mapping):
        try:
            port = resolve_port(tcp_action.get("port"), container)
        except ProbeActionError as exc:
            return ProbeOutcome("unknown", "", str(exc))
        return await tcp_probe(dial, str(tcp_action.get("host") or POD_IP), port, timeout)
    grpc_action = probe.get("grpc")
    if isinstance(grpc_action, Mapping):
        from podrun.kubelet.probing.grpc import grpc_probe

        try:
            port = resolve_port(grpc_action.get("port"), container)
        except ProbeActionError as exc:
            return ProbeOutcome("unknown", "", str(exc))
        # prober.go: a gRPC probe always targets the pod IP; `service` defaults to "".
        return await grpc_probe(dial, POD_IP, port, str(grpc_action.get("service") or ""), timeout)
    return ProbeOutcome("unknown", "", f"missing probe handler for container {container.get('name', '')}")


async def probe_with_retries(
    action: Callable[[], Awaitable[ProbeOutcome]], retries: int = MAX_PROBE_RETRIES
) -> ProbeOutcome:
    """`runProbeWithRetries`: run `action` up to `retries` times while it errors; return the last outcome."""
    outcome = ProbeOutcome("unknown", "", "no probe run")
    for _ in range(retries):
        outcome = await action()
        if outcome.error is None:
            break
    return outcome


def static_env(container: Mapping[str, Any]) -> dict[str, str]:
    """`EnvVarsToMap(container.Env)`: every env name to its literal `value` ("" for `valueFrom` ones)."""
    return {
        str(var.get("name", "")): str(var.get("value") or "")
        for var in container.get("env") or []
        if isinstance(var, Mapping)
    }
