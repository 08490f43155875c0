"""What `podrun serve`'s memory allocators hold: its live objects apart from the free space the allocators keep.

Serve's RSS after a burst of pods stays above a fresh serve's (issue 12's "no growth after work"). RSS cannot say
whether that is podrun's objects or free memory CPython's allocator (pymalloc) and glibc's keep, so the bench
starts serve through `SERVE_PROGRAM`: the `podrun` console script as it is, plus a SIGUSR1 handler that writes
CPython's own allocator statistics (`sys._debugmallocstats`) and glibc's bytes in use (`mallinfo2`) to a file. A reading
costs serve nothing until it is asked for. pymalloc hands a 1 MiB arena back only when every pool in it is empty;
its free blocks and its unused pools inside arenas that still hold a live block stay in RSS.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Mapping
from pathlib import Path

from compare.common import JSON, BenchError, wait_until

# Where the handler writes, from serve's environment.
STATS_ENV = "PODRUN_BENCH_ALLOCATOR_STATS"
MIB = 1024 * 1024

# Run as `python -P -c SERVE_PROGRAM path|module TARGET serve ...` (-P: no directory of this script or the current
# one on the path, so nothing of the bench's shadows a module serve imports). TARGET is the podrun under test's own
# entry point, run as its console script or `-m` would run it (the script's code executed as `__main__`, as runpy
# would, without the modules runpy imports). The handler catches everything: an exception raised
# in a signal handler would surface in serve's event loop and end it.
SERVE_PROGRAM = """\
import ctypes, os, signal

class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

def _write_allocator_stats(signum, frame):
    import sys
    try:
        path = os.environ["STATS_ENV"]
        with open(path + ".part", "w") as out:
            try:
                mallinfo2 = ctypes.CDLL(None).mallinfo2
                mallinfo2.restype = _MallInfo2
                glibc = mallinfo2()
                saved = os.dup(2)
                sys.stderr.flush()
                os.dup2(out.fileno(), 2)
                try:
                    sys._debugmallocstats()
                finally:
                    os.dup2(saved, 2)
                    os.close(saved)
                out.write(f"glibc in use = {glibc.uordblks + glibc.hblkhd}\\n")
            except Exception as e:
                out.write(f"error: {e!r}\\n")
        os.rename(path + ".part", path)
    except Exception:
        pass  # nowhere to report it: the bench's wait for the file says it timed out

signal.signal(signal.SIGUSR1, _write_allocator_stats)
import sys
kind, target = sys.argv[1:3]
sys.argv[:3] = [target]
if kind == "module":
    import runpy
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    with open(target) as script:
        code = compile(script.read(), target, "exec")
    exec(code, {"__name__": "__main__", "__file__": target, "__builtins__": __builtins__})
""".replace("STATS_ENV", STATS_ENV)

_FIELDS = {
    "pymalloc_arenas": re.compile(r"^# arenas allocated current\s*=\s*([\d,]+)", re.M),
    "pymalloc_live": re.compile(r"^# bytes in allocated blocks\s*=\s*([\d,]+)", re.M),
    "pymalloc_free_blocks": re.compile(r"^# bytes in available blocks\s*=\s*([\d,]+)", re.M),
    "pymalloc_unused_pools": re.compile(r"^\d+ unused pools \* \d+ bytes\s*=\s*([\d,]+)", re.M),
    "glibc_live": re.compile(r"^glibc in use = (\d+)", re.M),
}


def serve_command(interpreter: list[str], command: list[str], argv: list[str]) -> list[str]:
    """The command that runs `command` (the podrun under test: its console script, or `python -m MODULE`) with
    `argv` and the statistics handler, under `interpreter` (the Python that runs `command`)."""
    target = ["module", command[2]] if len(command) > 2 and command[1] == "-m" else ["path", command[0]]
    return [*interpreter, "-P", "-c", SERVE_PROGRAM, *target, *argv]


def parse(text: str) -> JSON:
    """The figures of one reading: pymalloc's arena count, its live and free bytes, glibc's live bytes (MiB)."""
    values: JSON = {}
    if text.startswith("error: "):
        raise BenchError(f"serve could not read its allocators: {text.strip()}")
    for name, pattern in _FIELDS.items():
        match = pattern.search(text)
        if match is None:
            raise BenchError(f"the allocator statistics have no {name}: {text[:200]!r}")
        number = int(match.group(1).replace(",", ""))
        values[name] = number if name == "pymalloc_arenas" else number / MIB
    return values


def read(pid: int, path: Path, timeout: float = 10.0) -> JSON:
    """Ask serve (`pid`, started by `serve_command` with `STATS_ENV` = `path`) for a reading and parse it."""
    path.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    wait_until(path.exists, timeout, interval=0.02, what="serve's allocator statistics")
    return parse(path.read_text())


def growth(before: Mapping[str, float], after: Mapping[str, float], rss_growth: float) -> JSON:
    """How an RSS growth splits (MiB): live objects (pymalloc's blocks in use, glibc's bytes allocated), the free
    space pymalloc keeps in its arenas (free blocks and unused pools; the newest arena's pools not yet carved and
    the one empty arena pymalloc may keep count too, so this is high by up to about 2 MiB, and the rest low by as
    much), and the rest: glibc's free chunks still resident (mallinfo's free figure also counts what a trim gave
    back, so it is not used), stacks, libraries."""

    def delta(*names: str) -> float:
        return sum(after[name] - before[name] for name in names)

    live = delta("pymalloc_live", "glibc_live")
    pymalloc_free = delta("pymalloc_free_blocks", "pymalloc_unused_pools")
    return {
        "live": live,
        "pymalloc_live": delta("pymalloc_live"),
        "glibc_live": delta("glibc_live"),
        "pymalloc_free": pymalloc_free,
        "pymalloc_unused_pools": delta("pymalloc_unused_pools"),
        "arenas": int(after["pymalloc_arenas"] - before["pymalloc_arenas"]),
        "rest": rss_growth - live - pymalloc_free,
    }
