"""A pod's lifecycle history: what happened to it and its containers, in order, to the microsecond.

The worker feeds one `LifecycleLog` per pod from the places where things happen (its events, container
exits, sandbox and volume setup). Records are appended to `<pod-dir>/lifecycle.jsonl`, so the history
survives a `podrun serve` restart and goes with the pod directory. The format is described in
docs/lifecycle.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from pathlib import Path

from podrun.json_types import JSON
from podrun.kubelet.podspec import all_containers
from podrun.timestamps import format_micro_time

FILE_NAME = "lifecycle.jsonl"
KEEP_FIRST = 200
KEEP_LAST = 1800
API_VERSION = "podrun.dev/v1alpha1"
KIND = "PodLifecycle"

_CONTAINER_REF = re.compile(r"\{(?P<name>[^}]*)\}$")
_PULL_TOOK = re.compile(r" in (?P<amount>\d+(?:\.\d+)?)(?P<unit>ms|µs|us|ns|s|m)\b")
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PROBE_FAILED = re.compile(r"^(?P<probe>Startup|Readiness|Liveness) probe (?:failed|errored)")


class LifecycleClock:
    """Wall time from one wall anchor plus the monotonic clock, so recorded times never go backwards."""

    def __init__(self) -> None:
        self._wall = time.time()
        self._mono = time.monotonic()

    def now(self) -> float:
        """The current time as Unix seconds."""
        return self._wall + (time.monotonic() - self._mono)


_CLOCK = LifecycleClock()


class LifecycleLog:
    """The bounded, append-only history of one pod, kept in memory and (with a path) on disk."""

    def __init__(
        self, path: Path | None, *, clock: LifecycleClock = _CLOCK, keep_first: int = KEEP_FIRST,
        keep_last: int = KEEP_LAST, records: list[JSON] | None = None,
    ) -> None:  # fmt: skip
        self.path = path
        self.clock = clock
        self.keep_first, self.keep_last = keep_first, keep_last
        self.records: list[JSON] = load(path) if path is not None else list(records or [])
        self._runs: dict[str, int] = {}
        self._probes: dict[tuple[str, str], str] = {}
        self._appended = asyncio.Event()  # set, and replaced, by each append: what a follower waits on
        self.appended_total = len(self.records)  # every record ever appended, the dropped included
        for record in self.records:
            if record.get("type") == "Created" and record.get("container"):
                self._runs[record["container"]] = record.get("run", 0)

    def run_of(self, container: str | None) -> int:
        """The restart index of the container's newest run (0 before its first)."""
        return self._runs.get(container or "", 0)

    def add(self, type_: str, container: str | None = None, *, run: int | None = None, **fields: object) -> JSON:
        """Append one record, stamped now; `run` defaults to the container's newest run."""
        if type_ == "Created" and container is not None and run is None:
            run = self._runs[container] + 1 if container in self._runs else 0
        if type_ == "Created" and container is not None and run is not None:
            self._runs[container] = run
        record: JSON = {
            "time": format_micro_time(self.clock.now()), "container": container,
            "type": type_, "run": self.run_of(container) if run is None else run, **fields,
        }  # fmt: skip
        self.records.append(record)
        self.appended_total += 1
        self._persist(record)
        appended, self._appended = self._appended, asyncio.Event()
        appended.set()
        return record

    async def wait_beyond(self, total: int, timeout: float) -> None:
        """Return once more than `total` records were ever appended, or after `timeout` seconds."""
        if self.appended_total > total:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._appended.wait(), timeout)

    def from_event(self, reason: str, message: str, ref: str = "") -> None:
        """Record what a kubelet event says happened (events that say nothing of the lifecycle are ignored)."""
        container = container_of(ref)
        if reason in ("Created", "Started"):
            self.add(reason, container)
        elif reason == "Pulled":
            took = _PULL_TOOK.search(message)
            ms = round(float(took["amount"]) * _UNIT_MS[took["unit"]], 3) if took else 0.0
            self.add("Pulled", container, durationMs=ms, message=message)
        elif reason == "Killing":
            self.add("Killing", container, reason=killing_reason(message), message=message)
        elif reason == "Unhealthy":
            probe = _PROBE_FAILED.match(message)
            if container is not None and probe is not None:
                self.probe(container, probe["probe"].lower(), "failure", message)

    def hook(self, container: str, hook: str, seconds: float, failure: str | None) -> None:
        """A postStart or preStop hook ran for `seconds`; `failure` says why it failed (None: it succeeded)."""
        outcome = "success" if failure is None else "failure"
        ms = round(seconds * 1000, 3)
        self.add("Hook", container, hook=hook, durationMs=ms, outcome=outcome, message=failure or "")

    def exited(self, container: str, run: int, exit_code: int, reason: str, message: str = "") -> None:
        """A container's run ended."""
        fields: JSON = {"exitCode": exit_code, "reason": reason}
        if exit_code > 128:
            fields["signal"] = exit_code - 128
        if message:
            fields["message"] = message
        self.add("Exited", container, run=run, **fields)

    def probe(self, container: str, probe: str, result: str | None, message: str = "") -> None:
        """A probe's result (`success` or `failure`), recorded when it changes (a failing probe fails every period)."""
        if result is None:
            return  # Unknown: no result yet (a new container) or none any more (it stopped)
        outcome = result
        key = (container, probe)
        if self._probes.get(key) != outcome:
            self._probes[key] = outcome
            self.add("Probe", container, probe=probe, result=outcome, message=message)

    def backoff(self, container: str, seconds: float) -> None:
        """The container's restart waits `seconds` (once per wait, however often the worker syncs during it)."""
        last = next((r for r in reversed(self.records) if r.get("container") == container), None)
        if last is None or last["type"] != "BackOff":
            self.add("BackOff", container, seconds=seconds)

    def _persist(self, record: JSON) -> None:
        if self.path is None or not self.path.parent.is_dir():
            return
        if not self.path.exists():
            # The pod directory appears with its volumes: write what was recorded before it.
            self.path.write_text("".join(json.dumps(r) + "\n" for r in self.records))
            return
        if len(self.records) > self.keep_first + self.keep_last + 1:
            self.records = bounded(self.records, self.keep_first, self.keep_last)
            text = "".join(json.dumps(r) + "\n" for r in self.records)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(self.path)
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def bounded(records: list[JSON], keep_first: int, keep_last: int) -> list[JSON]:
    """The first and last records, with one `Dropped` marker counting what was left out between them."""
    head, rest = records[:keep_first], records[keep_first:]
    dropped = 0
    if rest and rest[0].get("type") == "Dropped":
        dropped, rest = rest[0]["count"], rest[1:]
    if len(rest) <= keep_last:
        return records
    dropped += len(rest) - keep_last
    marker: JSON = {
        "time": rest[-keep_last - 1]["time"], "container": None, "type": "Dropped", "run": 0,
        "count": dropped, "message": f"{dropped} records dropped",
    }  # fmt: skip
    return [*head, marker, *rest[-keep_last:]]


