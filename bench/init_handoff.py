#!/usr/bin/env python3
"""Init container hand-off: from one init container's exit to the next container's start, through the kubelet.

Each pod has N init containers (`--inits`, default 4) and an app container, all busybox `sh -c 'echo NAME'` under
restartPolicy Never, run in-process by podrun's `Node` on a `LocalRuntime`. A gap is measured for every hand-off
(init-0 -> init-1, ..., init-(N-1) -> app), N per pod:

* end: the timestamp of the finished container's last CRI log line (conmon stamps it when it reads the line: the
  process exits right after it), so conmon's work after the exit (draining, the exit file) is inside the gap;
* start: the timestamp of the next container's first CRI log line (the process was already running: `runc start`
  and the exec of `sh` are inside the gap).

The gap is split into stages from what the runtime reports (`ContainerEvent` arrival, `started_at`) and when the
next container's `prepare_container` (conmon + the OCI runtime's `create`, done ahead by the kubelet) finished, so a
miss says where the time went. The kubelet's own hand-off is about a second (its PLEG relists every second); the
target is **median <= 12 ms, p90 <= 25 ms**. Timing never changes the exit status: only a crash does. One untimed
warm-up pod runs first. Needs root, runc or crun, and conmon. Every root used contains `registries.json` with
`{"no_upstream": ["docker.io"]}`, so `busybox` (pull policy Always) never contacts a registry: the kubelet uses the
imported image. Everything made (directories, mounts, namespaces, conmon processes, cgroups) is removed at the
end, also after Ctrl-C.

`bench/pod_start.py` reuses this file's harness (`BenchEnv`, `BenchHost`, `summarize`, ...).

    .venv/bin/python bench/init_handoff.py [--quick] [--pods N] [--inits N] [--json PATH] [--oci-runtime crun|runc]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from podrun.kubelet import labels
from podrun.kubelet.admission import admit_pod
from podrun.kubelet.node import Node
from podrun.model.manifest import load_manifests
from podrun.runtime import cgroups, linux
from podrun.runtime.images.importer import import_archive
from podrun.runtime.images.store import ImageStore
from podrun.runtime.local import LocalRuntime
from podrun.runtime.logs import read_lines
from podrun.runtime.protocol import ContainerEvent, ContainerStatus, EventKind

REPO = Path(__file__).resolve().parents[1]
JSON = dict[str, Any]
NODE = "podrun-bench"
INIT_CONTAINERS = 4
TARGET_MS = 12.0
TARGET_P90_MS = 25.0
POD_TIMEOUT = 60.0
# Never contact Docker Hub: with no mirror configured either, a pull of docker.io/library/busybox fails as
# "unreachable" at once and the kubelet falls back to the image already in the store.
REGISTRIES = {"no_upstream": ["docker.io"]}


# -- the harness (shared with pod_start.py) ------------------------------------------------------------------


def busybox_archive() -> Path:
    """The busybox test image (built by scripts/build-test-images, or found in its cache)."""
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build-test-images"), "--only", "busybox"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return Path(out.split()[0])


def load_pod(manifest: str) -> JSON:
    """A pod as `podrun run` makes it: loaded, defaulted, validated, then given a UID and bound to the node."""
    return admit_pod(load_manifests([("bench", manifest)]).pods[0], NODE, now=time.time())


def pod_is(status: JSON, condition: str) -> bool:
    """The pod status has `condition` with status True."""
    return any(c.get("type") == condition and c.get("status") == "True" for c in status.get("conditions") or [])


@dataclasses.dataclass
class StatusUpdate:
    """One status the kubelet published, with when (perf_counter seconds)."""

    at: float
    status: JSON


class BenchHost:
    """The smallest `PodHost`: no ConfigMaps or Secrets; keeps each pod's status updates and wakes waiters."""

    node_name = NODE

    def __init__(self) -> None:
        self.updates: dict[str, list[StatusUpdate]] = {}
        self.events: list[JSON] = []
        self._waiters: list[tuple[str, Callable[[JSON], bool], asyncio.Future[StatusUpdate]]] = []

    def get_configmap(self, namespace: str, name: str) -> JSON | None:
        """No ConfigMaps."""
        return None

    def get_secret(self, namespace: str, name: str) -> JSON | None:
        """No Secrets."""
        return None

    def list_services(self, namespace: str) -> list[JSON]:
        """No Services."""
        return []

    def service_account_token(self, pod: JSON, audience: str | None, expiration_seconds: int) -> str | None:
        """No tokens (the benchmark's pods have no service account volume)."""
        return None

    async def update_pod_status(self, pod: JSON, status: JSON) -> None:
        """Timestamp the update first (the measurement), then resolve the waiters it satisfies."""
        update = StatusUpdate(time.perf_counter(), status)
        uid = pod["metadata"]["uid"]
        self.updates.setdefault(uid, []).append(update)
        for waiter in [w for w in self._waiters if w[0] == uid and w[1](status)]:
            self._waiters.remove(waiter)
            if not waiter[2].done():
                waiter[2].set_result(update)

    async def record_event(self, action: Literal["create", "update"], event: JSON) -> None:
        """Keep events: a Warning explains a pod that did not get where it should."""
        if action == "create":
            self.events.append(event)

    async def pod_terminated(self, pod: JSON) -> None:
        """Nothing to do: the bench waits for the worker's `finished`."""

    def when(self, uid: str, predicate: Callable[[JSON], bool]) -> asyncio.Future[StatusUpdate]:
        """A future for the pod's first status update (from now on) matching `predicate`."""
        future: asyncio.Future[StatusUpdate] = asyncio.get_running_loop().create_future()
        self._waiters.append((uid, predicate, future))
        return future

    def warnings(self, uid: str) -> list[str]:
        """`reason: message` of the pod's Warning events."""
        return [
            f"{e.get('reason')}: {e.get('message')}"
            for e in self.events
            if e.get("type") == "Warning" and (e.get("involvedObject") or {}).get("uid") == uid
        ]


