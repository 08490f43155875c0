"""`podrun serve --event-ttl`: a Go duration, 1 h by default as kube-apiserver's."""

from __future__ import annotations

import pytest

from podrun.cli.main import build_parser


def test_events_live_an_hour_by_default() -> None:
    assert build_parser().parse_args(["serve"]).event_ttl == 3600


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("5m", 300), ("1h30m", 5400), ("120", 120)])
def test_the_event_ttl_is_a_go_duration(text: str, seconds: float) -> None:
    assert build_parser().parse_args(["serve", "--event-ttl", text]).event_ttl == seconds


@pytest.mark.parametrize("text", ["soon", "0s", "5 minutes"])
def test_a_bad_event_ttl_is_refused(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--event-ttl", text])
    assert exited.value.code == 2
    assert "--event-ttl" in capsys.readouterr().err
