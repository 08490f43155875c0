"""What one probe action returned (`pkg/probe`'s Result with its output and error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["success", "warning", "failure", "unknown"]

# pkg/probe/exec maxReadLength and pkg/probe/http maxRespBodyLength: 10 KiB.
MAX_OUTPUT_BYTES = 10 * 1024


@dataclass(frozen=True)
class ProbeOutcome:
    """What one probe action returned: the handler's result, its output and, when it errored, the error.

    `result` is `pkg/probe`'s Result. `error` is the Go `err`: when set, the worker discards the run.
    """

    result: Outcome
    output: str = ""
    error: str | None = None
