"""The measured floors: what the parts podrun builds on cost by themselves, measured in the same run as the cases.

A goal of issue 12 ("pod start ≤ 0.25x Podman") cannot be met when the work no implementation can skip already
costs more. This module measures those parts alone, once per round of the cases, and adds them up
per case as a **floor**, shown beside the goal:

* `create_start`: the OCI runtime's own `create` + `start` of a busybox `true` bundle (an overlay of podrun's
  busybox layers, `runc spec`'s config without a network namespace), from the `create` call to `start`'s return;
  `start`: the `start` alone, of the container already created (how podrun starts app containers and sidecars);
  `handoff_start`: the start of a regular init container as podrun does it, for runc without a `runc start`
  process: the byte the container's init writes into its exec fifo, the fifo's removal, the read to its end (the
  exec; `podrun.runtime.exec_fifo`), measured on a second run of the bundle; crun's is `crun start`;
* `delete`: `runc delete` of that container once it exited;
* `cni_add` / `cni_del`: podrun's CNI ADD and DEL (ptp + host-local, `podrun.network.cni.Cni`) of one fresh pod
  network namespace, in a node namespace of its own (not serve's);
* `imports`: a Python interpreter started with `import podrun.cli.main, podrun.cli.run` (what `podrun run`
  imports before it reads a manifest), to its `os._exit` (how `podrun run` ends); `python`: the interpreter
  alone (`-c pass`), in no formula: it shows how much of `imports` is podrun's own modules;
* `kubectl`: `kubectl version --client` (the process start every kubectl call pays, without the API);
* `wait_poll`: not measured, 100 ms: `kubectl wait` checks its informer's cache only every 100 ms (client-go's
  `WaitForCacheSync`, whose first look comes before the list has returned), so it returns no sooner than 100 ms
  after it starts watching, even for a pod Ready long before (measured against serve: `kubectl wait` of a Ready pod
  150 ms, `kubectl get` of it 47 ms; with `-v=6`, 99 ms from the watch request to the reflector's stop).

A case's floor is a sum of these medians (`FORMULAS`), e.g. `podrun run`'s pod start = imports + CNI ADD +
create+start + start: a container created while the one before it runs (podrun prepares the containers after an
init container as that one starts, and a pod's app containers after the first as the first starts) pays only its
`start` on the way. For N pods at once the per-pod parts are
divided by the CPUs (perfect parallelism): a lower bound, not an estimate. nginx's own start (case 3) and the
containers' exits are not in any floor.

The components are sampled once per round of each case (`FloorSampler.sample`, after one warm-up), so a case and
its floor see the same load; a case's floor uses the samples taken during its own rounds. A component that fails
is recorded with its reason (`errors`), not sampled again, and the floors that need it are left out: a floor
never stops the run. Everything made (mounts, namespaces, runc state, cgroups, IPAM files) is under the work
directory or removed here.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from compare.common import JSON, BenchError, run
from podrun.network import netns
from podrun.network.cni import Cni
from podrun.network.config import NetworkConfig
from podrun.runtime import exec_fifo, linux
from podrun.runtime.images.store import ImageStore

T = TypeVar("T")
CGROUP_ROOT = Path("/sys/fs/cgroup")
LABELS = {
    "create_start": "OCI runtime create + start, busybox `true`",
    "start": "OCI runtime start alone, container created",
    "handoff_start": "an init container's start (runc: its exec fifo read, as podrun does it)",
    "delete": "OCI runtime delete, exited container",
    "cni_add": "CNI ADD (ptp + host-local), one pod netns",
    "cni_del": "CNI DEL, one pod netns",
    "python": "python alone (`-c pass`), to exit",
    "imports": "python + `podrun run`'s imports, `os._exit`",
    "kubectl": "kubectl process (`version --client`)",
}
FIXED_MS = {"wait_poll": 100.0}  # see the module's docstring
# (case key, variant key) → the components each pod run needs at least once ({component: times}); `per_pod`
# parts are multiplied by the case's pod count and divided by the CPUs.
FORMULAS: dict[tuple[str, str], tuple[dict[str, int], dict[str, int]]] = {
    ("start", "run"): ({"imports": 1}, {"cni_add": 1, "create_start": 1, "start": 1}),
    # `kubectl wait` starts once `kubectl apply` has returned, and the pod starts while wait's process does: the
    # variants that wait are kubectl's own time (apply, wait with its poll, and port-forward) once the pod is Ready
    # within it (measured: Ready 135 ms after the apply began, wait back at 225-235 ms).
    ("start", "serve"): ({"kubectl": 2, "wait_poll": 1}, {}),
    ("handoff", "serve"): ({}, {"handoff_start": 3}),
    ("seed", "serve"): ({"kubectl": 3, "wait_poll": 1}, {}),
    # Case 3's pod, nginx and a sidecar: the sidecar is created while nginx is created and starts. A pod applied to
    # serve alone takes its spare sandbox, whose namespace and address were made between pods (no CNI ADD on the
    # way); of N pods at once only the first does.
    ("seed", "hostport"): ({"kubectl": 1}, {"create_start": 1, "start": 1}),
    ("seed", "run"): ({"imports": 1}, {"cni_add": 1, "create_start": 1, "start": 1}),
    ("many", "run"): ({"imports": 1}, {"cni_add": 1, "create_start": 2}),
    ("many", "serve"): ({"kubectl": 1}, {"cni_add": 1, "create_start": 2}),
    # `podrun run`, the last one out, removes the node namespace instead of a CNI DEL per pod.
    ("teardown", "run"): ({}, {"delete": 1}),
    ("teardown", "serve"): ({"kubectl": 1}, {"delete": 1, "cni_del": 1}),
    # Case 8: the app is created while the init container runs; the last one out removes the node namespace.
    ("run_exit", "run"): ({"imports": 1}, {"cni_add": 1, "create_start": 1, "start": 1, "delete": 1}),
    # One hand-off: the next container, created ahead, pays its `start` (its exit and podrun's notice are extra).
    ("handoff6", "serve"): ({}, {"handoff_start": 1}),
}
SAMPLED_WITH = {"teardown": "start"}  # case 5 is measured in case 1's rounds
# Issue 12's goals: podrun's median at most this share of Podman's.
GOALS = {"start": 0.25, "handoff": 0.05, "seed": 0.5, "many": 0.07, "teardown": 0.2}
# Issue 12's goals in milliseconds (case 8, podrun's own): (case key, statistic) → at most this.
GOALS_MS = {("run_exit", "median"): 300.0, ("handoff6", "median"): 12.0, ("handoff6", "p90"): 25.0}


# -- the components ----------------------------------------------------------------------------------------------


class RawContainer:
    """A busybox `true` bundle run by the OCI runtime alone, on its own `--root` under `dir`."""

    def __init__(self, runtime: str, image_root: Path, dir: Path) -> None:
        self.runtime, self.dir = runtime, dir
        self.state, self.bundle = dir / "state", dir / "bundle"
        self.id = f"podrun-cmp-floor-{os.getpid()}"
        self.cgroup = f"/{self.id}"
        store = ImageStore(image_root)
        image = store.resolve("busybox")
        if image is None:
            raise BenchError(f"no busybox image under {image_root}")
        rootfs = self.bundle / "rootfs"
        for sub in ("upper", "work", "rootfs"):
            (self.bundle / sub).mkdir(parents=True)
        self.state.mkdir()
        lower = ":".join(str(p) for p in reversed(store.layer_dirs(image)))
        linux.mount("overlay", rootfs, "overlay", 0,
                    f"lowerdir={lower},upperdir={self.bundle / 'upper'},workdir={self.bundle / 'work'}")  # fmt: skip
        subprocess.run([runtime, "spec"], cwd=self.bundle, check=True, capture_output=True)
        spec = json.loads((self.bundle / "config.json").read_text())
        spec["process"].update(terminal=False, args=["true"])
        spec["root"] = {"path": str(rootfs), "readonly": False}
        # podrun's containers join their sandbox's network namespace; a new one here would add its own cost.
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]
        spec["linux"]["cgroupsPath"] = self.cgroup
        (self.bundle / "config.json").write_text(json.dumps(spec))

    def _runtime(self, *args: str) -> None:
        # The container inherits stdio: a pipe would stay open until it exits, so its output goes to a file.
        with open(self.dir / "runtime.log", "ab") as log:
            code = subprocess.run([self.runtime, f"--root={self.state}", *args], stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=log, timeout=30).returncode  # fmt: skip
        if code != 0:
            tail = (self.dir / "runtime.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise BenchError(f"{self.runtime} {args[0]} exited {code}: {' '.join(tail)}")

    def _stopped(self) -> bool:
        out = subprocess.run([self.runtime, f"--root={self.state}", "state", self.id], capture_output=True,
                             text=True, timeout=30).stdout  # fmt: skip
        return bool(out) and json.loads(out).get("status") == "stopped"

    def once(self) -> tuple[float, float, float, float]:
        """(seconds of create + start, of the start alone, of delete once `true` exited; of a hand-off's start)."""
        create_start, start, delete = self._run(lambda: self._runtime("start", self.id))
        if Path(self.runtime).name != "runc":
            return create_start, start, delete, start
        return create_start, start, delete, self._run(self._start_through_exec_fifo)[1]

    def _run(self, start: Callable[[], None]) -> tuple[float, float, float]:
        """One create, `start`, exit and delete: (create + start, start, delete) in seconds."""
        began = time.perf_counter()
        self._runtime("create", "--bundle", str(self.bundle), self.id)
        starting = time.perf_counter()
        start()
        started = time.perf_counter()
        deadline = time.monotonic() + 10
        while not self._stopped():
            if time.monotonic() > deadline:
                raise BenchError(f"{self.id}: `true` still running after 10 s")
            time.sleep(0.005)
        deleting = time.perf_counter()
        self._runtime("delete", self.id)
        return started - began, started - starting, time.perf_counter() - deleting

    def _start_through_exec_fifo(self) -> None:
        """What `podrun.runtime.exec_fifo.start` does, without its event loop: read the init's byte, remove the fifo."""
        fifo = self.state / self.id / exec_fifo.FIFO_NAME
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not select.select([fd], [], [], 10)[0] or len(os.read(fd, 1)) != 1:
                raise BenchError(f"{self.id}: its init wrote nothing into {fifo} within 10 s")
            fifo.unlink()
            os.set_blocking(fd, True)
            while os.read(fd, 4096):  # to the end: the init's exec closes its end
                pass
        finally:
            os.close(fd)

    def remove(self) -> None:
        """The container (if a run broke off), the overlay and the cgroup."""
        subprocess.run([self.runtime, f"--root={self.state}", "delete", "--force", self.id], capture_output=True,
                       timeout=30, check=False)  # fmt: skip
        linux.unmount_all_under(self.bundle)
        for cgroup in CGROUP_ROOT.glob(f"*{self.cgroup}"):
            with contextlib.suppress(OSError):
                cgroup.rmdir()


class CniFloor:
    """podrun's CNI ADD and DEL of fresh pod namespaces, in a node namespace of its own under `dir` (not serve's)."""

    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.config = NetworkConfig(state_dir=dir / "state", run_dir=dir / "run")
        self.cni = Cni(self.config, self.config.node_netns_path)
        self.count = 0
        netns.create(self.config.node_netns_path, self.config.service_cidr,
                     [self.config.dns_ip, self.config.node_gateway])  # fmt: skip
        self.cni.write_conflist()

    def once(self) -> tuple[float, float]:
        """(seconds of ADD, seconds of DEL) of one new pod namespace, removed afterwards."""
        self.count += 1
        pin, sandbox = self.dir / f"pod-{self.count}", f"floor-{self.count}"
        pin.touch()
        run(["unshare", f"--net={pin}", "true"])
        try:
            began = time.perf_counter()
            self.cni.add(sandbox, pin)
            added = time.perf_counter()
            self.cni.delete(sandbox)
            return added - began, time.perf_counter() - added
        finally:
            netns.remove(pin)

    def remove(self) -> None:
        """Every attachment left and the node namespace (its veths go with it)."""
        node = self.config.node_netns_path
        if netns.exists(node):
            with contextlib.suppress(Exception):
                self.cni.reclaim(set())
        netns.remove(node)


class FloorSampler:
    """The components, one sample of each per round of the cases (so the same load hits the cases and their
    floors), kept per case; a component that fails is recorded and not sampled again."""

    def __init__(self, work: Path, runtime: str, image_root: Path, podrun_env: Mapping[str, str],
                 kubectl: list[str]) -> None:  # fmt: skip
        self.dir = work / "floors"
        self.dir.mkdir(exist_ok=True)
        self.errors: dict[str, str] = {}
        self.samples: dict[str, dict[str, list[float]]] = {}  # case key → component → ms
        self._container = self._attempt("runtime", lambda: RawContainer(runtime, image_root, self.dir / "runtime"))
        self._cni = self._attempt("cni", lambda: CniFloor(self.dir / "cni"))
        python = [sys.executable, "-c"]
        self._commands: dict[str, tuple[list[str], Mapping[str, str] | None]] = {
            "python": ([*python, "pass"], podrun_env),
            # `podrun run` ends with `os._exit`: the interpreter's own teardown (~40 ms here) is no part of it.
            "imports": ([*python, "import os, podrun.cli.main, podrun.cli.run; os._exit(0)"], podrun_env),
            "kubectl": ([*kubectl, "version", "--client"], None),
        }
        self.sample(None)  # the warm-up: page cache, binaries, the first overlay lookup, bytecode

    def _attempt(self, name: str, step: Callable[[], T]) -> T | None:
        try:
            return step()
        except Exception as e:  # a floor is context: whatever broke is recorded, and the run goes on
            self.errors[name] = f"{type(e).__name__}: {e}"
            return None

    def sample(self, case: str | None) -> None:
        """One sample of each component that still works, noted under `case` (None: untimed warm-up)."""
        found: dict[str, float] = {}
        if self._container is not None:
            runtime_times = self._attempt("runtime", self._container.once)
            if runtime_times is None:
                self._container = None
            else:
                create_start, start, delete, handoff_start = runtime_times
                found.update(create_start=create_start * 1000, start=start * 1000, delete=delete * 1000,
                             handoff_start=handoff_start * 1000)  # fmt: skip
        if self._cni is not None:
            cni_times = self._attempt("cni", self._cni.once)
            if cni_times is None:
                self._cni = None
            else:
                found.update(cni_add=cni_times[0] * 1000, cni_del=cni_times[1] * 1000)
        for name, (command, env) in list(self._commands.items()):
            result = self._attempt(name, functools.partial(run, command, env=env))
            if result is None:
                del self._commands[name]
            else:
                found[name] = result.seconds * 1000
        if case is not None:
            for name, ms in found.items():
                self.samples.setdefault(case, {}).setdefault(name, []).append(ms)

    def close(self) -> None:
        """Remove the container, its overlay and cgroup, the node namespace, and the directory."""
        for part in (self._container, self._cni):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.remove()
        self._container = self._cni = None
        linux.unmount_all_under(self.dir)
        if not linux.mounts_under(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)

    def document(self) -> JSON:
        """{"components": {name: {label, samples_ms, median_ms}} over all cases, "per_case": {case: {name: median}},
        "errors": {...}}."""
        every: dict[str, list[float]] = {}
        for per_case in self.samples.values():
            for name, samples in per_case.items():
                every.setdefault(name, []).extend(samples)
        return {
            "components": {name: {"label": LABELS[name], "samples_ms": samples, "median_ms": statistics.median(samples)}
                           for name, samples in every.items()},
            "per_case": {case: {name: statistics.median(s) for name, s in per_case.items()}
                         for case, per_case in self.samples.items()},
            "errors": dict(self.errors),
        }  # fmt: skip


# -- floors and goals per case ------------------------------------------------------------------------------------


def case_floor(case: str, variant: str, medians: Mapping[str, float], pods: int = 1, cpus: int = 1) -> JSON | None:
    """The floor of one podrun variant from the components' medians: {floor_ms, formula}; None without a formula,
    or when a component it needs was not measured."""
    formula = FORMULAS.get((case, variant))
    if formula is None:
        return None
    once, per_pod = formula
    medians = {**FIXED_MS, **medians}
    if any(part not in medians for part in (*once, *per_pod)):
        return None
    scale = pods / cpus if pods > 1 else 1.0
    floor = sum(medians[p] * n for p, n in once.items()) + scale * sum(medians[p] * n for p, n in per_pod.items())
    parts = [f"{n} x {p}" if n > 1 else p for p, n in once.items()]
    per = " + ".join(f"{n} x {p}" if n > 1 else p for p, n in per_pod.items())
    if per:
        parts.append(f"{pods}/{cpus} CPUs x ({per})" if pods > 1 else per)
    return {"floor_ms": floor, "formula": " + ".join(parts)}


def verdict(median: float | None, goal: float | None, floor: float | None) -> str:
    """Whether podrun's median meets the goal, and if not whether the floor leaves room to."""
    if median is None or goal is None:
        return "—"
    if median <= goal:
        return "met"
    if floor is not None and floor > goal:
        return "not met: the floor is above the goal"
    return "not met" if floor is None else "not met: room above the floor"


def goals(cases: list[JSON], floors: JSON, pods: int, cpus: int) -> list[JSON]:
    """One row per podrun variant of each case with a goal: median, Podman's median, goal, floor, verdict.

    `cases` are `Case.to_json()` documents with their `key`; `floors` is `FloorSampler.document()`. A case's floor
    uses the components sampled during its own rounds (teardown: case 1's), else those of the whole run."""
    overall = {name: c["median_ms"] for name, c in floors["components"].items()}
    rows = []
    for case in cases:
        medians = {**overall, **floors.get("per_case", {}).get(SAMPLED_WITH.get(case["key"], case["key"]), {})}
        ratio = GOALS.get(case["key"])
        variants = case["variants"]
        podman = next((v for v in variants.values() if v["tool"] == "podman"), None)
        podman_median = podman["summary_ms"]["median"] if podman and podman["summary_ms"] else None
        ratio_goal = ratio * podman_median if ratio is not None and podman_median is not None else None
        for key, v in variants.items():
            if v["tool"] != "podrun":
                continue
            floor = case_floor(case["key"], key, medians, pods if case["key"] == "many" else 1, cpus)
            floor_ms = floor["floor_ms"] if floor else None
            absolute: list[tuple[str, float | None]] = [
                (stat, ms) for (goal_case, stat), ms in GOALS_MS.items() if goal_case == case["key"]
            ]
            for stat, goal in absolute or [("median", ratio_goal)]:
                value = v["summary_ms"][stat] if v["summary_ms"] else None
                rows.append({
                    "case": case["key"], "title": case["title"], "variant": key,
                    "label": v["label"] if stat == "median" else f"{v['label']} ({stat})", "statistic": stat,
                    "median_ms": value, "podman_ms": podman_median, "goal_ratio": None if absolute else ratio,
                    "goal_ms": goal, "floor_ms": floor_ms, "formula": floor["formula"] if floor else None,
                    "verdict": verdict(value, goal, floor_ms),
                })  # fmt: skip
    return rows


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 10000 else f"{value:.0f} ms"


def print_floors(doc: JSON, rows: list[JSON]) -> None:
    """The components' medians, then each goal beside podrun's median and its floor."""
    for c in doc["components"].values():
        print(f"  {c['label']:<44} {c['median_ms']:7.1f} ms  (n={len(c['samples_ms'])})")
    for name, why in doc["errors"].items():
        print(f"  {name:<44} FAILED: {why}")
    if not rows:
        return
    print()
    header = ("case", "podrun", "median", "goal (x Podman)", "floor", "verdict", "floor =")
    table = [header] + [
        (r["title"], r["label"], _ms(r["median_ms"]),
         f"{_ms(r['goal_ms'])} ({r['goal_ratio']}x)" if r["goal_ratio"] is not None else _ms(r["goal_ms"]),
         _ms(r["floor_ms"]), r["verdict"], r["formula"] or "—")
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))
