#!/usr/bin/env python3
"""Pod start latency: a pod with one init container to Running and Ready, in-process and through `podrun run`.

* In-process: podrun's `Node` on a `LocalRuntime` with a minimal `PodHost`, a pod with an init container `true`
  and an app container `sleep 3600` (busybox, pull policy Always, restartPolicy Always). Timed from the `add_pod`
  call to the status update whose Ready condition is True: sandbox, volumes, the init container's whole life, the
  app's start. One untimed warm-up pod first; after each run the pod is deleted with grace 0, untimed. Target:
  **median <= 300 ms** on a 2-core machine.
* CLI: `podrun run -f pod.yaml --quiet` of a pod with an init container `true` and an app `true` under
  restartPolicy Never, timed from process start to exit (interpreter start, imports, the pod, its removal). One
  untimed warm-up run first. No target: the number is what a user waits for.

The CLI runs with a bytecode cache in the temporary directory (PYTHONPYCACHEPREFIX, PYTHONDONTWRITEBYTECODE
unset): an installed podrun has compiled bytecode, so a cache is what users have, and the repository stays clean.

Timing never changes the exit status: only a crash does. Needs root, runc or crun, and conmon. The root contains
`registries.json` with `{"no_upstream": ["docker.io"]}`, so no registry outside the machine is contacted. Everything
made (directories, mounts, namespaces, conmon processes, cgroups) is removed at the end, also after Ctrl-C. The
harness is `bench/init_handoff.py`'s.

    .venv/bin/python bench/pod_start.py [--quick] [--runs N] [--cli-runs N] [--json PATH] [--oci-runtime crun|runc]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from init_handoff import (
    JSON,
    POD_TIMEOUT,
    BenchEnv,
    BenchHost,
    add_oci_runtime_option,
    describe,
    load_pod,
    pod_is,
    run_guarded,
    sandbox_ids_on_disk,
    summarize,
)

from podrun.kubelet.node import Node

TARGET_MS = 300.0
CLI_STOP_SECONDS = 15  # after Ctrl-C, how long `podrun run` gets to stop its pod before it is killed

IN_PROCESS_MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {{name: start-{index}}}
spec:
  initContainers:
  - {{name: init, image: busybox, command: ['true']}}
  containers:
  - {{name: app, image: busybox, command: [sleep, '3600']}}
"""

CLI_MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {name: cli-start}
spec:
  restartPolicy: Never
  initContainers:
  - {name: init, image: busybox, command: ['true']}
  containers:
  - {name: app, image: busybox, command: ['true']}
"""


# -- in-process ----------------------------------------------------------------------------------------------


def settled(status: JSON) -> bool:
    """Ready, or ended without getting there (so a broken pod fails the run instead of hanging it)."""
    return pod_is(status, "Ready") or status.get("phase") in ("Succeeded", "Failed")


async def start_once(kubelet: Node, host: BenchHost, index: int) -> tuple[float, float]:
    """Seconds from `add_pod` to Initialized True and to Ready True; then the pod is deleted (untimed)."""
    pod = load_pod(IN_PROCESS_MANIFEST.format(index=index))
    uid, name = pod["metadata"]["uid"], pod["metadata"]["name"]
    initialized = host.when(uid, lambda s: pod_is(s, "Initialized") or settled(s))
    ready = host.when(uid, settled)
    started = time.perf_counter()
    worker = kubelet.run_pod(pod)
    try:
        update = await asyncio.wait_for(ready, POD_TIMEOUT)
    except TimeoutError:
        raise RuntimeError(f"pod {name} not Ready after {POD_TIMEOUT:.0f} s: {host.warnings(uid)}") from None
    if not pod_is(update.status, "Ready"):
        raise RuntimeError(f"pod {name} ended {update.status.get('phase')}: {host.warnings(uid)}")
    ready_s, initialized_s = update.at - started, (await initialized).at - started

    # `kubectl delete --grace-period=0`: the deletion the brief asks for. The kubelet still gives each container
    # at least 2 s after SIGTERM, and `sleep` as PID 1 ignores SIGTERM, so the kill is forced as `podrun run`'s
    # second Ctrl-C does; none of this is timed.
    kubelet.delete_pod(worker.pod, 0)
    await kubelet.force_kill(uid)
    await asyncio.wait_for(worker.finished.wait(), POD_TIMEOUT)
    return ready_s, initialized_s


async def in_process(env: BenchEnv, runs: int) -> tuple[list[float], list[float], str]:
    """One warm-up pod, then `runs` timed ones: (seconds to Ready, seconds to Initialized, OCI runtime)."""
    host = BenchHost()
    try:
        runtime, kubelet, _ = await env.open(host)
        await start_once(kubelet, host, 0)  # warm-up: page cache, runc binary, first mounts
        ready, initialized = [], []
        for index in range(1, runs + 1):
            r, i = await start_once(kubelet, host, index)
            ready.append(r)
            initialized.append(i)
        return ready, initialized, runtime.name
    finally:
        await env.close()


# -- the CLI -------------------------------------------------------------------------------------------------


def podrun_command() -> list[str]:
    """The `podrun` console script of this virtualenv (or the module, when the script is not installed)."""
    script = Path(sys.executable).parent / "podrun"
    return [str(script)] if script.exists() else [sys.executable, "-m", "podrun.cli.main"]


def run_cli(command: list[str], environ: dict[str, str]) -> float:
    """Seconds from starting `command` to its exit; raises when it does not exit 0."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate()
    except KeyboardInterrupt:
        # The same Ctrl-C reached podrun (same process group): let it stop its pod and clean up first.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(CLI_STOP_SECONDS)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}: {err.strip() or out.strip()}")
    return elapsed


