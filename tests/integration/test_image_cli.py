"""`podrun image import` as a user pipes images in: `docker save x | podrun image import -`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from podrun.runtime.images.store import ImageStore


def test_an_archive_on_standard_input_is_imported_under_the_name_given(
    test_image_archives: dict[str, Path], tmp_path: Path
) -> None:
    root, run_root = tmp_path / "root", tmp_path / "run"
    with test_image_archives["busybox"].open("rb") as archive:
        done = subprocess.run(
            [sys.executable, "-m", "podrun.cli.main", "image", "import", "-", "--name", "piped",
             "--root", str(root), "--run-root", str(run_root)],
            stdin=archive, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Loaded image: ") and "docker.io/library/piped:latest" in done.stdout
    store = ImageStore(root)
    assert store.resolve("piped") is not None
    assert list(store.tmp.iterdir()) == []  # the spooled copy is gone


def test_image_ls_prints_every_record_as_json(test_image_archives: dict[str, Path], tmp_path: Path) -> None:
    root, run_root = tmp_path / "root", tmp_path / "run"
    podrun = [sys.executable, "-m", "podrun.cli.main", "image"]
    roots = ["--root", str(root), "--run-root", str(run_root)]
    subprocess.run([*podrun, "import", str(test_image_archives["busybox"]), *roots], check=True, capture_output=True)

    listed = subprocess.run([*podrun, "ls", "-o", "json", *roots], check=True, capture_output=True, text=True)

    [record] = json.loads(listed.stdout)
    assert sorted(record["repo_tags"]) == ["docker.io/library/busybox:1.28", "docker.io/library/busybox:latest"]
    assert record["id"].startswith("sha256:")
