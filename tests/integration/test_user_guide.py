"""The user guide's shell blocks run as written (`docs/guide.md`).

Every ```sh block of the guide is preceded by `<!-- guide: SECTION [exit=N] -->`. Each section runs in a fresh
state and run root (busybox and nginx imported, no registry reachable), its blocks in order, each through
`bash -euo pipefail` from the repository's root with `.venv/bin` first on PATH, and must end with the exit
status the mark names (0 unless said). The roots' fixture then fails the test if anything is left behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from podrun.runtime.images.importer import import_archive
from podrun.runtime.images.store import ImageStore

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "guide.md"
_MARKED_BLOCK = re.compile(
    r"<!-- guide: (?P<section>[\w-]+)(?: exit=(?P<exit>\d+))? -->\n```sh\n(?P<script>.*?)```", re.S
)
SECTIONS = ("seed", "images", "ci", "serve", "troubleshoot")


@dataclass(frozen=True)
class Snippet:
    """One shell block of the guide."""

    section: str
    exit_status: int
    script: str


def guide_snippets() -> list[Snippet]:
    """The guide's marked shell blocks, in the order they appear."""
    return [
        Snippet(m["section"], int(m["exit"] or 0), m["script"]) for m in _MARKED_BLOCK.finditer(GUIDE.read_text())
    ]


def test_every_shell_block_of_the_guide_belongs_to_a_tested_section() -> None:
    text = GUIDE.read_text()
    snippets = guide_snippets()

    assert len(snippets) == text.count("```sh\n")
    assert {s.section for s in snippets} == set(SECTIONS)


@pytest.mark.parametrize("section", SECTIONS)
def test_the_guide_section_runs_as_written(
    section: str, runtime_dirs: tuple[Path, Path], test_image_archives: dict[str, Path], tmp_path: Path
) -> None:
    root, run_root = runtime_dirs
    import_archive(ImageStore(root), test_image_archives["nginx"])
    env = {
        **os.environ,
        "PODRUN_ROOT": str(root),
        "PODRUN_RUN_ROOT": str(run_root),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    try:
        for snippet in (s for s in guide_snippets() if s.section == section):
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", snippet.script],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            assert result.returncode == snippet.exit_status, (
                f"{snippet.script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
    finally:
        if section == "serve":  # a failed block must not leave the server running
            subprocess.run(["podrun", "stop"], env=env, capture_output=True, timeout=120, check=False)
