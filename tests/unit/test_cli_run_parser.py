"""`podrun run` parses its arguments with a command line of `run` alone, with the whole command line's result."""

from __future__ import annotations

import pytest

from podrun.cli.main import build_parser, parse_command_line

RUN = ["run", "-f", "pod.yaml", "--timeout", "30s", "-q", "--root", "/tmp/r", "--image", "busybox", "--", "echo"]


def test_run_arguments_parse_as_the_whole_command_line_parses_them() -> None:
    assert parse_command_line(RUN) == build_parser().parse_args(RUN)


def test_refused_run_arguments_get_the_whole_command_lines_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["run", "--bogus"])
    whole = capsys.readouterr().err

    with pytest.raises(SystemExit) as refused:
        parse_command_line(["run", "--bogus"])

    assert (refused.value.code, capsys.readouterr().err) == (exited.value.code, whole)
    assert "{run,serve," in whole
