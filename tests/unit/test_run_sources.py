"""`podrun run -f`: files, standard input and directories, as `kubectl apply -f` reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from podrun.cli.run import read_sources


def test_a_directory_gives_its_manifests_in_name_order(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.json", "c.yml", "notes.txt"):
        (tmp_path / name).write_text(name)

    assert read_sources([str(tmp_path)]) == [(str(tmp_path / n), n) for n in ("a.json", "b.yaml", "c.yml")]


def test_a_directory_without_manifests_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=f"no manifest .* in the directory {tmp_path}"):
        read_sources([str(tmp_path)])


def test_files_keep_the_order_they_are_given_in(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text("z")
    (tmp_path / "a.yaml").write_text("a")

    assert [text for _, text in read_sources([str(tmp_path / "z.yaml"), str(tmp_path / "a.yaml")])] == ["z", "a"]
