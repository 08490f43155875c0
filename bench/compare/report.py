"""The comparison's outputs: the table of medians and ratios, the feature table, the raw JSON and the chart."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from init_handoff import summarize

from compare.common import JSON
from compare.features import FEATURES, Verdict


@dataclasses.dataclass
class Variant:
    """One way of doing a case with one tool, and its samples in milliseconds."""

    tool: str  # "podrun" or "podman"
    label: str
    samples_ms: list[float] = dataclasses.field(default_factory=list)

    def median(self) -> float | None:
        """The median, None without samples."""
        return summarize(self.samples_ms)["median"] if self.samples_ms else None


@dataclasses.dataclass
class Case:
    """One timed case: what is measured, how often, and its variants under both tools."""

    key: str
    title: str
    runs: int
    note: str
    variants: dict[str, Variant]
    extra: JSON = dataclasses.field(default_factory=dict)  # further raw numbers of the case, for the JSON

    def podman(self) -> Variant | None:
        """The Podman variant (each case has at most one)."""
        return next((v for v in self.variants.values() if v.tool == "podman"), None)

    def to_json(self) -> JSON:
        """Raw samples and their summaries."""
        return {
            "title": self.title, "runs": self.runs, "note": self.note,
            "variants": {key: {"tool": v.tool, "label": v.label, "samples_ms": v.samples_ms,
                               "summary_ms": summarize(v.samples_ms) if v.samples_ms else None}
                         for key, v in self.variants.items()},
            **self.extra,
        }  # fmt: skip


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 10000 else f"{value:.0f} ms"


def _ratio(podrun: float | None, podman: float | None) -> str:
    return f"{podrun / podman:.2f}" if podrun is not None and podman else "—"


def table_rows(
    cases: list[Case], memory: JSON, failures: dict[str, str] | None = None
) -> list[tuple[str, str, str, str, str, str]]:
    """(case, podrun variant, its median (p90), Podman variant, its median (p90), ratio podrun ÷ Podman) rows; a
    failed case gets one row that says so and why, in its place among the others."""
    rows = []
    failed = [Case(key="", title=title, runs=0, note=error, variants={}) for title, error in (failures or {}).items()]
    for case in sorted([*cases, *failed], key=lambda c: c.title):
        if not case.variants:
            rows.append((case.title, "FAILED", _shorten(case.note), "", "", "—"))
            continue
        podman = case.podman()
        podman_median = podman.median() if podman else None
        first = True
        for variant in case.variants.values():
            if variant.tool != "podrun":
                continue
            s = summarize(variant.samples_ms) if variant.samples_ms else None
            p = summarize(podman.samples_ms) if podman and podman.samples_ms else None
            rows.append((
                f"{case.title} (n={case.runs})" if first else "",
                variant.label,
                f"{_ms(s['median'])} ({_ms(s['p90'])})" if s else "—",
                (podman.label if podman else "—") if first else "",
                (f"{_ms(p['median'])} ({_ms(p['p90'])})" if p else "—") if first else "",
                _ratio(variant.median(), podman_median),
            ))  # fmt: skip
            first = False
    for key, label, podrun_key, podman_key in MEMORY_ROWS:
        if key not in memory:
            continue
        entry = memory[key]
        label = label.replace("N pods", f"{entry.get('pods', 'N')} pods")
        podrun_mem, podman_mem = entry.get(podrun_key), entry.get(podman_key)
        rows.append((
            label, _memory_label(podrun_mem), _mib(podrun_mem),
            _memory_label(podman_mem) if podman_mem else ("no daemon" if podman_key == "none" else "—"),
            _mib(podman_mem) if podman_mem else ("0 MiB" if podman_key == "none" else "—"),
            _ratio(podrun_mem["rss_mib"], podman_mem["rss_mib"]) if podrun_mem and podman_mem else "—",
        ))  # fmt: skip
    return rows


# (memory key, row label, podrun entry, podman entry): "none" means Podman has nothing running then.
MEMORY_ROWS = [
    ("idle", "6 memory, idle (RSS, PSS)", "podrun serve", "none"),
    ("idle_after", "6 memory, idle after the run", "podrun serve", "none"),
    ("idle_settled", "6 memory, idle, watch history gone", "podrun serve", "none"),
    ("many", "6 memory, N pods (RSS, PSS)", "podrun serve", "podman"),
    ("many_run", "6 memory, N pods, `podrun run`", "podrun run", "podman"),
]


def _shorten(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _memory_label(doc: JSON | None) -> str:
    if not doc:
        return "—"
    groups = doc["groups"].items()
    parts = [f"{name} x{g['processes']}" if g["processes"] > 1 else name for name, g in groups if g["processes"]]
    return " + ".join(parts)


def _mib(doc: JSON | None) -> str:
    return f"{doc['rss_mib']:.1f} MiB ({doc['pss_mib']:.1f})" if doc else "—"


def print_table(
    cases: list[Case], memory: JSON, podman_version: str | None, failures: dict[str, str] | None = None
) -> None:
    """The table of medians (p90) and ratios, failed cases included."""
    header = ("case", "podrun", "median (p90)", f"Podman {podman_version or '(not run)'}", "median (p90)",
              "podrun ÷ Podman")  # fmt: skip
    rows = [header, *table_rows(cases, memory, failures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for index, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))


def print_features(features: dict[str, dict[str, Verdict]]) -> None:
    """The feature table, one line per feature and tool."""
    for key, label, _ in FEATURES:
        if key not in features:
            continue
        for index, (tool, verdict) in enumerate(features[key].items()):
            name = label if index == 0 else ""
            print(f"  {name:<46} {tool:<7} {verdict.status:<12} {verdict.how}")


def features_json(features: dict[str, dict[str, Verdict]]) -> JSON:
    """The feature table with its evidence."""
    return {key: {tool: dataclasses.asdict(v) for tool, v in cells.items()} for key, cells in features.items()}


def write_json(path: Path, doc: JSON) -> None:
    """The raw numbers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def ensure_matplotlib(install: bool) -> bool:
    """matplotlib importable, installing it into this virtualenv when allowed (it is a benchmark-only tool)."""
    if importlib.util.find_spec("matplotlib") is not None:
        return True
    if not install:
        return False
    print("  installing matplotlib into this virtualenv for the chart (pip install matplotlib)...", flush=True)
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"], capture_output=True,
                            text=True)  # fmt: skip
    if result.returncode != 0:
        print(f"  pip install matplotlib failed: {result.stderr.strip().splitlines()[-1:]}", flush=True)
        return False
    importlib.invalidate_caches()
    return importlib.util.find_spec("matplotlib") is not None


