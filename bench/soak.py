#!/usr/bin/env python3
"""`podrun serve` under a churn of pods: does its memory stay flat?

One `podrun serve` runs as a child process on a temporary root with the offline test images, as in
`api_server.py` (no registry outside the machine is contacted; all traffic stays on 127.0.0.1). The real kubectl
then churns `--pods` busybox pods through it, `--batch` at a time: `kubectl apply` of a batch of pods that run
`true` once (restartPolicy Never), `kubectl wait` until every one Succeeded, `kubectl delete` of the batch
(waiting until they are gone). A `kubectl get pods -w` follows everything meanwhile, as a dashboard would, so the
watch path is under load too.

Before the first pod and after every `--sample-every` pods it records, of the server process: VmRSS, PSS
(`/proc/PID/smaps_rollup`), open file descriptors and threads; and the number of Events stored and the size of the
store's files. The result is the slope of RSS (and PSS) over pods after `--warm-up` pods, by least squares, in KiB
per pod. Goal: **<= 5 KiB per pod** (issue 13: flat memory after a churn of 1,000 pods).

Events live for the server's `--event-ttl` (kube-apiserver's 1 h by default), so within the first hour every pod
leaves its Events behind, by design; the soak runs the server with `--event-ttl 1m` (`--event-ttl` here) so that
what it measures is what stays for good, not what is kept for an hour.

`--json PATH` writes the samples and the slopes, `--png PATH` a chart of RSS and PSS over pods (matplotlib, the
`bench` extra). Only a crash makes the exit status non-zero. Everything made is removed at the end, also after
Ctrl-C or SIGTERM, as `api_server.py` does.

    .venv/bin/python bench/soak.py [--pods 1000] [--batch 20] [--json PATH] [--png PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from api_server import INTERRUPTED, SandboxTracker, Server, _on_signal, clean_up, done_pod, prepare, sweep

JSON = dict[str, Any]
SLOPE_TARGET_KIB = 5.0
SETTLE_SECONDS = 2.0
WAIT_TIMEOUT = "300s"


@dataclass(frozen=True)
class Sample:
    """The server process and its store after `pods` pods have been churned through."""

    pods: int
    seconds: float
    rss_kib: int
    pss_kib: int
    fds: int
    threads: int
    events: int
    store_kib: int


def proc_status_kib(pid: int, field: str) -> int:
    """A `kB` field of /proc/PID/status (VmRSS, ...)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def pss_kib(pid: int) -> int:
    """The process's proportional set size, from /proc/PID/smaps_rollup."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


def threads(pid: int) -> int:
    """The number of threads of the process."""
    return len(os.listdir(f"/proc/{pid}/task"))


def store_kib(root: Path) -> int:
    """The size of the store's files (database, write-ahead log, shared memory)."""
    files = root.glob("api/store.db*")
    return sum(path.stat().st_size for path in files if path.is_file()) // 1024


def sample(server: Server, pods: int, started: float) -> Sample:
    """Measure the server after SETTLE_SECONDS of quiet."""
    assert server.process is not None
    time.sleep(SETTLE_SECONDS)
    pid = server.process.pid
    events = len(server.kubectl("get", "events", "-A", "-o", "name").split())
    return Sample(
        pods=pods,
        seconds=round(time.monotonic() - started, 1),
        rss_kib=proc_status_kib(pid, "VmRSS"),
        pss_kib=pss_kib(pid),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=threads(pid),
        events=events,
        store_kib=store_kib(server.root),
    )


def churn_batch(server: Server, names: list[str]) -> None:
    """Create the pods, wait until all Succeeded, delete them and wait until they are gone."""
    server.kubectl("apply", "-f", "-", stdin="---\n".join(done_pod(name) for name in names))
    phase = "--for=jsonpath={.status.phase}=Succeeded"
    server.kubectl("wait", phase, *[f"pod/{name}" for name in names], f"--timeout={WAIT_TIMEOUT}")
    server.kubectl("delete", "pods", *names, f"--timeout={WAIT_TIMEOUT}", timeout=400)


def slope_kib_per_pod(points: list[tuple[int, int]]) -> float:
    """The least-squares slope of (pods, KiB) points; 0 for fewer than two distinct pod counts."""
    if len({x for x, _ in points}) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in points)
    variance = sum((x - mean_x) ** 2 for x, _ in points)
    return covariance / variance


def slopes(samples: list[Sample], warm_up: int) -> JSON:
    """RSS and PSS slopes over the samples taken after `warm_up` pods (inclusive)."""
    after = [s for s in samples if s.pods >= warm_up]
    return {
        "warm_up_pods": warm_up,
        "rss_kib_per_pod": round(slope_kib_per_pod([(s.pods, s.rss_kib) for s in after]), 2),
        "pss_kib_per_pod": round(slope_kib_per_pod([(s.pods, s.pss_kib) for s in after]), 2),
    }


