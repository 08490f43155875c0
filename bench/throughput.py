#!/usr/bin/env python3
"""Many pods at once, pod start and teardown under `podrun serve` (and `podrun run`): this podrun against another
installation, alternating run by run, and the floor the OCI runtime and CNI set on the same machine.

Each podrun gets its own roots and its own `podrun serve` (started once, untimed), the offline busybox imported, and
`registries.json` = `{"no_upstream": ["docker.io"]}` (`compare/podrun_side.py`). Per round, for each podrun in turn
(the order flips every round, after one untimed warm-up round):

* **many**: N pods (init `true` + app `sleep 3600`, bench/compare.py's case 4 pod) in one manifest, `kubectl apply`
  until every pod is Ready, seen by one `kubectl get -w` started before the apply (polling with a kubectl process
  every 20 ms, as compare.py does, costs a core's share of CPU on this machine). The serve's own CPU time in that
  interval (user + sys from /proc) and that of the children it waited for (`unshare`, CNI plugins, `runc start`,
  `runc delete`; conmon and `runc create` run detached) are recorded. Then all are force-deleted, timed until the
  runtime holds no container and no sandbox ("N deleted");
* **start + teardown**: one such pod, `kubectl apply` + `kubectl wait --for=condition=Ready`; `kubectl get pod NAME`
  alone (what one kubectl process costs against the serve: the part of the start that is kubectl's); then
  `kubectl delete --grace-period=0 --force --wait=false` until its containers and sandbox are gone;
* **many under `podrun run`**: the same N pods through `podrun run -f` to the line showing the last one Running (its
  CPU time up to then, its own and its reaped children's), then Ctrl-C twice to its exit;
* **run teardown**: `podrun run -f` of one pod to its Running line, Ctrl-C, Ctrl-C, to its exit.

Then, in the same run, the floor (`floor.py`): 2N `runc create` + `runc start` and N CNI ADDs (ptp + host-local),
two at a time (the machine has two cores), wall time and CPU time.

Everything is made under `/tmp/podrun-tput-*` and removed at the end (serve's pods deleted, serves stopped, a janitor
for what is left), also after Ctrl-C.

    .venv/bin/python bench/throughput.py --baseline /work/main/.venv/bin/podrun [--runs 5] [--pods 20] [--json F]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, cast

from compare.common import JSON, BenchError, to_yaml
from compare.podrun_side import Podrun, PodrunRun, podrun_command
from floor import busybox_archive, measure_floor

from podrun.runtime import linux

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def container(name: str, *command: str) -> JSON:
    """A busybox container that is never pulled."""
    return {"name": name, "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": list(command)}


def start_pod(name: str, group: str) -> JSON:
    """bench/compare.py's case 1 pod: init `true`, app `sleep 3600`, restartPolicy OnFailure."""
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"podrun-tput": group}},
        "spec": {"restartPolicy": "OnFailure", "initContainers": [container("init", "true")],
                 "containers": [container("app", "sleep", "3600")]},
    }  # fmt: skip


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(the process's own user+sys, its waited-for children's user+sys), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = int(fields[11]) + int(fields[12])
    children = int(fields[13]) + int(fields[14])
    return own / CLOCK_TICKS, children / CLOCK_TICKS


