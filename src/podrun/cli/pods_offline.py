"""The pods podrun left on a root, read from disk without a server and without changing anything.

A pod on disk is a sandbox (`<root>/sandboxes/<id>/sandbox.json`) and the containers recorded against it
(`<root>/containers/<id>/container.json`). Who owns it comes from the root's lock (cli/root_lock.py) and from
`<root>/run-pods.json`, which a `podrun run` writes and removes: a live holder of the lock owns every pod of the
root; with no holder, a pod that file names was left by a killed run, one in `podrun serve`'s store
(`<root>/api/store.db`) belongs to a stopped serve (the next serve adopts it), and any other was kept (`--keep`).
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from podrun.json_types import JSON
from podrun.kubelet import labels

_HOLDER = re.compile(r"(podrun \w+) \(pid (\d+)\)")


@dataclass(frozen=True)
class RootHolder:
    """The live `podrun run` or `podrun serve` holding a root's lock."""

    command: str  # `podrun run` or `podrun serve`
    pid: int


@dataclass(frozen=True)
class OfflineContainer:
    """One runtime container of a pod, as its record says (a live conmon makes it running)."""

    id: str
    name: str
    image: str
    state: str  # `created`, `running` or `exited`
    exit_code: int
    reason: str
    created_at: float
    log_path: str


@dataclass
class OfflinePod:
    """A pod sandbox on disk, its containers and who owns it."""

    namespace: str
    name: str
    uid: str
    sandbox_id: str
    created_at: float
    ips: list[str]
    owner: str  # `podrun run (pid N)`, `podrun serve (pid N)`, `killed run`, `stopped serve` or `kept`
    containers: list[OfflineContainer] = field(default_factory=list)


def root_holder(run_root: Path) -> RootHolder | None:
    """The process named in the root's lock file, if it is still a live podrun; reads, never locks."""
    try:
        text = (run_root / "podrun.lock").read_text()
    except OSError:
        return None
    match = _HOLDER.search(text)
    if not match:
        return None
    pid = int(match.group(2))
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return RootHolder(match.group(1), pid) if b"podrun" in cmdline else None


def killed_run_pods(root: Path) -> set[str]:
    """The uids of the pods a `podrun run` on this root had when it was killed (or is running now)."""
    try:
        pods: list[JSON] = json.loads((root / "run-pods.json").read_text())
    except (OSError, ValueError):
        return set()
    return {str(pod.get("metadata", {}).get("uid", "")) for pod in pods if isinstance(pod, dict)}


def stopped_serve_pods(root: Path) -> set[str]:
    """The uids of the pods in `podrun serve`'s store on this root, read without writing."""
    return _serve_store_pods(root) or set()


def _serve_store_pods(root: Path) -> set[str] | None:
    """The uids of the pods in serve's store; None when the store exists but cannot be read."""
    store = root / "api" / "store.db"
    if not store.exists():
        return set()
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            return {str(uid) for (uid,) in db.execute("SELECT uid FROM objects WHERE resource = 'pods'")}
    except sqlite3.Error:
        return None


def gone_pod_dirs(root: Path, pods: list[OfflinePod]) -> list[str]:
    """The uids under `<root>/pods` whose pod is gone: no sandbox on disk and not in a stopped serve's store.

    A serve stopped while it deleted pods, or a run killed between removing a sandbox and its volumes, leaves the
    pod's volumes (a projected token's tmpfs, emptyDirs) behind; the kubelet's housekeeping removes such orphaned
    pod directories, and a stopped serve's next start does too.
    """
    pods_dir = root / "pods"
    served = _serve_store_pods(root)
    if not pods_dir.is_dir() or served is None:
        return []  # a store that cannot be read may hold any of them: its next serve adopts them
    known = {pod.uid for pod in pods} | served
    return sorted(d.name for d in pods_dir.iterdir() if d.name not in known)


def offline_pods(root: Path, run_root: Path) -> list[OfflinePod]:
    """Every pod sandbox of the root with its containers, sorted by namespace and name."""
    holder = root_holder(run_root)
    from_killed_run = killed_run_pods(root)
    from_serve = stopped_serve_pods(root) if holder is None else set()
    pods: dict[str, OfflinePod] = {}
    for doc in _records(root / "sandboxes", "sandbox.json"):
        config = doc.get("config") or {}
        uid = str(config.get("uid", ""))
        if holder is not None:
            owner = f"{holder.command} (pid {holder.pid})"
        else:
            owner = "killed run" if uid in from_killed_run else "stopped serve" if uid in from_serve else "kept"
        pods[str(doc["id"])] = OfflinePod(
            namespace=str(config.get("namespace", "")), name=str(config.get("name", "")), uid=uid,
            sandbox_id=str(doc["id"]), created_at=float(doc.get("created_at", 0.0)), ips=list(doc.get("ips") or []),
            owner=owner,
        )  # fmt: skip
    for rec in _records(root / "containers", "container.json"):
        pod = pods.get(str(rec.get("sandbox_id", "")))
        if pod is not None:
            pod.containers.append(_container(root, rec))
    for pod in pods.values():
        pod.containers.sort(key=lambda c: c.created_at)
    return sorted(pods.values(), key=lambda p: (p.namespace, p.name, p.created_at))


def select_pods(pods: list[OfflinePod], names: list[str], namespace: str) -> tuple[list[OfflinePod], list[str]]:
    """The pods `NAMESPACE/NAME` or `NAME` (in `namespace`) name, and the names that match none."""
    chosen: list[OfflinePod] = []
    missing: list[str] = []
    for name in names:
        ns, _, pod_name = name.rpartition("/")
        matches = [p for p in pods if p.name == pod_name and p.namespace == (ns or namespace)]
        if matches:
            chosen += [p for p in matches if p not in chosen]
        else:
            missing.append(name)
    return chosen, missing


def _records(directory: Path, file_name: str) -> list[JSON]:
    records: list[JSON] = []
    if not directory.is_dir():
        return records
    for d in sorted(directory.iterdir()):
        try:
            doc = json.loads((d / file_name).read_text())
        except (OSError, ValueError):
            continue  # half made or half removed: not a pod or container yet
        if isinstance(doc, dict) and "id" in doc:
            records.append(doc)
    return records


def _container(root: Path, rec: JSON) -> OfflineContainer:
    record_labels = rec.get("labels") or {}
    state = str(rec.get("state", "created"))
    if state == "running" and not conmon_alive(root / "containers" / str(rec["id"]), str(rec["id"])):
        state = "exited"  # its monitor is gone: the exit was never recorded, so the code is unknown
    return OfflineContainer(
        id=str(rec["id"]), name=str(record_labels.get(labels.CONTAINER_NAME) or rec.get("name", "")),
        image=str(record_labels.get(labels.CONTAINER_IMAGE) or rec.get("image", "")), state=state,
        exit_code=int(rec.get("exit_code", 0)), reason=str(rec.get("reason", "")),
        created_at=float(rec.get("created_at", 0.0)), log_path=str(rec.get("log_path", "")),
    )  # fmt: skip


def conmon_alive(container_dir: Path, container_id: str) -> bool:
    """The container's conmon (`<container dir>/conmon.pid`) still runs: the container has not exited."""
    try:
        pid = int((container_dir / "conmon.pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return False
    return bool(cmdline) and cmdline[0].endswith(b"conmon") and container_id.encode() in cmdline
