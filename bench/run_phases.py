#!/usr/bin/env python3
"""Where `podrun run`'s time goes: one run of an init `true` + app `true` pod, split into its phases.

The child process is `podrun run` itself (`podrun.cli.main.main`), with podrun's phase functions wrapped to note
when each starts and ends on the system's monotonic clock, which the parent shares: so interpreter start, imports,
every phase and the interpreter's exit are on one time line from the parent's `Popen` to the child's exit.
The wrapping costs microseconds per call; the imports are timed before any wrapping.

    .venv/bin/python bench/run_phases.py [--runs N] [--json PATH] [--podrun-src DIR] [--baseline-src DIR] [--not-quiet]

`--podrun-src` times another checkout's podrun with this harness; `--baseline-src /work/main/src` times that one
too, alternating run by run with this one, for a before/after under the same load. `--not-quiet` runs without `-q`:
the run prints its transitions, warnings and summary to a pipe.
Needs root, the busybox test image, runc or crun and conmon; the root and run root are temporary directories
under /tmp (a `registries.json` with `{"no_upstream": ["docker.io"]}`, so no registry is contacted) and removed
at the end; the run itself removes its pod, as `podrun run` always does.
"""

from __future__ import annotations

import time

ENTERED = time.monotonic()  # the child's interpreter is up: what follows is imports (these, then podrun's)

import argparse  # noqa: E402 (after the clock is read)
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {name: phases}
spec:
  restartPolicy: Never
  initContainers:
  - {name: init, image: busybox, command: ['true']}
  containers:
  - {name: app, image: busybox, command: ['true']}