def load(path: Path) -> list[JSON]:
    """The records stored at `path` (none when it does not exist; a torn last line is skipped)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    records: list[JSON] = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def container_of(ref: str) -> str | None:
    """The container an event's fieldPath names (`spec.containers{app}` → `app`), or None for the pod."""
    match = _CONTAINER_REF.search(ref)
    return match["name"] if match else None


def killing_reason(message: str) -> str:
    """Why podrun killed a container, from the Killing event's message."""
    lowered = message.lower()
    for needle, reason in (
        ("liveness", "LivenessFailed"), ("startup", "StartupFailed"), ("poststart", "PostStartHookFailed"),
        ("sidecar", "SidecarStop"), ("deadline", "DeadlineExceeded"), ("evict", "Evicted"),
    ):  # fmt: skip
        if needle in lowered:
            return reason
    # "Stopping container X": the pod is ending (deleted, or its app containers are done and its sidecars stop).
    return "PodTermination"


def container_kind(pod: JSON, spec: JSON) -> str:
    """`init`, `sidecar` (an init container that always restarts), `app` or `ephemeral`."""
    init_names = {c["name"] for c in pod["spec"].get("initContainers") or []}
    if spec["name"] in init_names:
        return "sidecar" if spec.get("restartPolicy") == "Always" else "init"
    if any(c["name"] == spec["name"] for c in pod["spec"].get("ephemeralContainers") or []):
        return "ephemeral"
    return "app"


def document(pod: JSON, records: list[JSON]) -> JSON:
    """The `PodLifecycle` object the API serves for a pod."""
    meta = pod["metadata"]
    specs = [*all_containers(pod), *(pod["spec"].get("ephemeralContainers") or [])]
    return {
        "kind": KIND, "apiVersion": API_VERSION,
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace", "default"), "uid": meta.get("uid", "")},
        "containers": [{"name": c["name"], "kind": container_kind(pod, c), "image": c.get("image", "")} for c in specs],
        "records": records,
    }  # fmt: skip