class Side:
    """One podrun installation: its serve, the numbers of its rounds."""

    def __init__(self, name: str, work: Path, command: list[str]) -> None:
        self.name = name
        self.podrun = Podrun(work, command)
        self.samples: dict[str, list[float]] = {}

    def note(self, key: str, value: float) -> None:
        """Keep one sample (ms or s as the key says)."""
        self.samples.setdefault(key, []).append(value)

    @property
    def serve_pid(self) -> int:
        """The serve's process ID."""
        assert self.podrun.serve is not None
        return self.podrun.serve.pid

    def all_ready_watch(self, selector: str) -> subprocess.Popen[str]:
        """`kubectl get pods -l SELECTOR -w -o json`, started and given a moment to open its watch."""
        watch = subprocess.Popen(
            self.podrun.kubectl_command("get", "pods", "-l", selector, "-w", "-o", "json"),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        time.sleep(1)  # kubectl's start and its empty list; not part of any timing
        return watch

    def many(self, index: int, pods: int) -> None:
        """N pods at once to all Ready, then all force-deleted to nothing left."""
        group = f"many-{self.name}-{index}"
        text = to_yaml(*(start_pod(f"{group}-{k}", group) for k in range(pods)))
        watch = self.all_ready_watch(f"podrun-tput={group}")
        try:
            own, children = cpu_seconds(self.serve_pid)
            began = time.perf_counter()
            self.podrun.kubectl("apply", "-f", "-", stdin=text, timeout=300)
            applied = time.perf_counter()
            ended = wait_ready(cast(IO[str], watch.stdout), pods)
            own_after, children_after = cpu_seconds(self.serve_pid)
        finally:
            watch.terminate()
            watch.wait()
        self.podrun.sandbox_ids |= self.podrun.sandboxes_on_disk()
        deleting = time.perf_counter()
        self.podrun.delete_all_pods(timeout=300)
        deleted = time.perf_counter()
        if index:
            self.note("many_running_ms", (ended - began) * 1000)
            self.note("many_apply_ms", (applied - began) * 1000)
            self.note("many_serve_cpu_s", own_after - own)
            self.note("many_children_cpu_s", children_after - children)
            self.note("many_deleted_ms", (deleted - deleting) * 1000)

    def many_run(self, index: int, pods: int, manifests: Path) -> None:
        """N pods at once under `podrun run` to all Running (its CPU time up to then), then Ctrl-C twice to exit."""
        group = f"many-run-{self.name}-{index}"
        names = [f"{group}-{k}" for k in range(pods)]
        path = manifests / f"{group}.yaml"
        path.write_text(to_yaml(*(start_pod(name, group) for name in names)))
        proc = PodrunRun(self.podrun, path)
        running = proc.wait_running(set(names), timeout=300) - proc.started
        own, children = cpu_seconds(proc.proc.pid)
        stopped = proc.interrupt(timeout=180)
        if index:
            self.note("many_run_running_ms", running * 1000)
            self.note("many_run_cpu_s", own + children)
            self.note("many_run_stopped_ms", stopped * 1000)

    def start_and_teardown(self, index: int) -> None:
        """One pod: apply + wait Ready; one plain kubectl get; force delete until its containers and sandbox go."""
        name = f"one-{self.name}-{index}"
        began = time.perf_counter()
        self.podrun.kubectl("apply", "-f", "-", stdin=to_yaml(start_pod(name, name)))
        self.podrun.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=120s")
        running = time.perf_counter() - began
        got = time.perf_counter()
        self.podrun.pod(name)
        kubectl_get = time.perf_counter() - got
        teardown = self.podrun.force_delete(name)
        if index:
            self.note("start_ms", running * 1000)
            self.note("kubectl_get_ms", kubectl_get * 1000)
            self.note("teardown_ms", teardown * 1000)

    def run_teardown(self, index: int, manifests: Path) -> None:
        """`podrun run` of one pod to Running, then Ctrl-C twice to its exit."""
        name = f"run-{self.name}-{index}"
        path = manifests / f"{name}.yaml"
        path.write_text(to_yaml(start_pod(name, name)))
        proc = PodrunRun(self.podrun, path)
        running = proc.wait_running({name}) - proc.started
        stopped = proc.interrupt()
        if index:
            self.note("run_start_ms", running * 1000)
            self.note("run_teardown_ms", stopped * 1000)


def wait_ready(stream: IO[str], pods: int, timeout: float = 300) -> float:
    """Read `kubectl get -w -o json`'s objects until `pods` distinct pods were Ready; perf_counter then."""
    decoder = json.JSONDecoder()
    ready: set[str] = set()
    buffer = ""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        line = stream.readline()
        if not line:
            raise BenchError("kubectl get -w ended")
        buffer += line
        try:
            pod, _ = decoder.raw_decode(buffer.strip())
        except ValueError:
            continue
        buffer = ""
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            ready.add(pod["metadata"]["name"])
            if len(ready) == pods:
                return time.perf_counter()
    raise BenchError(f"{pods} pods Ready: not after {timeout:.0f} s")


def describe(values: list[float]) -> str:
    """median (p90), or '-'."""
    if not values:
        return "-"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):.0f} ({p90:.0f})" if ordered[-1] >= 10 else f"{statistics.median(ordered):.2f}"


