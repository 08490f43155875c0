"""The `podrun` console script ends the process at once after a command, without losing output or exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PODRUN = Path(sys.executable).parent / "podrun"


def test_piped_output_is_complete_when_the_script_exits() -> None:
    result = subprocess.run([str(PODRUN), "version", "-o", "json"], capture_output=True, text=True)

    assert result.returncode == 0
    assert "clientVersion" in json.loads(result.stdout)


def test_a_failing_command_keeps_its_exit_code_and_message(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"

    result = subprocess.run(
        [str(PODRUN), "run", "-f", str(missing), "--root", str(tmp_path / "r"), "--run-root", str(tmp_path / "rr")],
        capture_output=True, text=True,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and str(missing) in result.stderr
