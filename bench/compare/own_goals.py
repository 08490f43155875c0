"""Case 8: issue 12's goals that are podrun's own, in milliseconds rather than a share of Podman's.

* `run_exit`: `podrun run -f` of a pod with an init and an app container, both `true` (restartPolicy Never),
  from the process's start to its exit, by which it has removed the pod: what a user waits for at the prompt.
  Podman has no such command (`kube play` returns with the pod still there), so this one is podrun's alone.
* `handoff6`: six init containers then the app under `podrun serve`, each printing one line; a hand-off is the
  previous container's last log line to the next one's first (conmon's timestamps in the CRI logs, one clock), so
  the container's exit, podrun noticing it, `runc start` and the next process's first write are all inside it.
  Every hand-off of every pod is one sample: the median and the p90 each have a goal.

Both run in `Comparison.alternate`, so the floors' components are sampled in their rounds (`compare/floors.py`).
"""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from compare.common import JSON, BenchError, to_yaml
from compare.podrun_side import SAFETY_TIMEOUT, Podrun
from compare.report import Case, Variant
from podrun.kubelet.node_facts import pod_log_dir_name
from podrun.runtime.logs import read_lines

INITS = 6


def run_to_exit_pod(name: str) -> JSON:
    """An init and an app container, both `true`, run once."""
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [{"name": "init", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                "command": ["true"]}],
            "containers": [{"name": "app", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["true"]}],
        },
    }  # fmt: skip


def handoff_pod(name: str, inits: int = INITS) -> JSON:
    """`inits` init containers and an app, each printing its name once (restartPolicy Never)."""

    def echo(container: str) -> JSON:
        return {"name": container, "image": "busybox", "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", f"echo {container}"]}  # fmt: skip

    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "initContainers": [echo(f"init-{k}") for k in range(inits)],
                 "containers": [echo("app")]},
    }  # fmt: skip


def line_times(path: Path) -> list[float]:
    """Unix times of a CRI log's lines (conmon's RFC 3339 timestamps)."""
    return [datetime.fromisoformat(line.timestamp.replace("Z", "+00:00")).timestamp() for line in read_lines(path)]


def handoff_gaps_ms(log_dir: Path, inits: int = INITS) -> list[float]:
    """Each hand-off of one pod, init-0 → init-1 → … → app, from its log directory (`<ns>_<pod>_<uid>`): the
    last line before the hand-off to the first line after it."""
    order = [f"init-{k}" for k in range(inits)] + ["app"]
    lines = {}
    for name in order:
        path = log_dir / name / "0.log"
        times = line_times(path) if path.exists() else []
        if not times:
            raise BenchError(f"container {name} logged nothing ({path})")
        lines[name] = times
    return [(lines[after][0] - lines[before][-1]) * 1000 for before, after in itertools.pairwise(order)]


class OwnGoals:
    """Case 8's two measurements, each a `Case` with one podrun variant."""

    def __init__(self, podrun: Podrun, write: Callable[[str, str], Path]) -> None:
        self.podrun = podrun
        self.write = write

    def run_to_exit(self, runs: int) -> tuple[Case, Callable[[int], None]]:
        """`podrun run` start → exit, and the variant that samples it."""
        case = Case("run_exit", "8 podrun run to exit", runs, "init `true` + app `true`: process start → exit", {
            "run": Variant("podrun", "`podrun run -f`, start → exit (pod removed)"),
        })  # fmt: skip

        def with_run(index: int) -> None:
            name = f"exit-run-{index}"
            manifest = self.write(name, to_yaml(run_to_exit_pod(name)))
            command = [*self.podrun.command, "run", "-f", str(manifest), "--root", str(self.podrun.cli_root),
                       "--run-root", str(self.podrun.cli_run), "--timeout", SAFETY_TIMEOUT]  # fmt: skip
            began = time.perf_counter()
            proc = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                env=self.podrun.env, check=False, timeout=120,
            )  # fmt: skip
            ended = time.perf_counter()
            if proc.returncode != 0:
                raise BenchError(f"podrun run exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
            if index:
                case.variants["run"].samples_ms.append((ended - began) * 1000)

        return case, with_run

    def handoff(self, runs: int) -> tuple[Case, Callable[[int], None]]:
        """Six init containers under serve: every hand-off's gap, and the variant that samples them."""
        case = Case("handoff6", f"8 init hand-off, {INITS} inits", runs,
                    f"{INITS} init `echo` then app: last line → next first line, each hand-off", {
            "serve": Variant("podrun", "serve: CRI log timestamps"),
        })  # fmt: skip

        def with_serve(index: int) -> None:
            name = f"handoff6-serve-{index}"
            self.podrun.kubectl("apply", "-f", "-", stdin=to_yaml(handoff_pod(name)))
            self.podrun.kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", f"pod/{name}", "--timeout=120s")
            pod = self.podrun.pod(name)
            if pod is None:
                raise BenchError(f"pod {name} vanished before its records were read")
            if index:
                meta = pod["metadata"]
                log_dir = self.podrun.serve_root / "logs" / "pods" / pod_log_dir_name("default", name, meta["uid"])
                case.variants["serve"].samples_ms.extend(handoff_gaps_ms(log_dir))
            self.podrun.force_delete(name)

        return case, with_serve