"""

# (module, class or None, function): every call is one span named `Class.function` (or `function`).
WRAPPED = [
    ("podrun.cli.run", None, "load_manifests"),
    ("podrun.cli.run", None, "admit_pod"),
    ("podrun.network.node", "NodeNetwork", "start"),
    ("podrun.network.netns", None, "create"),
    ("podrun.network.nftables", None, "apply"),
    ("podrun.network.dns", "DnsServer", "start"),
    ("podrun.network.node", "NodeNetwork", "stop"),
    ("podrun.network.node", "NodeNetwork", "attach"),
    ("podrun.network.node", "NodeNetwork", "detach"),
    ("podrun.services.in_memory", "InMemoryServices", "start"),
    ("podrun.services.in_memory", "InMemoryServices", "stop"),
    ("podrun.runtime.local", "LocalRuntime", "recover"),
    ("podrun.runtime.local", "LocalRuntime", "close"),
    ("podrun.kubelet.node", "Node", "start"),
    ("podrun.kubelet.node", "Node", "stop"),
    ("podrun.runtime.sandbox", "Sandboxes", "create"),
    ("podrun.runtime.sandbox", "Sandboxes", "_make_namespaces"),
    ("podrun.runtime.sandbox", "Sandboxes", "remove"),
    ("podrun.runtime.local", "LocalRuntime", "remove_sandbox"),
    ("podrun.kubelet.images", "ImageManager", "ensure"),
    ("podrun.runtime.local", "LocalRuntime", "create_container"),
    ("podrun.runtime.local", "LocalRuntime", "start_container"),
    ("podrun.runtime.local", None, "conmon_create"),  # where LocalRuntime calls it
    ("podrun.runtime.local", "LocalRuntime", "_run_oci"),
    ("podrun.runtime.local", "LocalRuntime", "_finalize"),
    ("podrun.runtime.local", "LocalRuntime", "_clean_up_exited"),
    ("podrun.runtime.local", "LocalRuntime", "remove_container"),
    ("podrun.cli.run", "PodRun", "_stream_logs"),
]


# -- the child: podrun run with its phases noted -------------------------------------------------------------


def _wrap(spans: list[tuple[str, float, float]], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    import functools
    import inspect

    label = name

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_span(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return await fn(*args, **kwargs)
            finally:
                what = f"{label} {args[1]}" if name.endswith("_run_oci") else label
                spans.append((what, start, time.monotonic()))

        return async_span

    @functools.wraps(fn)
    def span(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            spans.append((label, start, time.monotonic()))

    return span


def child(argv: list[str], out: Path) -> int:
    """Run `podrun run` (argv) as the console script does, with the phases noted; write them to `out` as JSON
    when `main` returns (the exit that follows is the console script's own)."""
    entered = ENTERED
    import importlib

    import podrun.cli.main

    # What `main` imports for `run`, timed here rather than inside the first phase, as `main` imports it.
    import_run_command = getattr(podrun.cli.main, "import_run_command", None)  # older podruns import it plainly
    if import_run_command is not None:
        import_run_command()
    import podrun.cli.run

    imported = time.monotonic()
    spans: list[tuple[str, float, float]] = []
    for module_name, class_name, function in WRAPPED:
        module = importlib.import_module(module_name)
        owner = getattr(module, class_name) if class_name else module
        name = f"{class_name}.{function}" if class_name else f"{module_name.rpartition('.')[2]}.{function}"
        setattr(owner, function, _wrap(spans, name, getattr(owner, function)))
    sandboxes = importlib.import_module("podrun.runtime.sandbox").Sandboxes
    create_sandbox = sandboxes.create
    sandbox_ids: list[str] = []

    async def noted_create(self: Any, config: Any) -> Any:
        status = await create_sandbox(self, config)
        sandbox_ids.append(status.id)  # for the leak check of the sandboxes' cgroups
        return status

    sandboxes.create = noted_create
    podrun_main = podrun.cli.main.main

    def noted_main(_: Sequence[str] | None = None) -> int:
        code: int = podrun_main(argv)
        returned = time.monotonic()
        doc = {
            "entered": entered, "imported": imported, "returned": returned, "spans": spans,
            "sandbox_ids": sandbox_ids,
        }  # fmt: skip
        out.write_text(json.dumps(doc))
        return code

    setattr(podrun.cli.main, "main", noted_main)  # noqa: B010 (what `console` calls: another signature's name)
    console = getattr(podrun.cli.main, "console", None)  # older podruns exit through sys.exit(main())
    if console is not None:
        console()
    return noted_main()


# -- the parent ----------------------------------------------------------------------------------------------


def one_run(work: Path, src: Path | None, index: int, *, quiet: bool = True) -> dict[str, Any]:
    """One `podrun run` in a child; its phases in ms from the parent's Popen, and the whole. Not `quiet`: the run
    prints its transitions, warnings and summary, to a pipe."""
    out = work / f"phases-{index}.json"
    argv = ["run", "-f", str(work / "pod.yaml"), "--root", str(work / "root"), "--run-root", str(work / "run")]
    argv += ["-q"] if quiet else []
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(work / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    command = [sys.executable, __file__, "--child", str(out), *argv]
    started = time.monotonic()
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    ended = time.monotonic()
    if proc.returncode != 0:
        raise RuntimeError(f"podrun run exited {proc.returncode}: {proc.stderr.strip()}")
    doc = json.loads(out.read_text())

    def ms(t: float) -> float:
        return (t - started) * 1000

    return {
        "total": ms(ended),
        "interpreter_start": ms(doc["entered"]),
        "imports": ms(doc["imported"]) - ms(doc["entered"]),
        "main_returned": ms(doc["returned"]),
        "exit": ms(ended) - ms(doc["returned"]),
        "sandbox_ids": doc["sandbox_ids"],
        "spans": [(name, ms(a), ms(b)) for name, a, b in doc["spans"]],
    }


def print_run(run: dict[str, Any]) -> None:
    """One run's time line."""
    print(f"    {0:7.1f} ms  interpreter start -> {run['interpreter_start']:.1f}")
    print(f"    {run['interpreter_start']:7.1f} ms  imports ({run['imports']:.1f} ms)")
    for name, start, end in sorted(run["spans"], key=lambda s: s[1]):
        print(f"    {start:7.1f} ms  {name} ({end - start:.1f} ms)")
    print(f"    {run['main_returned']:7.1f} ms  main returned; interpreter exit {run['exit']:.1f} ms")
    print(f"    {run['total']:7.1f} ms  process exited")


def main() -> int:
    """Command line (see the module's docstring)."""
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return child(sys.argv[3:], Path(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs, after one warm-up (default 5)")
    parser.add_argument("--json", metavar="PATH", help="write every run's phases to PATH")
    parser.add_argument("--podrun-src", type=Path, help="time the podrun package under this directory instead")
    parser.add_argument(
        "--baseline-src", type=Path, help="also time this podrun package (e.g. /work/main/src), alternating"
    )
    parser.add_argument(
        "--not-quiet", action="store_true", help="run without -q: the run prints its lines, to a pipe (as in CI)"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (namespaces, mounts, runc)")
    import shutil
    import statistics
    import tempfile

    # Here, not at the top: the child must not pay for the harness's imports (podrun's kubelet among them).
    from init_handoff import REGISTRIES, busybox_archive

    work = Path(tempfile.mkdtemp(prefix="podrun-bench-", dir="/tmp"))
    try:
        (work / "root").mkdir()
        (work / "root" / "registries.json").write_text(json.dumps(REGISTRIES))
        (work / "pod.yaml").write_text(MANIFEST)
        podrun = Path(sys.executable).parent / "podrun"
        subprocess.run(
            [str(podrun), "image", "import", str(busybox_archive()), "--root", str(work / "root")],
            check=True, capture_output=True,
        )  # fmt: skip
        variants: dict[str, Path | None] = {"this podrun": args.podrun_src}
        if args.baseline_src:
            variants["baseline " + str(args.baseline_src)] = args.baseline_src
        quiet = not args.not_quiet
        warm_ups = [one_run(work, src, 0, quiet=quiet) for src in variants.values()]  # bytecode cache, page cache
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for i in range(1, args.runs + 1):
            for name, src in variants.items():  # alternating, so that both see the same load
                runs[name].append(one_run(work, src, i, quiet=quiet))
        how = "its lines to a pipe" if args.not_quiet else "-q"
        load = os.getloadavg()[0]
        print(f"podrun run (init `true` + app `true`, {how}), {args.runs} runs each, load {load:.2f} at the end")
        for name, done in runs.items():
            totals = [float(r["total"]) for r in done]
            print(f"{name}: process start -> exit: min {min(totals):.1f} ms, median {statistics.median(totals):.1f} ms")
            print("  the fastest run's time line:")
            print_run(min(done, key=lambda r: float(r["total"])))
        if args.json:
            every = [*warm_ups, *(run for done in runs.values() for run in done)]
            sandbox_ids = sorted({i for run in every for i in run["sandbox_ids"]})
            doc = {"benchmark": "run_phases", "work_dir": str(work), "sandbox_ids": sandbox_ids, "runs": runs}
            Path(args.json).write_text(json.dumps(doc, indent=1))
        return 0
    finally:
        # A run that failed may have left its pod: `podrun prune` removes it (and its mounts) before the files go.
        subprocess.run(
            [str(Path(sys.executable).parent / "podrun"), "prune", "--root", str(work / "root"),
             "--run-root", str(work / "run")],
            capture_output=True, check=False,
        )  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
