"""`podrun image import` and `ls` as a user runs them: archives named or piped in, several at once."""

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


def image_import(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`podrun image import ARGS` on a root under `tmp_path`."""
    roots = ["--root", str(tmp_path / "root"), "--run-root", str(tmp_path / "run")]
    return subprocess.run(
        [sys.executable, "-m", "podrun.cli.main", "image", "import", *args, *roots],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_several_archives_are_imported_in_one_call(test_image_archives: dict[str, Path], tmp_path: Path) -> None:
    done = image_import(tmp_path, str(test_image_archives["busybox"]), str(test_image_archives["nginx"]))

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Loaded image: ") == 2
    store = ImageStore(tmp_path / "root")
    assert store.resolve("busybox") is not None and store.resolve("nginx") is not None


def test_an_archive_that_fails_is_named_and_the_others_are_still_imported(
    test_image_archives: dict[str, Path], tmp_path: Path
) -> None:  # fmt: skip
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"not a tar archive")

    done = image_import(tmp_path, str(broken), str(test_image_archives["busybox"]))

    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {broken}: ") and "Traceback" not in done.stderr
    assert ImageStore(tmp_path / "root").resolve("busybox") is not None


def test_a_name_with_several_archives_is_refused_before_any_import(
    test_image_archives: dict[str, Path], tmp_path: Path
) -> None:  # fmt: skip
    archives = [str(test_image_archives["busybox"]), str(test_image_archives["nginx"])]

    done = image_import(tmp_path, *archives, "--name", "mine")

    assert done.returncode == 1
    assert done.stderr == "error: --name and --change describe one image: import one FILE with them\n"
    assert ImageStore(tmp_path / "root").images() == []
