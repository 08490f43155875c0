"""The scaling curve: N pods created at once (one manifest) under `podrun serve` and under Podman's `kube play`,
for N in 1, 10, 50, 100: time to all running, time to all deleted, and memory with the N pods running.

Each count runs podrun and Podman back to back, the order flipping from one count to the next, so machine noise
hits both alike. podrun's cost per pod is the slope of a least-squares line through its points (ms per pod,
MiB per pod): flat means the slope does not grow with N, i.e. the per-pod cost at 100 pods is the one at 10.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from compare.common import JSON, to_yaml, wait_until
from compare.podman_side import Podman
from compare.podrun_side import Podrun

COUNTS = (1, 10, 50, 100)
QUICK_COUNTS = (1, 3)


@dataclasses.dataclass
class Point:
    """One tool at one pod count."""

    pods: int
    running_ms: float
    deleted_ms: float
    memory: JSON

    def to_json(self) -> JSON:
        """The raw numbers of this point."""
        return {"pods": self.pods, "running_ms": self.running_ms, "deleted_ms": self.deleted_ms,
                "memory": self.memory}  # fmt: skip


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The least-squares slope of ys over xs (None with fewer than two distinct xs)."""
    if len(xs) < 2 or len(set(xs)) < 2:
        return None
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def per_pod_slopes(points: Sequence[Point]) -> JSON:
    """podrun's (or Podman's) cost per extra pod: ms to running, ms to deleted, MiB RSS; and the same between the
    last two counts alone, which shows whether the cost per pod grows at the top of the curve."""
    xs = [float(p.pods) for p in points]
    doc: JSON = {
        "running_ms_per_pod": slope(xs, [p.running_ms for p in points]),
        "deleted_ms_per_pod": slope(xs, [p.deleted_ms for p in points]),
        "rss_mib_per_pod": slope(xs, [p.memory["rss_mib"] for p in points]),
    }
    if len(points) >= 3:
        top = points[-2:]
        doc["running_ms_per_pod_top"] = slope([float(p.pods) for p in top], [p.running_ms for p in top])
        doc["deleted_ms_per_pod_top"] = slope([float(p.pods) for p in top], [p.deleted_ms for p in top])
    return doc


def scaling_pods(tag: str, count: int, pod: Callable[[str, str], JSON]) -> tuple[str, list[str], str]:
    """The manifest of `count` pods made by `pod(name, group)`, their names, and their group label."""
    group = f"scale-{tag}-{count}"
    names = [f"{group}-{k}" for k in range(count)]
    return to_yaml(*(pod(name, group) for name in names)), names, group


def podrun_point(podrun: Podrun, count: int, pod: Callable[[str, str], JSON]) -> Point:
    """`kubectl apply` of `count` pods until all are Ready; force-delete until the runtime holds none of them."""
    text, _, group = scaling_pods("serve", count, pod)
    began = time.perf_counter()
    podrun.kubectl("apply", "-f", "-", stdin=text, timeout=300)
    running = wait_until(lambda: podrun.all_ready(f"podrun-cmp={group}", count), 600, interval=0.02,
                         what=f"{count} serve pods Ready")  # fmt: skip
    memory = podrun.memory(count)
    podrun.sandbox_ids |= podrun.sandboxes_on_disk()
    deleting = time.perf_counter()
    podrun.delete_all_pods(timeout=600)
    return Point(count, (running - began) * 1000, (time.perf_counter() - deleting) * 1000, memory)


def podman_running(podman: Podman, containers: int) -> bool:
    """Podman runs `containers` containers (one `podman ps`, not one inspect per pod)."""
    return len(podman("ps", "-q", "--filter", "status=running", timeout=60).out.split()) >= containers


def podman_point(podman: Podman, count: int, pod: Callable[[str, str], JSON]) -> Point:
    """`podman kube play` of `count` pods until all their containers (infra + app) run; `pod stop -a -t 0` and
    `pod rm -a` until they are gone."""
    text, _, _ = scaling_pods("podman", count, pod)
    path = podman.manifest(f"scale-{count}", text)
    began = time.perf_counter()
    podman.play(path, timeout=1200)
    running = time.perf_counter()
    if not podman_running(podman, 2 * count):
        running = wait_until(lambda: podman_running(podman, 2 * count), 300, interval=0.05,
                             what=f"{count} podman pods running")  # fmt: skip
    memory = podman.memory(count)
    podman.note_pods()
    deleting = time.perf_counter()
    podman("pod", "stop", "-a", "-t", "0", timeout=600)
    podman("pod", "rm", "-a", timeout=600)
    deleted = time.perf_counter()
    podman.settle(30)
    return Point(count, (running - began) * 1000, (deleted - deleting) * 1000, memory)


