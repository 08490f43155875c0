"""The measured floors: what the parts podrun builds on cost by themselves, measured in the same run as the cases.

A goal of issue 12 ("pod start ≤ 0.25x Podman") cannot be met when the work no implementation can skip already
costs more. This module measures those parts alone, a few times each after one untimed warm-up, and adds them up
per case as a **floor**, shown beside the goal:

* `create_start`: the OCI runtime's own `create` + `start` of a busybox `true` bundle (an overlay of podrun's
  busybox layers, `runc spec`'s config without a network namespace), from the `create` call to `start`'s return;
* `delete`: `runc delete` of that container once it exited;
* `cni_add` / `cni_del`: podrun's CNI ADD and DEL (ptp + host-local, `podrun.network.cni.Cni`) of one fresh pod
  network namespace, in a node namespace of its own (not serve's);
* `imports`: a Python interpreter started with `import podrun.cli.main, podrun.cli.run` (what `podrun run`
  imports before it reads a manifest), to its exit; `python`: the interpreter alone (`-c pass`), in no formula:
  it shows how much of `imports` is podrun's own modules;
* `kubectl`: `kubectl version --client` (the process start every kubectl call pays, without the API).

A case's floor is a sum of these medians (`FORMULAS`), e.g. `podrun run`'s pod start = imports + CNI ADD +
2 x create+start. For N pods at once the per-pod parts are divided by the CPUs (perfect parallelism): a lower
bound, not an estimate. nginx's own start (case 3) and the containers' exits are not in any floor.

A component that fails is recorded with its reason (`errors`) and the floors that need it are left out: a floor
never stops the run. Everything made (mounts, namespaces, runc state, cgroups, IPAM files) is under the work
directory or removed here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from compare.common import JSON, BenchError, run
from podrun.network import netns
from podrun.network.cni import Cni
from podrun.network.config import NetworkConfig
from podrun.runtime import linux
from podrun.runtime.images.store import ImageStore

CGROUP_ROOT = Path("/sys/fs/cgroup")
LABELS = {
    "create_start": "OCI runtime create + start, busybox `true`",
    "delete": "OCI runtime delete, exited container",
    "cni_add": "CNI ADD (ptp + host-local), one pod netns",
    "cni_del": "CNI DEL, one pod netns",
    "python": "python alone (`-c pass`), to exit",
    "imports": "python + `podrun run`'s imports, to exit",
    "kubectl": "kubectl process (`version --client`)",
}
# (case key, variant key) → the components each pod run needs at least once ({component: times}); `per_pod`
# parts are multiplied by the case's pod count and divided by the CPUs.
FORMULAS: dict[tuple[str, str], tuple[dict[str, int], dict[str, int]]] = {
    ("start", "run"): ({"imports": 1}, {"cni_add": 1, "create_start": 2}),
    ("start", "serve"): ({"kubectl": 2}, {"cni_add": 1, "create_start": 2}),
    ("handoff", "serve"): ({}, {"create_start": 3}),
    ("seed", "serve"): ({"kubectl": 3}, {"cni_add": 1, "create_start": 2}),
    ("seed", "hostport"): ({"kubectl": 1}, {"cni_add": 1, "create_start": 2}),
    ("seed", "run"): ({"imports": 1}, {"cni_add": 1, "create_start": 2}),
    ("many", "run"): ({"imports": 1}, {"cni_add": 1, "create_start": 2}),
    ("many", "serve"): ({"kubectl": 1}, {"cni_add": 1, "create_start": 2}),
    ("teardown", "run"): ({}, {"delete": 1, "cni_del": 1}),
    ("teardown", "serve"): ({"kubectl": 1}, {"delete": 1, "cni_del": 1}),
}
# Issue 12's goals: podrun's median at most this share of Podman's.
GOALS = {"start": 0.25, "handoff": 0.05, "seed": 0.5, "many": 0.07, "teardown": 0.2}


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

    def once(self) -> tuple[float, float]:
        """(seconds of create + start, seconds of delete once `true` exited)."""
        began = time.perf_counter()
        self._runtime("create", "--bundle", str(self.bundle), self.id)
        self._runtime("start", self.id)
        started = time.perf_counter() - began
        deadline = time.monotonic() + 10
        while not self._stopped():
            if time.monotonic() > deadline:
                raise BenchError(f"{self.id}: `true` still running after 10 s")
            time.sleep(0.005)
        began = time.perf_counter()
        self._runtime("delete", self.id)
        return started, time.perf_counter() - began

    def remove(self) -> None:
        """The container (if a run broke off), the overlay and the cgroup."""
        subprocess.run([self.runtime, f"--root={self.state}", "delete", "--force", self.id], capture_output=True,
                       timeout=30, check=False)  # fmt: skip
        linux.unmount_all_under(self.bundle)
        for cgroup in CGROUP_ROOT.glob(f"*{self.cgroup}"):
            with contextlib.suppress(OSError):
                cgroup.rmdir()


def measure_runtime(runtime: str, image_root: Path, dir: Path, runs: int) -> dict[str, list[float]]:
    """`create_start` and `delete` samples (ms) of the raw OCI runtime."""
    container = RawContainer(runtime, image_root, dir)
    samples: dict[str, list[float]] = {"create_start": [], "delete": []}
    try:
        container.once()  # warm-up: page cache, the runtime's binary, the first overlay lookup
        for _ in range(runs):
            started, deleted = container.once()
            samples["create_start"].append(started * 1000)
            samples["delete"].append(deleted * 1000)
    finally:
        container.remove()
    return samples


def measure_cni(dir: Path, runs: int) -> dict[str, list[float]]:
    """`cni_add` and `cni_del` samples (ms): podrun's CNI of a fresh pod namespace, in a node namespace of its own."""
    config = NetworkConfig(state_dir=dir / "state", run_dir=dir / "run")
    node = config.node_netns_path
    cni = Cni(config, node)
    samples: dict[str, list[float]] = {"cni_add": [], "cni_del": []}
    try:
        netns.create(node, config.service_cidr, [config.dns_ip, config.node_gateway])
        cni.write_conflist()
        for index in range(runs + 1):  # the first is the warm-up
            pin = dir / f"pod-{index}"
            pin.touch()
            run(["unshare", f"--net={pin}", "true"])
            try:
                began = time.perf_counter()
                cni.add(f"floor-{index}", pin)
                added = time.perf_counter()
                cni.delete(f"floor-{index}")
                deleted = time.perf_counter()
            finally:
                netns.remove(pin)
            if index:
                samples["cni_add"].append((added - began) * 1000)
                samples["cni_del"].append((deleted - added) * 1000)
    finally:
        if netns.exists(node):
            with contextlib.suppress(Exception):
                cni.reclaim(set())
        netns.remove(node)
    return samples