ROWS = [
    ("many_running_ms", "N pods at once → all Ready, ms"),
    ("many_apply_ms", "  of which `kubectl apply`, ms"),
    ("many_serve_cpu_s", "  serve's own CPU in it, s"),
    ("many_children_cpu_s", "  its waited-for children's CPU, s"),
    ("many_deleted_ms", "N pods force-deleted → gone, ms"),
    ("many_run_running_ms", "`podrun run` of N pods → all Running, ms"),
    ("many_run_cpu_s", "  its CPU (own + reaped children), s"),
    ("many_run_stopped_ms", "  Ctrl-C Ctrl-C → exit, ms"),
    ("start_ms", "1 pod: apply + wait Ready, ms"),
    ("kubectl_get_ms", "  one `kubectl get pod` alone, ms"),
    ("teardown_ms", "1 pod: delete --force → gone, ms"),
    ("run_start_ms", "`podrun run` → Running, ms"),
    ("run_teardown_ms", "`podrun run` Ctrl-C Ctrl-C → exit, ms"),
]


def main() -> int:
    """Command line; see the module's docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another installation's `podrun` console script")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (5), after one warm-up round")
    parser.add_argument("--pods", type=int, default=20, help="pods created at once (20)")
    parser.add_argument("--no-floor", action="store_true", help="skip the OCI runtime / CNI floor")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root")
    work = Path(tempfile.mkdtemp(prefix="podrun-tput-", dir="/tmp"))
    sides = [Side("this", work / "this", podrun_command())]
    if args.baseline:
        sides.append(Side("baseline", work / "baseline", [str(args.baseline)]))
    (work / "manifests").mkdir()
    load_before = os.getloadavg()
    floor: JSON = {}
    try:
        archive = busybox_archive()
        for side in sides:
            side.podrun.prepare([archive])
            side.podrun.start_serve()
        for index in range(args.runs + 1):
            for side in sides if index % 2 else sides[::-1]:
                side.many(index, args.pods)
                side.many_run(index, args.pods, work / "manifests")
                side.start_and_teardown(index)
                side.run_teardown(index, work / "manifests")
            print(f"round {index}{' (warm-up)' if index == 0 else ''} done, load {os.getloadavg()[0]:.1f}", flush=True)
        if not args.no_floor:
            floor = measure_floor(work / "floor", archive, args.pods)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for side in sides:
            with contextlib.suppress(Exception):
                side.podrun.cleanup()
        linux.unmount_all_under(work)
        if not linux.mounts_under(work):
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.pods} pods; {args.runs} rounds; load {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; "
          "median (p90)")  # fmt: skip
    header = f"{'':42}" + "".join(f"{side.name:>18}" for side in sides)
    print(header)
    for key, label in ROWS:
        print(f"{label:42}" + "".join(f"{describe(side.samples.get(key, [])):>18}" for side in sides))
    if floor:
        print(f"\nfloor, two at a time: {json.dumps(floor)}")
    if args.json:
        sandbox_ids = sorted(set().union(*(side.podrun.sandbox_ids for side in sides)))
        doc = {"pods": args.pods, "runs": args.runs, "load_before": load_before, "load_after": os.getloadavg(),
               "sides": {side.name: side.samples for side in sides}, "floor": floor, "work_dir": str(work),
               "sandbox_ids": sandbox_ids}  # fmt: skip
        args.json.write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
