"""How `podrun serve` stops the parts it started: every one, in the reverse order, and a failing stop neither keeps
the others from stopping nor hides the error that ended the start. No root needed."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from podrun.cli.serve import _forget_pid_file, _on_stop, _pid_file


async def test_the_parts_stop_in_the_reverse_order_of_their_start() -> None:
    stopped: list[str] = []

    async def stop_runtime() -> None:
        stopped.append("runtime")

    async with contextlib.AsyncExitStack() as started:
        _on_stop(started, "store", lambda: stopped.append("store"))
        _on_stop(started, "runtime", stop_runtime)

    assert stopped == ["runtime", "store"]


async def test_a_failing_stop_is_reported_and_the_others_still_stop(capsys: pytest.CaptureFixture[str]) -> None:
    stopped: list[str] = []

    async def fail() -> None:
        raise OSError("device or resource busy")

    async with contextlib.AsyncExitStack() as started:
        _on_stop(started, "store", lambda: stopped.append("store"))
        _on_stop(started, "node network", fail)

    assert stopped == ["store"]
    assert "podrun serve: stopping the node network failed: device or resource busy" in capsys.readouterr().err


async def test_the_error_that_ended_the_start_is_the_one_raised() -> None:
    async def fail() -> None:
        raise OSError("device or resource busy")

    with pytest.raises(OSError, match="address already in use"):
        async with contextlib.AsyncExitStack() as started:
            _on_stop(started, "node network", fail)
            raise OSError("address already in use")


def test_the_pid_file_of_another_server_is_left_alone(tmp_path: Path) -> None:
    _pid_file(tmp_path).parent.mkdir(parents=True)
    _pid_file(tmp_path).write_text(str(os.getpid() + 1))

    _forget_pid_file(tmp_path)

    assert _pid_file(tmp_path).exists()


def test_the_servers_own_pid_file_goes(tmp_path: Path) -> None:
    _pid_file(tmp_path).parent.mkdir(parents=True)
    _pid_file(tmp_path).write_text(str(os.getpid()))

    _forget_pid_file(tmp_path)

    assert not _pid_file(tmp_path).exists()