def measure_process(command: list[str], env: Mapping[str, str] | None, runs: int) -> list[float]:
    """Samples (ms) of a short command from its start to its exit."""
    run(command, env=env)  # warm-up
    return [run(command, env=env).seconds * 1000 for _ in range(runs)]


# -- all of it ----------------------------------------------------------------------------------------------------


def measure(work: Path, runtime: str, image_root: Path, podrun_env: Mapping[str, str], kubectl: list[str],
            runs: int) -> JSON:  # fmt: skip
    """Every component, each in turn; {"components": {name: {label, samples_ms, median_ms}}, "errors": {...}}."""
    dir = work / "floors"
    dir.mkdir(exist_ok=True)
    steps: dict[str, Callable[[], dict[str, list[float]]]] = {
        "runtime": lambda: measure_runtime(runtime, image_root, dir / "runtime", runs),
        "cni": lambda: measure_cni(dir / "cni", runs),
        "python": lambda: {"python": measure_process([sys.executable, "-c", "pass"], podrun_env, runs)},
        "imports": lambda: {"imports": measure_process(
            [sys.executable, "-c", "import podrun.cli.main, podrun.cli.run"], podrun_env, runs)},
        "kubectl": lambda: {"kubectl": measure_process([*kubectl, "version", "--client"], None, runs)},
    }  # fmt: skip
    components: JSON = {}
    errors: dict[str, str] = {}
    for name, step in steps.items():
        try:
            found = step()
        except Exception as e:  # a floor is context: whatever broke is recorded, and the run goes on
            errors[name] = f"{type(e).__name__}: {e}"
            continue
        for key, samples in found.items():
            components[key] = {"label": LABELS[key], "samples_ms": samples, "median_ms": statistics.median(samples)}
    linux.unmount_all_under(dir)
    if not linux.mounts_under(dir):
        shutil.rmtree(dir, ignore_errors=True)
    return {"components": components, "errors": errors}


# -- floors and goals per case ------------------------------------------------------------------------------------


def case_floor(case: str, variant: str, medians: Mapping[str, float], pods: int = 1, cpus: int = 1) -> JSON | None:
    """The floor of one podrun variant from the components' medians: {floor_ms, formula}; None without a formula,
    or when a component it needs was not measured."""
    formula = FORMULAS.get((case, variant))
    if formula is None:
        return None
    once, per_pod = formula
    if any(part not in medians for part in (*once, *per_pod)):
        return None
    scale = pods / cpus if pods > 1 else 1.0
    floor = sum(medians[p] * n for p, n in once.items()) + scale * sum(medians[p] * n for p, n in per_pod.items())
    parts = [f"{n} x {p}" if n > 1 else p for p, n in once.items()]
    per = " + ".join(f"{n} x {p}" if n > 1 else p for p, n in per_pod.items())
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


def goals(cases: list[JSON], components: JSON, pods: int, cpus: int) -> list[JSON]:
    """One row per podrun variant of each case with a goal: median, Podman's median, goal, floor, verdict.

    `cases` are `Case.to_json()` documents with their `key`."""
    medians = {name: c["median_ms"] for name, c in components.items()}
    rows = []
    for case in cases:
        ratio = GOALS.get(case["key"])
        variants = case["variants"]
        podman = next((v for v in variants.values() if v["tool"] == "podman"), None)
        podman_median = podman["summary_ms"]["median"] if podman and podman["summary_ms"] else None
        goal = ratio * podman_median if ratio is not None and podman_median is not None else None
        for key, v in variants.items():
            if v["tool"] != "podrun":
                continue
            median = v["summary_ms"]["median"] if v["summary_ms"] else None
            floor = case_floor(case["key"], key, medians, pods if case["key"] == "many" else 1, cpus)
            floor_ms = floor["floor_ms"] if floor else None
            rows.append({
                "case": case["key"], "title": case["title"], "variant": key, "label": v["label"],
                "median_ms": median, "podman_ms": podman_median, "goal_ratio": ratio, "goal_ms": goal,
                "floor_ms": floor_ms, "formula": floor["formula"] if floor else None,
                "verdict": verdict(median, goal, floor_ms),
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
         f"{_ms(r['goal_ms'])} ({r['goal_ratio']}x)" if r["goal_ratio"] is not None else "—",
         _ms(r["floor_ms"]), r["verdict"], r["formula"] or "—")
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))
