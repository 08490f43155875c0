"""`podrun run`'s output off a terminal: plain lines, the text rich wrote there, written without rich."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from podrun.cli.output import RunOutput
from podrun.cli.plain_lines import PlainLines, Segment, plain_text

TRICKY = [
    [("[app]", "cyan"), (" a\tb\tc", None)],
    [("[web/app]", "magenta"), (" 漢字\tx 😄\ty", None)],
    [("[app]", "cyan"), (" e\u0301\t\x1b[31mred\x1b[0m\tz", None)],
    [("[app]", "cyan"), (" progress 10%\rprogress 20%\x07\x08\x0b\x0c", None)],
    [("Warning", "yellow"), (" BackOff (web spec.containers{app}): [bold]not markup[/bold] C:\\path\\", None)],
    [("\nPOD\tCONTAINER\nweb\tapp\t", None)],
    [("[app]", "cyan"), ("  trailing spaces   ", None)],
]


def test_a_log_line_is_the_containers_name_in_brackets_then_its_text(capsys: pytest.CaptureFixture[str]) -> None:
    RunOutput(quiet=False, multiple_pods=True).log("web", "app", "stdout", "listening on :8080")

    assert capsys.readouterr().out == "[web/app] listening on :8080\n"


def test_emoji_codes_and_markup_are_written_as_the_container_wrote_them(capsys: pytest.CaptureFixture[str]) -> None:
    RunOutput(quiet=False, multiple_pods=False).log("web", "app", "stderr", ":smile: [bold]x[/bold] \\[y] end\\")

    assert capsys.readouterr().err == "[app] :smile: [bold]x[/bold] \\[y] end\\\n"


def test_tabs_expand_to_the_next_of_every_8_columns_counting_wide_characters_as_two() -> None:
    assert plain_text([("[app]", None), (" a\tb", None)]) == "[app] a b"
    assert plain_text([("漢字\tx", None)]) == "漢字    x"


def test_the_control_characters_rich_drops_are_dropped() -> None:
    assert plain_text([("10%\r20%\x07\x08\x0b\x0c\x1b[0m", None)]) == "10%20%\x1b[0m"


@pytest.mark.parametrize("segments", TRICKY)
def test_plain_lines_are_what_rich_writes_off_a_terminal(segments: list[Segment]) -> None:
    rich_out = io.StringIO()
    Console(file=rich_out, force_terminal=False, highlight=False, soft_wrap=True).print(
        Text.assemble(*((part, style or "") for part, style in segments))
    )
    plain_out = io.StringIO()

    PlainLines(plain_out).print(segments)

    assert plain_out.getvalue() == rich_out.getvalue()


def test_a_reader_that_went_away_silences_the_stream_instead_of_failing() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "w", closefd=True) as stream:
        lines = PlainLines(stream)

        lines.print([("[app] one", None)])
        lines.print([("[app] two", None)])

        assert Path(f"/proc/self/fd/{write_end}").readlink() == Path(os.devnull)