def measure(podrun: Podrun, podman: Podman | None, counts: Sequence[int], pod: Callable[[str, str], JSON]) -> JSON:
    """The curve under both tools (podman None: podrun only), alternating; raises `BenchError` on a failure."""
    points: dict[str, list[Point]] = {"podrun serve": [], "podman": []}
    for index, count in enumerate(counts):
        tools = ["podrun serve"] if podman is None else ["podrun serve", "podman"]
        for tool in tools if index % 2 == 0 else tools[::-1]:
            if tool == "podman" and podman is not None:
                result = podman_point(podman, count, pod)
            else:
                result = podrun_point(podrun, count, pod)
            points[tool].append(result)
            print(f"    {tool}: {count} pods running in {result.running_ms:.0f} ms, deleted in "
                  f"{result.deleted_ms:.0f} ms, {result.memory['rss_mib']:.1f} MiB RSS", flush=True)  # fmt: skip
    return {
        "counts": list(counts),
        "tools": {tool: {"points": [p.to_json() for p in ps], "slopes": per_pod_slopes(ps)}
                  for tool, ps in points.items() if ps},
    }  # fmt: skip


def _fmt(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.1f} {unit}"


def print_scaling(doc: JSON) -> None:
    """The curve as a table, podrun beside Podman with ratios, and the slopes."""
    tools = doc["tools"]
    podrun_points = {p["pods"]: p for p in tools["podrun serve"]["points"]}
    podman_points = {p["pods"]: p for p in tools.get("podman", {}).get("points", [])}
    print(f"  {'pods':>5} | {'running podrun / Podman (ratio)':<34} | {'deleted podrun / Podman (ratio)':<34} | "
          "RSS MiB podrun / Podman (ratio)")  # fmt: skip
    for count in doc["counts"]:
        ours, theirs = podrun_points.get(count), podman_points.get(count)
        cells = []
        for key, unit in (("running_ms", "ms"), ("deleted_ms", "ms")):
            cells.append(_pair(ours and ours[key], theirs and theirs[key], unit))
        cells.append(_pair(ours and ours["memory"]["rss_mib"], theirs and theirs["memory"]["rss_mib"], ""))
        print(f"  {count:>5} | {cells[0]:<34} | {cells[1]:<34} | {cells[2]}")
    for tool, entry in tools.items():
        s = entry["slopes"]
        print(f"  {tool} per extra pod (least squares over all counts): "
              f"{_fmt(s['running_ms_per_pod'], 'ms')} to running, {_fmt(s['deleted_ms_per_pod'], 'ms')} to deleted, "
              f"{_fmt(s['rss_mib_per_pod'], 'MiB')} RSS"
              + (f"; between the top two counts: {_fmt(s['running_ms_per_pod_top'], 'ms')} / "
                 f"{_fmt(s['deleted_ms_per_pod_top'], 'ms')}" if "running_ms_per_pod_top" in s else ""))  # fmt: skip


def _pair(ours: Any, theirs: Any, unit: str) -> str:
    if ours is None:
        return "—"
    if theirs is None:
        return f"{ours:.0f} {unit}".strip()
    return f"{ours:.0f} / {theirs:.0f} {unit} (x{ours / theirs:.2f})".replace("  ", " ")


def chart(path: Path, doc: JSON, podman_version: str | None) -> None:
    """Three panels over the pod count: time to all running, time to all deleted, RSS; podrun and Podman."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"podrun serve": "#1f77b4", "podman": "#d62728"}
    names = {"podrun serve": "podrun serve + kubectl", "podman": f"Podman {podman_version or ''} kube play"}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    panels = (("running_ms", "s to all running", 1000.0), ("deleted_ms", "s to all deleted", 1000.0),
              ("rss_mib", "MiB RSS with the pods running", 1.0))  # fmt: skip
    for axis, (key, label, scale) in zip(axes, panels, strict=True):
        for tool, entry in doc["tools"].items():
            xs = [p["pods"] for p in entry["points"]]
            ys = [(p["memory"]["rss_mib"] if key == "rss_mib" else p[key]) / scale for p in entry["points"]]
            per_pod = entry["slopes"][f"{key}_per_pod" if key != "rss_mib" else "rss_mib_per_pod"]
            unit = "MiB" if key == "rss_mib" else "ms"
            suffix = f" ({per_pod:.1f} {unit}/pod)" if per_pod is not None else ""
            axis.plot(xs, ys, marker="o", color=colours[tool], label=names[tool] + suffix)
        axis.set_xlabel("pods created at once (one manifest)")
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    fig.suptitle("Scaling: N pods (init `true` + app `sleep`) at once — lower is better")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
