"""`podrun completion bash|zsh`: the script completes podrun's own subcommands, flags and flag values in bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from podrun.cli.completion import bash_script, zsh_script
from podrun.cli.main import build_parser, main


def complete(tmp_path: Path, *words: str) -> list[str]:
    """What bash offers after `words` (the last one being the word under the cursor)."""
    script = tmp_path / "podrun.bash"
    script.write_text(bash_script(build_parser()))
    quoted = " ".join(f"'{word}'" for word in words)
    program = (
        f"source {script}; COMP_WORDS=(podrun {quoted}); COMP_CWORD={len(words)}; _podrun; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", program], cwd=tmp_path, capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_the_first_word_completes_to_subcommands(tmp_path: Path) -> None:
    assert complete(tmp_path, "im") == ["image"]
    assert {"run", "serve", "version", "completion", "image"} <= set(complete(tmp_path, ""))


def test_a_nested_subcommand_completes_after_its_parent(tmp_path: Path) -> None:
    assert {"pull", "import", "ls", "inspect", "rm"} <= set(complete(tmp_path, "image", ""))


def test_a_flag_completes_within_its_subcommand(tmp_path: Path) -> None:
    assert complete(tmp_path, "run", "--grace") == ["--grace-period"]


def test_a_flag_with_choices_completes_to_them(tmp_path: Path) -> None:
    assert complete(tmp_path, "run", "-o", "") == ["json", "yaml", "name"]
    assert complete(tmp_path, "version", "--output", "y") == ["yaml"]


def test_a_manifest_flag_completes_to_files(tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text("")

    assert complete(tmp_path, "run", "-f", "pod.") == ["pod.yaml"]


def test_a_positional_with_choices_completes_to_them_not_to_files(tmp_path: Path) -> None:
    (tmp_path / "zz-file").write_text("")

    assert complete(tmp_path, "completion", "") == ["-h", "--help", "bash", "zsh"]


def test_the_zsh_script_runs_the_bash_function_through_bashcompinit() -> None:
    script = zsh_script(build_parser())

    assert script.startswith("#compdef podrun\n") and "bashcompinit" in script and "complete -o filenames" in script


def test_the_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0

    assert capsys.readouterr().out == bash_script(build_parser())
