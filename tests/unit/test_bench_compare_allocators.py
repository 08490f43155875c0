"""`bench/compare/allocators.py`: serve's allocator statistics are read from what CPython and glibc report, and an
RSS growth splits into live objects, the free space pymalloc keeps, and the rest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from compare import allocators  # noqa: E402 (bench/ is not a package on the path)
from compare.common import BenchError  # noqa: E402

MIB = 1024 * 1024

# The lines of a `sys._debugmallocstats()` report (CPython 3.11) the parser reads, among some it does not.
READING = """\
# arenas allocated total           =                   37
# arenas reclaimed                 =                    2
# arenas highwater mark            =                   36
# arenas allocated current         =                   35
35 arenas * 1048576 bytes/arena    =           36,700,160

# bytes in allocated blocks        =           19,543,296
# bytes in available blocks        =            9,028,080
463 unused pools * 16384 bytes     =            7,585,792
# bytes lost to pool headers       =               84,240
Total                              =           36,700,160
glibc in use = 5242880
"""


def test_a_reading_gives_pymallocs_arenas_and_bytes_and_glibcs_bytes_in_mib() -> None:
    values = allocators.parse(READING)

    assert values == {
        "pymalloc_arenas": 35,
        "pymalloc_live": 19_543_296 / MIB,
        "pymalloc_free_blocks": 9_028_080 / MIB,
        "pymalloc_unused_pools": 7_585_792 / MIB,
        "glibc_live": 5.0,
    }


def test_a_reading_without_a_figure_is_an_error_that_names_it() -> None:
    with pytest.raises(BenchError, match="pymalloc_unused_pools"):
        allocators.parse(READING.replace("463 unused pools", "unused"))


def test_a_growth_splits_into_live_objects_pymallocs_free_space_and_the_rest() -> None:
    before = {"pymalloc_arenas": 18, "pymalloc_live": 18.0, "pymalloc_free_blocks": 0.5, "pymalloc_unused_pools": 0.1,
              "glibc_live": 4.0}  # fmt: skip
    after = {"pymalloc_arenas": 35, "pymalloc_live": 19.5, "pymalloc_free_blocks": 9.0, "pymalloc_unused_pools": 7.6,
             "glibc_live": 4.5}  # fmt: skip

    split = allocators.growth(before, after, rss_growth=20.0)

    assert split["live"] == pytest.approx(2.0)
    assert split["pymalloc_live"] == pytest.approx(1.5)
    assert split["glibc_live"] == pytest.approx(0.5)
    assert split["pymalloc_free"] == pytest.approx(16.0)
    assert split["pymalloc_unused_pools"] == pytest.approx(7.5)
    assert split["arenas"] == 17
    assert split["rest"] == pytest.approx(2.0)


def test_the_serve_program_runs_the_console_script_it_is_given_with_the_arguments_after_it(tmp_path: Path) -> None:
    script = tmp_path / "podrun"
    script.write_text("#!/usr/bin/python3\nimport sys\nprint(sys.argv, __name__)\nsys.exit(3)\n")

    command = allocators.serve_command([sys.executable], [str(script)], ["serve", "--port", "1"])
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert (result.returncode, result.stdout) == (3, f"{[str(script), 'serve', '--port', '1']} __main__\n")


def test_the_serve_program_runs_a_module_given_as_python_dash_m(tmp_path: Path) -> None:
    (tmp_path / "standin.py").write_text("import sys\nprint(sys.argv[1:], __name__)\n")

    command = allocators.serve_command([sys.executable], [sys.executable, "-m", "standin"], ["serve"])
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})  # fmt: skip

    assert (result.returncode, result.stdout) == (0, "['serve'] __main__\n")


def test_a_serve_program_answers_sigusr1_with_a_reading(tmp_path: Path) -> None:
    # A script that says it is ready, then waits on stdin, stands in for serve.
    script = tmp_path / "standin"
    script.write_text("print('ready', flush=True)\ninput()\n")
    stats = tmp_path / "stats"
    env = {**os.environ, allocators.STATS_ENV: str(stats)}
    command = allocators.serve_command([sys.executable], [str(script)], [])
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True) as child:
        try:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
            values = allocators.read(child.pid, stats, timeout=30)
        finally:
            child.communicate("\n", timeout=30)

    assert values["pymalloc_arenas"] >= 1
    assert values["pymalloc_live"] > 0
    assert values["glibc_live"] > 0
    assert child.returncode == 0


def test_a_reading_the_handler_could_not_make_is_an_error_that_says_why() -> None:
    with pytest.raises(BenchError, match="AttributeError"):
        allocators.parse("error: AttributeError('mallinfo2')\n")