@contextlib.contextmanager
def sandbox_spy(env: BenchEnv) -> Iterator[None]:
    """Note the IDs of the sandboxes `podrun run` makes under the root, for the leak check of their cgroups.

    The child removes them before it exits; a pod lives for 100 ms or more, so a 5 ms listing finds each one.
    """
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.005):
            env.sandbox_ids |= sandbox_ids_on_disk(env.root, env.run_root)

    thread = threading.Thread(target=watch, name="sandbox-spy", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def cli(env: BenchEnv, runs: int, baseline: str | None = None) -> tuple[list[float], list[float]]:
    """One warm-up run (it also fills the bytecode cache), then `runs` timed runs of `podrun run`; with a
    `baseline` podrun (another installation's script), each timed run is followed by one of the baseline's, so
    both see the same load. Returns (this podrun's seconds, the baseline's seconds)."""
    manifest = env.work / "cli-pod.yaml"
    manifest.write_text(CLI_MANIFEST)
    flags = ["run", "-f", str(manifest), "--root", str(env.root), "--run-root", str(env.run_root), "--quiet",
             "--oci-runtime", env.oci_runtime]  # fmt: skip
    command = [*podrun_command(), *flags]
    other = [baseline, *flags] if baseline else None
    environ = dict(os.environ, PYTHONPYCACHEPREFIX=str(env.work / "pycache"))
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    ours: list[float] = []
    theirs: list[float] = []
    with sandbox_spy(env):
        run_cli(command, environ)
        if other:
            run_cli(other, environ)
        for _ in range(runs):
            ours.append(run_cli(command, environ))
            if other:
                theirs.append(run_cli(other, environ))
    return ours, theirs


# -- report --------------------------------------------------------------------------------------------------


def pod_start_bench(runs: int, cli_runs: int, baseline: str | None = None) -> Callable[[BenchEnv], JSON]:
    """The benchmark body for `run_guarded`: in-process runs, then CLI runs, on the same root."""

    def bench(env: BenchEnv) -> JSON:
        ready, initialized, oci = asyncio.run(in_process(env, runs))
        cli_s, baseline_s = cli(env, cli_runs, baseline)
        ready_ms, initialized_ms, cli_ms, baseline_ms = (
            [s * 1000 for s in xs] for xs in (ready, initialized, cli_s, baseline_s)
        )
        median = summarize(ready_ms)["median"]
        print(f"pod start: init `true` + app `sleep 3600` to Ready, {runs} runs, in-process Node ({oci})")
        print(describe("add_pod -> Initialized True", initialized_ms))
        print(describe("add_pod -> Ready True", ready_ms))
        verdict = "holds" if median <= TARGET_MS else "MISSED"
        print(f"  target median <= {TARGET_MS:.0f} ms: {verdict}")
        print(f"podrun run (CLI): init `true` + app `true`, restartPolicy Never, {cli_runs} runs ({oci})")
        print(describe("process start -> exit", cli_ms))
        if baseline:
            print(f"  baseline {baseline}, alternating with the runs above (load {os.getloadavg()[0]:.2f} at the end)")
            print(describe("baseline: process start -> exit", baseline_ms))
        return {
            "benchmark": "pod_start",
            "oci_runtime": oci,
            "runs": runs,
            "target_ms": TARGET_MS,
            "holds": median <= TARGET_MS,
            "ready_ms": ready_ms,
            "initialized_ms": initialized_ms,
            "summary_ms": summarize(ready_ms),
            "cli_runs": cli_runs,
            "cli_ms": cli_ms,
            "cli_summary_ms": summarize(cli_ms),
            "baseline": baseline,
            "baseline_ms": baseline_ms,
            "baseline_summary_ms": summarize(baseline_ms) if baseline_ms else None,
        }

    return bench


def main() -> int:
    """Command line: `--quick` for 3 runs of each, `--runs N` / `--cli-runs N` otherwise (default 10 and 5)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed in-process pods (default 10)")
    parser.add_argument("--cli-runs", type=int, default=5, help="timed `podrun run` runs (default 5)")
    parser.add_argument("--quick", action="store_true", help="3 runs of each: checks that the benchmark works")
    parser.add_argument("--json", metavar="PATH", help="write the raw numbers to PATH")
    parser.add_argument(
        "--baseline", metavar="PODRUN",
        help="another podrun script (e.g. /work/main/.venv/bin/podrun) whose `podrun run` alternates with this one's",
    )  # fmt: skip
    add_oci_runtime_option(parser)
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (overlay mounts, namespaces, runc)")
    runs, cli_runs = (3, 3) if args.quick else (args.runs, args.cli_runs)
    return run_guarded(pod_start_bench(runs, cli_runs, args.baseline), args.json, args.oci_runtime)


if __name__ == "__main__":
    sys.exit(main())
