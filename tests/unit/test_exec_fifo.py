"""`exec_fifo.start`: runc's exec fifo protocol, played with a real fifo and real processes.

The container's init is stood in for by a shell that writes into the fifo (or does not), and its conmon by a
process whose pidfd is watched: what `runc start` would see is the same fifo and the same kind of exit.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from podrun.runtime import exec_fifo

TIMEOUT = 10.0


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A container's runc state directory holding its exec fifo."""
    os.mkfifo(tmp_path / exec_fifo.FIFO_NAME, 0o622)
    return tmp_path


@pytest.fixture
def conmon() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A live stand-in for the container's conmon, and a pidfd of it."""
    process = subprocess.Popen(["sleep", "3600"])
    pidfd = os.pidfd_open(process.pid)
    yield process, pidfd
    os.close(pidfd)
    process.kill()
    process.wait()


def init_writing(state_dir: Path, data: str) -> subprocess.Popen[bytes]:
    """The container's init: it opens the fifo to write (waiting for a reader, as runc's does) and writes `data`."""
    return subprocess.Popen(["sh", "-c", f"printf '{data}' > {state_dir / exec_fifo.FIFO_NAME}"])


async def test_the_inits_byte_starts_the_container_and_the_fifo_is_removed(
    state_dir: Path, conmon: tuple[subprocess.Popen[bytes], int]
) -> None:
    init = init_writing(state_dir, "0")

    started = await asyncio.wait_for(exec_fifo.start(state_dir, conmon[1]), TIMEOUT)

    assert started
    assert not (state_dir / exec_fifo.FIFO_NAME).exists()  # what `runc state` reads as running
    assert init.wait(TIMEOUT) == 0


async def test_without_a_fifo_nothing_is_started(tmp_path: Path, conmon: tuple[subprocess.Popen[bytes], int]) -> None:
    assert not await exec_fifo.start(tmp_path, conmon[1])


async def test_an_init_that_closes_the_fifo_without_writing_starts_nothing(
    state_dir: Path, conmon: tuple[subprocess.Popen[bytes], int]
) -> None:
    init = init_writing(state_dir, "")

    started = await asyncio.wait_for(exec_fifo.start(state_dir, conmon[1]), TIMEOUT)

    assert not started
    assert init.wait(TIMEOUT) == 0
    assert (state_dir / exec_fifo.FIFO_NAME).exists()  # left for `runc start` to judge


async def test_the_exit_of_conmon_ends_the_wait_for_an_init_that_never_writes(
    state_dir: Path, conmon: tuple[subprocess.Popen[bytes], int]
) -> None:
    process, pidfd = conmon
    process.kill()

    started = await asyncio.wait_for(exec_fifo.start(state_dir, pidfd), TIMEOUT)

    assert not started
    assert (state_dir / exec_fifo.FIFO_NAME).exists()


async def test_the_start_returns_once_the_init_has_closed_its_end_of_the_fifo(
    state_dir: Path, conmon: tuple[subprocess.Popen[bytes], int]
) -> None:
    fifo = state_dir / exec_fifo.FIFO_NAME
    # Writes its byte, then holds the fifo open until its stdin closes: as runc's init until its exec.
    init = subprocess.Popen(["sh", "-c", f"exec 3>{fifo}; printf 0 >&3; cat >/dev/null"], stdin=subprocess.PIPE)
    starting = asyncio.create_task(exec_fifo.start(state_dir, conmon[1]))
    await _until(lambda: not fifo.exists())

    assert not starting.done()  # `runc start` reads to the end: the process has been exec'd when it returns
    assert init.stdin is not None
    init.stdin.close()
    assert await asyncio.wait_for(starting, TIMEOUT)
    assert init.wait(TIMEOUT) == 0


async def test_the_exit_of_conmon_ends_the_wait_for_an_init_that_holds_the_fifo_without_writing(
    state_dir: Path, conmon: tuple[subprocess.Popen[bytes], int]
) -> None:
    process, pidfd = conmon
    init = subprocess.Popen(["sh", "-c", f"exec 3>{state_dir / exec_fifo.FIFO_NAME}; exec sleep 3600"])
    try:
        starting = asyncio.create_task(exec_fifo.start(state_dir, pidfd))
        await _until(lambda: _has_writer(init.pid))
        process.kill()

        assert not await asyncio.wait_for(starting, TIMEOUT)
        assert (state_dir / exec_fifo.FIFO_NAME).exists()
    finally:
        init.kill()
        init.wait()


def _has_writer(pid: int) -> bool:
    """The stand-in init has the fifo open (its fd 3)."""
    return os.path.exists(f"/proc/{pid}/fd/3")


async def _until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), TIMEOUT)
