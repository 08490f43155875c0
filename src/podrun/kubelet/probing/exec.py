"""The exec probe (`pkg/probe/exec`): a command run in the container through the runtime."""

from __future__ import annotations

from podrun.kubelet.probing.outcome import MAX_OUTPUT_BYTES, ProbeOutcome
from podrun.model.errors import go_quote
from podrun.runtime.protocol import Runtime, RuntimeError_


async def exec_probe(
    runtime: Runtime, container_id: str, command: list[str], timeout: float
) -> ProbeOutcome:
    """pkg/probe/exec Probe over RunInContainer (ExecSync with `timeout`).

    The output is stdout then stderr, limited to 10 KiB; a non-zero exit is a failure; any other error
    leaves the result unknown.
    """
    try:
        result = await runtime.exec_sync(container_id, command, timeout)
    except (RuntimeError_, OSError) as exc:
        return ProbeOutcome("unknown", "", str(exc))
    if result.timed_out:
        # The CRI client's TimeoutError ("command %q timed out"), which the prober returns as the output.
        return ProbeOutcome("failure", f"command {go_quote(' '.join(command))} timed out")
    output = (result.stdout + result.stderr)[:MAX_OUTPUT_BYTES].decode("utf-8", "replace")
    return ProbeOutcome("success" if result.exit_code == 0 else "failure", output)