def churn(server: Server, args: argparse.Namespace, say: Callable[[str], None]) -> list[Sample]:
    """Start the server, churn the pods, sample as it goes; the samples."""
    server.start()
    say(f"podrun serve ready (pid {server.process.pid if server.process else '?'}, port {server.port})")
    watcher = subprocess.Popen(
        server.kubectl_command("get", "pods", "-w"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env=server.env(), text=True,
    )  # fmt: skip
    server.children.append(watcher)  # clean_up terminates it
    started = time.monotonic()
    samples = [sample(server, 0, started)]
    say(_line(samples[-1]))
    done = 0
    while done < args.pods:
        size = min(args.batch, args.pods - done, args.sample_every - done % args.sample_every)
        churn_batch(server, [f"soak-{done + i}" for i in range(size)])
        done += size
        if done % args.sample_every == 0 or done == args.pods:
            samples.append(sample(server, done, started))
            say(_line(samples[-1]))
    if watcher.poll() is not None:
        raise RuntimeError(f"kubectl get pods -w exited {watcher.returncode} during the churn")
    return samples


def _line(s: Sample) -> str:
    return (
        f"{s.pods:5d} pods  {s.seconds:7.1f} s  RSS {s.rss_kib / 1024:6.1f} MiB  PSS {s.pss_kib / 1024:6.1f} MiB  "
        f"fds {s.fds:4d}  threads {s.threads:3d}  events {s.events:5d}  store {s.store_kib:6d} KiB"
    )


def chart(path: Path, samples: list[Sample], result: JSON) -> None:
    """RSS and PSS (MiB) over pods churned, with the slope after warm-up in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pods = [s.pods for s in samples]
    figure, (memory, fds) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, height_ratios=[3, 1])
    memory.plot(pods, [s.rss_kib / 1024 for s in samples], marker="o", label="RSS")
    memory.plot(pods, [s.pss_kib / 1024 for s in samples], marker=".", label="PSS")
    memory.axvline(result["warm_up_pods"], color="grey", linestyle=":", label="end of warm-up")
    memory.set_ylabel("MiB")
    memory.set_ylim(bottom=0)
    memory.legend(loc="lower right")
    memory.set_title(
        f"podrun serve under a churn of {pods[-1]} pods: RSS {result['rss_kib_per_pod']:+.1f} KiB/pod, "
        f"PSS {result['pss_kib_per_pod']:+.1f} KiB/pod after warm-up",
        fontsize=10,
    )
    fds.plot(pods, [s.fds for s in samples], marker="o", color="tab:green")
    fds.set_ylabel("open fds")
    fds.set_ylim(bottom=0)
    fds.set_xlabel("pods created, run and deleted")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def report(samples: list[Sample], result: JSON) -> str:
    """The summary: first and last sample and the slopes against the goal."""
    first, last = samples[0], samples[-1]
    verdict = "holds" if result["rss_kib_per_pod"] <= SLOPE_TARGET_KIB else "MISSED"
    return "\n".join(
        [
            f"pods churned: {last.pods} in {last.seconds:.0f} s",
            f"RSS {first.rss_kib / 1024:.1f} -> {last.rss_kib / 1024:.1f} MiB, "
            f"PSS {first.pss_kib / 1024:.1f} -> {last.pss_kib / 1024:.1f} MiB, "
            f"fds {first.fds} -> {last.fds}, events stored at the end: {last.events}",
            f"slope after {result['warm_up_pods']} pods: RSS {result['rss_kib_per_pod']:.2f} KiB/pod, "
            f"PSS {result['pss_kib_per_pod']:.2f} KiB/pod (goal <= {SLOPE_TARGET_KIB:.0f} KiB/pod: {verdict})",
        ]
    )


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=1000, help="pods to churn (default %(default)s)")
    parser.add_argument("--batch", type=int, default=20, help="pods per kubectl apply (default %(default)s)")
    parser.add_argument("--sample-every", type=int, default=100, help="pods between samples (default %(default)s)")
    parser.add_argument("--warm-up", type=int, default=200, help="pods before the slope counts (default %(default)s)")
    parser.add_argument("--event-ttl", default="1m", help="the server's --event-ttl (default %(default)s)")
    parser.add_argument("--json", type=Path, help="write the samples and slopes here")
    parser.add_argument("--png", type=Path, help="write the chart here (needs matplotlib)")
    args = parser.parse_args()
    if min(args.pods, args.batch, args.sample_every) < 1 or args.warm_up < 0:
        parser.error("--pods, --batch and --sample-every must be positive, --warm-up not negative")
    if args.png and importlib.util.find_spec("matplotlib") is None:
        # Said before the churn, not after it: a long run must not end in an ImportError.
        parser.error("--png needs matplotlib: .venv/bin/pip install -e '.[bench]'")
    return args


def main() -> int:
    """Churn, sample, clean up, report."""
    args = parse_args()
    if os.geteuid() != 0:
        print("needs root (podrun serve runs containers)", file=sys.stderr)
        return 1
    if shutil.which("kubectl") is None:
        print("needs kubectl", file=sys.stderr)
        return 1
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    work = Path(tempfile.mkdtemp(prefix="podrun-bench-", dir="/tmp"))
    tracker = SandboxTracker(work / "root", work / "run")
    server: Server | None = None
    samples: list[Sample] = []
    status = 0
    try:
        server = prepare(work, ("--event-ttl", args.event_ttl))
        samples = churn(server, args, lambda text: print(f"  {text}", flush=True))
    except Exception:
        if not INTERRUPTED.is_set():
            traceback.print_exc()
        status = 130 if INTERRUPTED.is_set() else 1
        print("interrupted: cleaning up" if status == 130 else "failed: cleaning up", file=sys.stderr)
    finally:
        # Nothing interrupts the clean-up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        leftovers = clean_up(server, tracker) if server is not None else sweep(work, tracker.stop())
    if any(leftovers.values()):
        print(f"the server left behind (now removed): {leftovers}", file=sys.stderr)
    result = slopes(samples, min(args.warm_up, samples[-1].pods if samples else 0))
    if args.json:
        doc = {
            "pods": args.pods, "batch": args.batch, "event_ttl": args.event_ttl, **result,
            "samples": [asdict(s) for s in samples], "work_dir": str(work), "sandbox_ids": sorted(tracker.seen),
            "leftovers": leftovers,
        }  # fmt: skip
        args.json.write_text(json.dumps(doc, indent=2))
    if args.png and samples:
        chart(args.png, samples, result)
    if status == 0:
        print(report(samples, result))
    return status


if __name__ == "__main__":
    sys.exit(main())
