"""The table `podrun run` prints at its end, pinned by a golden file (`UPDATE_GOLDEN=1` rewrites it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from podrun.printers.run_summary import run_summary

GOLDEN = Path(__file__).parent.parent / "golden" / "run_summary"


def test_every_container_is_summed_up_in_start_order() -> None:
    """Init containers, sidecars and app containers; completed, running, crash-looping, OOM-killed, never started."""
    text = run_summary(json.loads((GOLDEN / "pods.json").read_text()))

    expected = GOLDEN / "summary.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(text)
    assert text == expected.read_text()
