"""Shared helpers: running tools with time-outs, reading their output as it comes, time stamps, HTTP, memory."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import queue
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import yaml

JSON = dict[str, Any]


class BenchError(RuntimeError):
    """A step of the comparison failed: a tool misbehaved (timings never raise this)."""


@dataclasses.dataclass
class Result:
    """One finished (or timed-out) command: `code` is None when it was killed at its time-out."""

    command: list[str]
    code: int | None
    out: str
    err: str
    seconds: float

    @property
    def ok(self) -> bool:
        """Exited 0."""
        return self.code == 0

    def why(self) -> str:
        """A one-line reason for an error message: the tool's own words, else its exit status."""
        text = (self.err.strip() or self.out.strip()).splitlines()
        status = "timed out" if self.code is None else f"exited {self.code}"
        return f"{' '.join(self.command[:4])} ... {status}: {text[-1] if text else ''}"


def run(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    check: bool = True,
    stdin: str | None = None,
) -> Result:
    """Run a command to its end (killed after `timeout` s: `code` None); raise `BenchError` if `check` and not 0."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            list(command), env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )  # fmt: skip
        result = Result(list(command), proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - started)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout or ""
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or ""
        result = Result(list(command), None, out, err, time.perf_counter() - started)
    if check and not result.ok:
        raise BenchError(result.why())
    return result


class LineReader:
    """The lines of a child's stream as they arrive, each stamped (perf_counter) by a reader thread."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self.lines: queue.Queue[tuple[float, str] | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), name=name, daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                self.lines.put((time.perf_counter(), line.rstrip("\n")))
        self.lines.put(None)

    def next(self, deadline: float) -> tuple[float, str] | None:
        """The next line before `deadline` (perf_counter); None at end of stream; `TimeoutError` after."""
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise TimeoutError
        try:
            item = self.lines.get(timeout=remaining)
        except queue.Empty:
            raise TimeoutError from None
        if item is not None:
            self.seen.append(item[1])
        return item


def to_yaml(*docs: JSON) -> str:
    """Manifests as one multi-document YAML text (what both tools read)."""
    return yaml.safe_dump_all(list(docs), sort_keys=False)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(port: int, path: str = "/") -> bytes | None:
    """The body of `GET http://127.0.0.1:port/path` when it answers 200; None when it does not (yet)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return body if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def http_answer(port: int, path: str = "/") -> str:
    """What `GET http://127.0.0.1:port/path` gets, in a few words (for a failure's message): the status and the
    start of the body, or the error."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return f"HTTP {response.status}, body {response.read()[:40]!r}"
    except (OSError, http.client.HTTPException) as e:
        return f"{type(e).__name__}: {e}"
    finally:
        connection.close()


def listening(port: int) -> bool:
    """Something listens on TCP 127.0.0.1:port or *:port (IPv4), by /proc/net/tcp."""
    wanted = {f"0100007F:{port:04X}", f"00000000:{port:04X}"}
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] in wanted and fields[3] == "0A":  # 0A: LISTEN
                return True
    return False


_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?\s*(Z|[+-]\d{2}:?\d{2})?")


def parse_time(stamp: str) -> float:
    """Unix seconds of an RFC 3339 time with nanoseconds (`...09.277704019Z`), or Go's `2006-01-02 15:04:05.9 -0700`.

    `datetime.fromisoformat` takes at most microseconds in Python 3.11; the fraction is added separately.
    """
    match = _STAMP.match(stamp.strip())
    if not match:
        raise ValueError(f"not a time stamp: {stamp!r}")
    day, clock, fraction, zone = match.groups()
    if zone in (None, "Z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    seconds = datetime.fromisoformat(f"{day}T{clock}{zone}").timestamp()
    return seconds + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


# -- processes -------------------------------------------------------------------------------------------------


def cmdline(pid: int) -> bytes:
    """The command line of a process (NUL-separated), b"" when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def pids() -> list[int]:
    """Every live process ID."""
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def processes_mentioning(needles: Iterable[str], comm: str | None = None) -> list[int]:
    """Processes (not this one) whose command line contains any of `needles`, optionally only those named `comm`."""
    wanted = [n.encode() for n in needles]
    found = []
    for pid in pids():
        if pid == os.getpid():
            continue
        if comm is not None:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() != comm:
                    continue
            except OSError:
                continue
        line = cmdline(pid)
        if any(n in line for n in wanted):
            found.append(pid)
    return found


def descendants(root: int) -> list[int]:
    """`root` and its live descendants (by parent PID)."""
    children: dict[int, list[int]] = {}
    for pid in pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if Path(f"/proc/{pid}").exists():
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB; (0, 0) when it is gone. PSS shares shared pages out among their users."""
    rss = pss = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def memory_of(groups: Mapping[str, Iterable[int]]) -> JSON:
    """RSS and PSS summed per group of processes ({"serve": [pid], "conmon": [...]}) and in total, in MiB."""
    doc: JSON = {"groups": {}}
    total_rss = total_pss = 0
    for name, members in groups.items():
        members = sorted(set(members))
        sizes = [memory_kib(pid) for pid in members]
        rss, pss = sum(s[0] for s in sizes), sum(s[1] for s in sizes)
        doc["groups"][name] = {"processes": len(members), "rss_mib": rss / 1024, "pss_mib": pss / 1024}
        total_rss, total_pss = total_rss + rss, total_pss + pss
    doc.update(rss_mib=total_rss / 1024, pss_mib=total_pss / 1024)
    return doc


def wait_until(predicate: Any, timeout: float, interval: float = 0.005, what: str = "condition") -> float:
    """Poll `predicate()` until true; return the perf_counter when it was seen true; `BenchError` after `timeout`."""
    deadline = time.perf_counter() + timeout
    while True:
        if predicate():
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise BenchError(f"{what}: not after {timeout:.0f} s")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """End a child we started: SIGTERM, then SIGKILL after `timeout` s; always reaped."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