def chart(path: Path, cases: list[Case], memory: JSON, podman_version: str | None) -> None:
    """Two panels: the medians of every case (log scale, p90 as whiskers) and the memory rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"podrun": "#2a7ab0", "podman": "#b0552a"}
    labels: list[str] = []
    values: list[float] = []
    whiskers: list[float] = []
    tints: list[str] = []
    for case in cases:
        for variant in case.variants.values():
            if not variant.samples_ms:
                continue
            s = summarize(variant.samples_ms)
            tool = "Podman" if variant.tool == "podman" else "podrun"
            labels.append(f"{case.title}\n{tool}: {variant.label}")
            values.append(s["median"])
            whiskers.append(s["p90"] - s["median"])
            tints.append(colours[variant.tool])
    mem_labels, mem_values, mem_tints = [], [], []
    for key, label, podrun_key, podman_key in MEMORY_ROWS:
        entry = memory.get(key) or {}
        label = label.replace("N pods", f"{entry.get('pods', 'N')} pods")
        for tool_key, tool in ((podrun_key, "podrun"), (podman_key, "podman")):
            doc: Any = entry.get(tool_key)
            if doc and not (key == "many_run" and tool == "podman"):  # the same sample as the row before
                short = label.removeprefix("6 memory, ").removesuffix(" (RSS, PSS)")
                mem_labels.append(f"{short}\n{_memory_label(doc)}")
                mem_values.append(doc["rss_mib"])
                mem_tints.append(colours[tool])
    height = 0.42 * (len(labels) + len(mem_labels)) + 2.5
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, height), gridspec_kw={"height_ratios": [max(len(labels), 1), max(len(mem_labels), 1)]}
    )
    rows = list(range(len(labels)))[::-1]
    top.barh(rows, values, xerr=[[0] * len(whiskers), whiskers], color=tints, capsize=2)
    top.set_yticks(rows, labels, fontsize=7)
    top.set_xscale("log")
    if values:  # room for the labels right of the longest bar
        top.set_xlim(right=max(v + w for v, w in zip(values, whiskers, strict=True)) * 2)
    top.set_xlabel("milliseconds, median (whisker: p90), log scale — lower is better")
    for row, value, whisker in zip(rows, values, whiskers, strict=True):
        top.text(value + whisker, row, f" {_ms(value)}", va="center", fontsize=7)
    top.set_title(f"podrun vs Podman {podman_version or '(not run)'} kube play: same manifests, alternating runs")
    mem_rows = list(range(len(mem_labels)))[::-1]
    bottom.barh(mem_rows, mem_values, color=mem_tints)
    bottom.set_yticks(mem_rows, mem_labels, fontsize=7)
    if mem_values:
        bottom.set_xlim(right=max(mem_values) * 1.15)
    bottom.set_xlabel("MiB RSS (sum of the processes named) — lower is better")
    for row, value in zip(mem_rows, mem_values, strict=True):
        bottom.text(value, row, f" {value:.1f}", va="center", fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    top.legend(handles, ["podrun", "Podman"], loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
