"""The soak benchmark still runs: `bench/soak.py` with 20 pods exits 0, samples as it goes, writes its JSON and
chart, and leaves nothing behind. Only crashes and leaks fail this test; the slope is never judged here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serve_harness import processes_naming, sandbox_cgroups

from podrun.runtime import linux

BENCH = Path(__file__).resolve().parents[2] / "bench" / "soak.py"

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl")


def test_the_soak_benchmark_samples_20_pods_and_leaves_nothing_behind(tmp_path: Path) -> None:
    out, png = tmp_path / "soak.json", tmp_path / "soak.png"

    result = subprocess.run(
        [
            sys.executable, str(BENCH), "--pods", "20", "--batch", "10", "--sample-every", "10", "--warm-up", "0",
            "--json", str(out), "--png", str(png),
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "KiB/pod" in result.stdout, result.stdout
    doc = json.loads(out.read_text())
    assert [sample["pods"] for sample in doc["samples"]] == [0, 10, 20]
    assert all(sample["rss_kib"] > 0 and sample["pss_kib"] > 0 and sample["fds"] > 0 for sample in doc["samples"])
    assert isinstance(doc["rss_kib_per_pod"], float)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert doc["leftovers"] == {"mounts": [], "processes": [], "cgroups": []}, "the server itself left these"
    work = Path(doc["work_dir"])
    assert work.parent == Path("/tmp") and work.name.startswith("podrun-bench-")
    assert not work.exists()
    assert linux.mounts_under(work) == []
    assert processes_naming(work) == {}
    assert len(doc["sandbox_ids"]) >= 20, "fewer sandboxes seen than pods: the cgroup check would prove little"
    assert sandbox_cgroups(set(doc["sandbox_ids"])) == []