class EventLog:
    """Every container event of the runtime, with its arrival time (Unix seconds), from when it is made."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.events: list[tuple[float, ContainerEvent]] = []
        self._subscription = runtime.events()
        self._task = asyncio.create_task(self._collect(), name="bench-events")

    async def _collect(self) -> None:
        async for event in self._subscription:
            self.events.append((time.time(), event))

    def of_pod(self, uid: str) -> dict[tuple[str, EventKind], tuple[float, ContainerStatus]]:
        """{(container name, kind): (arrival, status)} for one pod (its last event of each kind)."""
        found = {}
        for arrival, event in self.events:
            status = event.status
            if status.labels.get(labels.POD_UID) == uid:
                name = status.labels.get(labels.CONTAINER_NAME, status.name)
                found[(name, event.kind)] = (arrival, status)
        return found

    async def close(self) -> None:
        """Stop collecting."""
        self._subscription.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class BenchEnv:
    """A temporary state root and run root under /tmp with busybox imported, and everything to remove them.

    `open()` gives a recovered `LocalRuntime` and a started `Node`; `close()` removes every container and
    sandbox through the runtime; `sweep()` (synchronous, for `finally` after Ctrl-C) removes whatever is left.
    """

    def __init__(self, oci_runtime: str = "auto") -> None:
        self.oci_runtime = oci_runtime  # podrun's --oci-runtime: auto, crun or runc
        self.work = Path(tempfile.mkdtemp(prefix="podrun-bench-", dir="/tmp"))
        self.root, self.run_root = self.work / "root", self.work / "run"
        self.sandbox_ids: set[str] = set()
        self.runtime: LocalRuntime | None = None
        self.kubelet: Node | None = None
        self.events: EventLog | None = None

    def prepare(self, archive: Path) -> None:
        """Write registries.json and import the image (apart from `__init__`, so a Ctrl-C here is swept too)."""
        self.root.mkdir(exist_ok=True)
        (self.root / "registries.json").write_text(json.dumps(REGISTRIES))
        import_archive(ImageStore(self.root), archive)

    async def open(self, host: BenchHost) -> tuple[LocalRuntime, Node, EventLog]:
        """A recovered runtime, a started kubelet on this root, and the log of the runtime's container events."""
        self.runtime = LocalRuntime(self.root, self.run_root, self.oci_runtime)
        await self.runtime.recover()
        self.events = EventLog(self.runtime)
        self.kubelet = Node(self.runtime, host, root=self.root, image_store=self.runtime.images)
        await self.kubelet.start()
        return self.runtime, self.kubelet, self.events

    async def close(self) -> None:
        """Stop the kubelet, then kill and remove every container and sandbox the runtime knows, as pod deletion
        would, and close the runtime (conmon watches, pending exit bookkeeping)."""
        if self.kubelet is not None:
            await self.kubelet.stop()
            self.kubelet = None
        if self.events is not None:
            await self.events.close()
            # The kubelet removes a finished pod's sandbox itself: its ID is known only from the events.
            self.sandbox_ids |= {event.status.sandbox_id for _, event in self.events.events}
            self.events = None
        rt, self.runtime = self.runtime, None
        if rt is not None:
            try:
                await remove_everything(rt, self.sandbox_ids)
            finally:
                await rt.close()

    def sweep(self) -> dict[str, list[str]]:
        """Remove what is left (a fresh runtime adopts it first), then the directories; return what was left.

        Works after an interrupted run: containers still running (even ones whose conmon was killed) are killed
        through their cgroups, mounts are detached, cgroups removed, and the directories deleted.
        """
        self.sandbox_ids |= sandbox_ids_on_disk(self.root, self.run_root)
        with contextlib.suppress(Exception):
            asyncio.run(janitor(self.root, self.run_root, self.sandbox_ids, self.oci_runtime))
        left = leftovers(self.work, self.sandbox_ids)
        pids = {int(p) for p in left["processes"]} | cgroup_pids(self.sandbox_ids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_gone(pids, 5)
        for sandbox_id in self.sandbox_ids:
            cgroups.remove_sandbox_cgroups(sandbox_id)
        linux.unmount_all_under(self.work)
        if not linux.mounts_under(self.work):  # never rm -rf through a mount
            shutil.rmtree(self.work, ignore_errors=True)
        return left


async def remove_everything(rt: LocalRuntime, sandbox_ids: set[str]) -> None:
    """Kill and remove every container and sandbox `rt` knows (remembering the sandbox IDs for the leak check)."""
    for container in await rt.list_containers():
        await rt.stop_container(container.id, 0)
        await rt.remove_container(container.id)
    for sandbox in await rt.list_sandboxes():
        sandbox_ids.add(sandbox.id)
        await rt.remove_sandbox(sandbox.id)


async def janitor(root: Path, run_root: Path, sandbox_ids: set[str], oci_runtime: str = "auto") -> None:
    """Adopt whatever a crashed or interrupted run left under the roots, and remove it through the runtime
    (`oci_runtime`: the one that made the containers)."""
    if not (root / "containers").is_dir():
        return
    rt = LocalRuntime(root, run_root, oci_runtime)
    try:
        await rt.recover()
        await remove_everything(rt, sandbox_ids)
    finally:
        await rt.close()


def sandbox_ids_on_disk(root: Path, run_root: Path) -> set[str]:
    """IDs of every sandbox directory, complete or half-made, in the state and run roots."""
    return {p.name for d in (root / "sandboxes", run_root / "sandboxes") if d.is_dir() for p in d.iterdir()}


def sandbox_cgroup_dirs(sandbox_ids: Iterable[str]) -> list[Path]:
    """`/sys/fs/cgroup/[<hierarchy>/]podrun/<sandbox prefix>` directories that exist."""
    prefixes = {s[:16] for s in sandbox_ids}
    found = [*cgroups.CGROUP_ROOT.glob(f"{cgroups.TOP}/*"), *cgroups.CGROUP_ROOT.glob(f"*/{cgroups.TOP}/*")]
    return sorted(p for p in found if p.name in prefixes)


def cgroup_pids(sandbox_ids: Iterable[str]) -> set[int]:
    """Processes still in the sandboxes' container cgroups (a container whose conmon was killed keeps running)."""
    pids: set[int] = set()
    for pod_dir in sandbox_cgroup_dirs(sandbox_ids):
        for procs in pod_dir.glob("*/cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(line) for line in procs.read_text().split()}
    return pids


def processes_naming(path: Path) -> dict[int, str]:
    """Live processes (conmon, runc, podrun) whose command line mentions `path`: {pid: cmdline}."""
    needle = str(path).encode()
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes()
            if needle in cmdline:
                found[int(proc.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def wait_gone(pids: Iterable[int], timeout: float) -> None:
    """Wait until the processes have exited (killed ones take a moment), at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pending = set(pids)
    while pending and time.monotonic() < deadline:
        pending = {p for p in pending if Path(f"/proc/{p}").exists()}
        if pending:
            time.sleep(0.02)


def leftovers(work: Path, sandbox_ids: Iterable[str]) -> dict[str, list[str]]:
    """What is still there: mounts under `work`, processes naming it, the sandboxes' cgroups."""
    return {
        "mounts": linux.mounts_under(work),
        "processes": [str(pid) for pid in processes_naming(work)],
        "cgroups": [str(p) for p in sandbox_cgroup_dirs(sandbox_ids)],
    }


def log_line_times(path: Path) -> list[float]:
    """Unix times of the lines of a CRI log (RFC3339Nano; microseconds are plenty); at least one."""
    times = [datetime.fromisoformat(line.timestamp.replace("Z", "+00:00")).timestamp() for line in read_lines(path)]
    if not times:
        raise RuntimeError(f"no log line in {path}")
    return times


def summarize(samples_ms: list[float]) -> dict[str, float]:
    """median, p90, min and max of milliseconds."""
    p90 = statistics.quantiles(samples_ms, n=10, method="inclusive")[-1] if len(samples_ms) > 1 else samples_ms[0]
    return {"median": statistics.median(samples_ms), "p90": p90, "min": min(samples_ms), "max": max(samples_ms)}


def describe(label: str, samples_ms: list[float], width: int = 34, indent: int = 2) -> str:
    """One result line: median, p90, min and max in milliseconds."""
    s = summarize(samples_ms)
    return (
        f"{' ' * indent}{label:<{width}} median {s['median']:7.1f} ms   p90 {s['p90']:7.1f}   "
        f"(min {s['min']:.1f}, max {s['max']:.1f}, n={len(samples_ms)})"
    )


def write_json(path: str | None, doc: JSON) -> None:
    """Write the raw numbers when `--json PATH` was given."""
    if path:
        Path(path).write_text(json.dumps(doc, indent=2) + "\n")


def add_oci_runtime_option(parser: argparse.ArgumentParser) -> None:
    """`--oci-runtime auto|crun|runc`, as podrun's own: to measure both runtimes where both work (cgroup v2)."""
    parser.add_argument(
        "--oci-runtime", choices=("auto", "crun", "runc"), default="auto",
        help="the OCI runtime podrun uses: crun where it works, else runc (default %(default)s)",
    )  # fmt: skip


def run_guarded(bench: Callable[[BenchEnv], JSON], json_path: str | None, oci_runtime: str = "auto") -> int:
    """Set up a `BenchEnv` whose runtime uses `oci_runtime`, run `bench` on it, and always sweep; 130 after Ctrl-C.

    The sweep runs in `finally`, after asyncio has cancelled the benchmark (its own cleanup ran then), so a
    Ctrl-C at any point, even a second one during that cleanup, still leaves nothing behind.
    """
    archive = busybox_archive()
    env = BenchEnv(oci_runtime)
    interrupted = False
    result: JSON = {}
    try:
        env.prepare(archive)
        result = bench(env)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        left = env.sweep()
    if any(left.values()):
        print(f"  warning: left behind after the run, removed by the sweep: {left}", file=sys.stderr)
    if interrupted:
        print("interrupted: everything removed", file=sys.stderr)
        return 130
    result.update(work_dir=str(env.work), sandbox_ids=sorted(env.sandbox_ids), leftovers=left)
    write_json(json_path, result)
    return 0


# -- the init hand-off benchmark -----------------------------------------------------------------------------


def handoff_manifest(index: int, inits: int = INIT_CONTAINERS) -> str:
    """`inits` init containers and an app, each printing one line as it starts (busybox: pull policy Always)."""
    names = [f"init-{k}" for k in range(inits)]
    inits_yaml = "".join(f"\n  - {{name: {n}, image: busybox, command: [sh, -c, 'echo {n}']}}" for n in names)
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: handoff-{index}}}
spec:
  restartPolicy: Never
  initContainers:{inits_yaml}
  containers:
  - {{name: app, image: busybox, command: [sh, -c, 'echo app']}}
"""


@dataclasses.dataclass
class Gap:
    """One hand-off, in Unix seconds: the previous container's exit and the next one's stages."""

    pod: str
    previous: str
    next: str
    last_line: float  # previous: its last log line
    exited: float  # previous: finished_at (the mtime of conmon's exit file: the kernel's coarse clock)
    exit_event: float  # previous: its EXITED event reached this process
    prepared: float  # next: its `prepare_container` (conmon + the OCI runtime's `create`) returned
    runc_start: float  # next: started_at (`runc start` about to run)
    start_returned: float  # next: its STARTED event reached this process (`runc start` exited)
    first_line: float  # next: its first log line

    @property
    def ms(self) -> float:
        """The gap: the previous container's last line to the next container's first line."""
        return (self.first_line - self.last_line) * 1000


STAGES = (
    ("last line -> exit file", "exit, conmon drains, writes the exit file", "last_line", "exited"),
    ("exit file -> exit event", "conmon exits, pidfd, exit file, record", "exited", "exit_event"),
    ("exit event -> runc start", "the kubelet's reaction", "exit_event", "runc_start"),
    ("runc start -> first line", "runc start, exec sh, conmon reads", "runc_start", "first_line"),
    ("runc start -> started event", "the `runc start` process alone", "runc_start", "start_returned"),
    ("exit file -> next prepared", "negative: prepared ahead", "exited", "prepared"),
)


class PrepareClock:
    """When each container's `prepare_container` first returned (Unix seconds): wraps the runtime's method, which
    `start_container` also calls, so a container created at its start is timed too."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.done: dict[str, float] = {}
        original = runtime.prepare_container

        async def timed(container_id: str) -> None:
            await original(container_id)
            self.done.setdefault(container_id, time.time())

        runtime.prepare_container = timed  # type: ignore[method-assign]


async def run_handoff_pod(
    kubelet: Node, host: BenchHost, events: EventLog, clock: PrepareClock, index: int, names: list[str]
) -> list[Gap]:
    """Run one pod to Succeeded and return its hand-offs."""
    pod = load_pod(handoff_manifest(index, len(names) - 1))
    uid, name = pod["metadata"]["uid"], pod["metadata"]["name"]
    worker = kubelet.run_pod(pod)
    await asyncio.wait_for(worker.finished.wait(), POD_TIMEOUT)
    if worker.pod["status"].get("phase") != "Succeeded":
        raise RuntimeError(f"pod {name} ended {worker.pod['status'].get('phase')}: {host.warnings(uid)}")
    seen = events.of_pod(uid)
    gaps = []
    for previous, following in itertools.pairwise(names):
        exit_event, exited = seen[(previous, EventKind.EXITED)]
        start_returned, started = seen[(following, EventKind.STARTED)]
        if exited.exit_code != 0:
            raise RuntimeError(f"{name}/{previous} exited {exited.exit_code}: {exited.message}")
        gaps.append(
            Gap(
                pod=name, previous=previous, next=following,
                last_line=log_line_times(kubelet.paths.log_path(pod, previous, 0))[-1],
                exited=exited.finished_at, exit_event=exit_event,
                prepared=clock.done[started.id], runc_start=started.started_at, start_returned=start_returned,
                first_line=log_line_times(kubelet.paths.log_path(pod, following, 0))[0],
            )
        )  # fmt: skip
    return gaps


def handoff_bench(pods: int, inits: int) -> Callable[[BenchEnv], JSON]:
    """The benchmark body for `run_guarded`: one warm-up pod, then `pods` timed pods, one after another."""

    async def measure(env: BenchEnv) -> tuple[list[Gap], str]:
        host = BenchHost()
        try:
            runtime, kubelet, events = await env.open(host)
            clock = PrepareClock(runtime)
            names = [f"init-{k}" for k in range(inits)] + ["app"]
            # warm-up: page cache, runc binary, first mounts
            await run_handoff_pod(kubelet, host, events, clock, 0, names)
            gaps = []
            for index in range(1, pods + 1):
                gaps += await run_handoff_pod(kubelet, host, events, clock, index, names)
            return gaps, runtime.name
        finally:
            await env.close()

    def bench(env: BenchEnv) -> JSON:
        gaps, oci = asyncio.run(measure(env))
        return report(gaps, pods, inits, oci)

    return bench


def report(gaps: list[Gap], pods: int, inits: int, oci: str) -> JSON:
    """Print the gaps, their stages and the verdict; return the raw numbers."""
    ms = [g.ms for g in gaps]
    summary = summarize(ms)
    holds = summary["median"] <= TARGET_MS and summary["p90"] <= TARGET_P90_MS
    late = sum(1 for g in gaps if g.prepared > g.exited)
    load = os.getloadavg()[0]
    print(f"init container hand-off: {pods} pods x {inits} hand-offs, in-process Node ({oci}), load {load:.2f}")
    print("  gap = next container's first log line - previous container's last log line")
    print(describe("hand-off gap", ms))
    print("  where the time goes (each stage's own median; they need not add up to the gap's):")
    for label, what, start, end in STAGES:
        stage = [(getattr(g, end) - getattr(g, start)) * 1000 for g in gaps]
        print(describe(f"{label} ({what})", stage, width=62, indent=4))
    print(f"  next container not yet prepared at the exit: {late} of {len(gaps)}")
    verdict = "holds" if holds else "MISSED"
    print(f"  target median <= {TARGET_MS:.0f} ms, p90 <= {TARGET_P90_MS:.0f} ms (the kubelet: ~1 s): {verdict}")
    return {
        "benchmark": "init_handoff",
        "oci_runtime": oci,
        "pods": pods,
        "inits": inits,
        "load": os.getloadavg(),
        "target_ms": TARGET_MS,
        "target_p90_ms": TARGET_P90_MS,
        "holds": holds,
        "gap_ms": ms,
        "summary_ms": summary,
        "not_prepared_at_exit": late,
        "stages_ms": {
            label: [(getattr(g, end) - getattr(g, start)) * 1000 for g in gaps] for label, _, start, end in STAGES
        },
        "gaps": [dataclasses.asdict(g) for g in gaps],
    }


def main() -> int:
    """Command line: `--quick` for a 3-pod smoke check, `--pods N` otherwise (default 10), `--inits N` (default 4)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=10, help="timed pods (default 10)")
    parser.add_argument("--inits", type=int, default=INIT_CONTAINERS, help="init containers per pod, one hand-off each")
    parser.add_argument("--quick", action="store_true", help="3 pods: checks that the benchmark works")
    parser.add_argument("--json", metavar="PATH", help="write the raw numbers to PATH")
    add_oci_runtime_option(parser)
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (overlay mounts, namespaces, runc)")
    if args.inits < 1:
        parser.error("--inits must be at least 1")
    return run_guarded(handoff_bench(3 if args.quick else args.pods, args.inits), args.json, args.oci_runtime)


if __name__ == "__main__":
    sys.exit(main())
