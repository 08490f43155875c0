"""`processes.signal_child`: a container's stop signal sent through a pidfd, only to a child of the named parent.

The target is a Python process that blocks SIGTERM, so a signal that arrives stays pending where /proc shows it
(no race with the process's death, no waiting). No root needed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from podrun.runtime import processes

BLOCKING_TERM = (
    "import signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM]); print('ready', flush=True); "
    "sys.stdin.read()"
)


@pytest.fixture
def target() -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", BLOCKING_TERM], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    yield child
    child.kill()
    child.wait()


def term_pending(pid: int) -> bool:
    fields = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return bool(int(fields["ShdPnd"], 16) & (1 << (signal.SIGTERM - 1)))


def test_a_child_of_the_named_parent_gets_the_signal(target: subprocess.Popen[str]) -> None:
    assert processes.signal_child(target.pid, os.getpid(), signal.SIGTERM)

    assert term_pending(target.pid)


def test_a_process_whose_parent_is_another_gets_nothing(target: subprocess.Popen[str]) -> None:
    assert not processes.signal_child(target.pid, 1, signal.SIGTERM)

    assert not term_pending(target.pid)


def test_a_process_that_is_gone_gets_nothing_and_raises_nothing(target: subprocess.Popen[str]) -> None:
    target.kill()
    target.wait()

    assert not processes.signal_child(target.pid, os.getpid(), signal.SIGTERM)
