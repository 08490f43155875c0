"""`kubectl get pods`: the server-side Table row and kubectl's rendering of it.

`print_pod` is `printPod` from pkg/printers/internalversion/printers.go (the kubelet-semantics spec,
§6); `human_duration` is apimachinery's `duration.HumanDuration`; `render_table` is what kubectl does
with a Table: upper-cased headers through cli-runtime's tabwriter. Pods are JSON-shaped dicts in
Kubernetes API form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from podrun.timestamps import parse_time

JSON = dict[str, Any]

_NONE = "<none>"
_UNKNOWN = "<unknown>"
_NODE_UNREACHABLE_REASON = "NodeLost"

POD_COLUMNS: tuple[JSON, ...] = (
    {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": (
            "Name must be unique within a namespace. Is required when creating resources, although some "
            "resources may allow a client to request the generation of an appropriate name automatically. "
            "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
            "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
        ),
        "priority": 0,
    },
    {
        "name": "Ready",
        "type": "string",
        "format": "",
        "description": "The aggregate readiness state of this pod for accepting traffic.",
        "priority": 0,
    },
    {
        "name": "Status",
        "type": "string",
        "format": "",
        "description": "The aggregate status of the containers in this pod.",
        "priority": 0,
    },
    {
        "name": "Restarts",
        "type": "string",
        "format": "",
        "description": (
            "The number of times the containers in this pod have been restarted and when the last container "
            "in this pod has restarted."
        ),
        "priority": 0,
    },
    {
        "name": "Age",
        "type": "string",
        "format": "",
        "description": (
            "CreationTimestamp is a timestamp representing the server time when this object was created. "
            "It is not guaranteed to be set in happens-before order across separate operations. Clients may "
            "not set this value. It is represented in RFC3339 form and is in UTC.\n\n"
            "Populated by the system. Read-only. Null for lists. More info: "
            "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
        ),
        "priority": 0,
    },
    {
        "name": "IP",
        "type": "string",
        "format": "",
        "description": (
            "podIP address allocated to the pod. Routable at least within the cluster. "
            "Empty if not yet allocated."
        ),
        "priority": 1,
    },
    {
        "name": "Node",
        "type": "string",
        "format": "",
        "description": (
            "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for "
            "scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for "
            "this node becomes responsible for the lifecycle of this pod. This field should not be used to "
            "express a desire for the pod to be scheduled on a specific node. "
            "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename"
        ),
        "priority": 1,
    },
    {
        "name": "Nominated Node",
        "type": "string",
        "format": "",
        "description": (
            "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be "
            "scheduled right away as preemption victims receive their graceful termination periods. This "
            "field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to "
            "place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to "
            "give the resources on this node to a higher priority pod that is created after preemption. As "
            "a result, this field may be different than PodSpec.nodeName when the pod is scheduled."
        ),
        "priority": 1,
    },
    {
        "name": "Readiness Gates",
        "type": "string",
        "format": "",
        "description": (
            "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all "
            "its containers are ready AND all conditions specified in the readiness gates have status equal "
            'to "True" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates'
        ),
        "priority": 1,
    },
)


# --- durations and ages -------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """A duration the way kubectl shows ages: `5s`, `119s`, `4m30s`, `15m`, `3h5m`, `10h`, `2d3h`, `45d`.

    Precision drops as the duration grows; up to a second in the future still reads `0s`.
    """
    whole = int(seconds)  # toward zero, as Go's int(d.Seconds())
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        return _two_units(minutes, "m", whole % 60, "s")
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return _two_units(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if hours < 8 * 24:
        return _two_units(hours // 24, "d", hours % 24, "h")
    if hours < 2 * 365 * 24:
        return f"{hours // 24}d"
    if hours < 8 * 365 * 24:
        return _two_units(hours // 24 // 365, "y", hours // 24 % 365, "d")
    return f"{hours // 24 // 365}y"


def _two_units(major: int, major_unit: str, minor: int, minor_unit: str) -> str:
    return f"{major}{major_unit}{minor}{minor_unit}" if minor else f"{major}{major_unit}"


def translate_timestamp_since(ts: str | None, now: datetime) -> str:
    """`human_duration(now - ts)` for an RFC3339 timestamp; `<unknown>` when there is none."""
    moment = parse_timestamp(ts)
    if moment is None:
        return _UNKNOWN
    return human_duration((_aware(now) - moment).total_seconds())


def parse_timestamp(ts: str | None) -> datetime | None:
    """An RFC3339 timestamp (`2026-11-26T04:08:13Z`) as an aware datetime; `None` for a zero time."""
    if not ts:
        return None
    return parse_time(ts)


def _aware(moment: datetime) -> datetime:
    """Naive datetimes are taken to be UTC, the only zone the API speaks."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- the row ------------------------------------------------------------------------------------------


@dataclass
class _Restarts:
    """A running restart count and the latest `lastState.terminated.finishedAt` seen with it."""

    count: int = 0
    last: datetime | None = None

    def add(self, status: Mapping[str, Any]) -> None:
        self.count += int(status.get("restartCount") or 0)
        terminated = (status.get("lastState") or {}).get("terminated")
        finished = parse_timestamp((terminated or {}).get("finishedAt"))
        if finished is not None and (self.last is None or self.last < finished):
            self.last = finished


@dataclass
class _InitScan:
    """What the init container statuses say: an `Init:` reason while initializing, ready sidecars."""

    reason: str | None = None
    ready: int = 0
    restarts: _Restarts = field(default_factory=_Restarts)
    sidecar_restarts: _Restarts = field(default_factory=_Restarts)


def print_pod(pod: Mapping[str, Any], *, wide: bool = False, now: datetime) -> list[str]:
    """The `kubectl get pods` cells: NAME, READY, STATUS, RESTARTS, AGE (+ IP, NODE, NOMINATED NODE,
    READINESS GATES when `wide`), exactly as the API server's `printPod` computes them (§6).
    """
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    sidecars = {c["name"] for c in spec.get("initContainers") or [] if _is_sidecar(c)}
    total = len(spec.get("containers") or []) + len(sidecars)

    reason = _initial_reason(status)
    scan = _scan_init_containers(pod, sidecars)
    ready, restarts = scan.ready, scan.restarts
    if scan.reason is not None:
        reason = scan.reason
    if scan.reason is None or _condition_true(status, "Initialized"):
        # Once initialized, regular init containers' restarts are history: only sidecars count.
        restarts = scan.sidecar_restarts
        reason, ready_regular = _scan_containers(status, reason, restarts)
        ready += ready_regular

    if metadata.get("deletionTimestamp"):
        if status.get("reason") == _NODE_UNREACHABLE_REASON:
            reason = "Unknown"
        elif status.get("phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"

    row = [
        str(metadata.get("name", "")),
        f"{ready}/{total}",
        reason,
        _restarts_cell(restarts, now),
        translate_timestamp_since(metadata.get("creationTimestamp"), now),
    ]
    if wide:
        row += _wide_cells(spec, status)
    return row


def pod_row_conditions(pod: Mapping[str, Any]) -> list[JSON]:
    """The Table row's `conditions`: `Completed` for pods in a terminal phase, else none."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return [_completed_condition("Succeeded", "The pod has completed successfully.")]
    if phase == "Failed":
        return [_completed_condition("Failed", "The pod failed.")]
    return []


def _completed_condition(reason: str, message: str) -> JSON:
    return {"type": "Completed", "status": "True", "reason": reason, "message": message}


def _initial_reason(status: Mapping[str, Any]) -> str:
    reason = str(status.get("reason") or status.get("phase") or "")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    return reason


def _scan_init_containers(pod: Mapping[str, Any], sidecars: set[str]) -> _InitScan:
    """Walk init statuses in spec order up to the first one that is neither done nor a started sidecar."""
    scan = _InitScan()
    statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
    init_count = len((pod.get("spec") or {}).get("initContainers") or [])
    for index, container in enumerate(statuses):
        sidecar = container.get("name") in sidecars
        scan.restarts.add(container)
        if sidecar:
            scan.sidecar_restarts.add(container)
        terminated = _state(container, "terminated")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and container.get("started"):
            scan.ready += bool(container.get("ready"))
            continue
        scan.reason = _init_reason(container, index, init_count)
        break
    return scan


def _init_reason(container: Mapping[str, Any], index: int, init_count: int) -> str:
    terminated = _state(container, "terminated")
    waiting = _state(container, "waiting")
    if terminated is not None:
        if terminated.get("reason"):
            return f"Init:{terminated['reason']}"
        if terminated.get("signal"):
            return f"Init:Signal:{terminated['signal']}"
        return f"Init:ExitCode:{terminated.get('exitCode', 0)}"
    if waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
        return f"Init:{waiting['reason']}"
    return f"Init:{index}/{init_count}"


def _scan_containers(status: Mapping[str, Any], reason: str, restarts: _Restarts) -> tuple[str, int]:
    """Regular containers in reverse name order: the alphabetically first with a reason decides."""
    ready = 0
    has_running = False
    for container in reversed(status.get("containerStatuses") or []):
        restarts.add(container)
        waiting = _state(container, "waiting")
        terminated = _state(container, "terminated")
        if waiting is not None and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated is not None and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated is not None:
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif container.get("ready") and _state(container, "running") is not None:
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        reason = "Running" if _condition_true(status, "Ready") else "NotReady"
    return reason, ready


def _restarts_cell(restarts: _Restarts, now: datetime) -> str:
    if restarts.count == 0 or restarts.last is None:
        return str(restarts.count)
    ago = human_duration((_aware(now) - restarts.last).total_seconds())
    return f"{restarts.count} ({ago} ago)"


def _wide_cells(spec: Mapping[str, Any], status: Mapping[str, Any]) -> list[str]:
    pod_ips = status.get("podIPs") or []
    pod_ip = pod_ips[0].get("ip", "") if pod_ips else ""
    return [
        pod_ip or _NONE,
        spec.get("nodeName") or _NONE,
        status.get("nominatedNodeName") or _NONE,
        _readiness_gates_cell(spec, status),
    ]


def _readiness_gates_cell(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    gates = spec.get("readinessGates") or []
    if not gates:
        return _NONE
    conditions = status.get("conditions") or []
    passed = 0
    for gate in gates:
        found = next((c for c in conditions if c.get("type") == gate.get("conditionType")), None)
        passed += found is not None and found.get("status") == "True"
    return f"{passed}/{len(gates)}"


def _condition_true(status: Mapping[str, Any], kind: str) -> bool:
    """Whether the first condition of this type is True (a missing one is not)."""
    found = next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)
    return found is not None and found.get("status") == "True"


def _state(container: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return (container.get("state") or {}).get(kind)


def _is_sidecar(container: Mapping[str, Any]) -> bool:
    return container.get("restartPolicy") == "Always"


# --- kubectl's rendering ------------------------------------------------------------------------------

_MIN_WIDTH = 6
_PADDING = 3


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The text kubectl prints for a Table: upper-cased headers, then one line per row.

    Cells go through cli-runtime's tabwriter (minwidth 6, padding 3, spaces): every cell but the last
    of its line is padded to its column's width, the widest cell plus 3; the last cell is not padded, so
    lines carry no trailing blanks. A cell is cut at its first line break, marked `...`.
    """
    lines = [[header.upper() for header in headers], *([_cell_text(cell) for cell in row] for row in rows)]
    out: list[str] = []
    _format_columns(lines, [], 0, len(lines), out)
    return "".join(out)


def _cell_text(cell: str) -> str:
    text = str(cell)
    cut = min((i for i in map(text.find, "\f\n\r") if i >= 0), default=-1)
    if cut >= 0:
        text = text[:cut] + "..."
    return text.replace("\x1b", "^[")  # WriteEscaped: a cell must not drive the terminal


def _format_columns(lines: list[list[str]], widths: list[int], start: int, end: int, out: list[str]) -> None:
    """Go text/tabwriter's `format`: size each column over the block of lines that has it, recursively."""
    column = len(widths)
    block_start = start
    line = start
    while line < end:
        if column >= len(lines[line]) - 1:
            line += 1
            continue
        _write_lines(lines, widths, block_start, line, out)
        block_start = line
        width = _MIN_WIDTH
        while line < end and column < len(lines[line]) - 1:
            width = max(width, len(lines[line][column]) + _PADDING)
            line += 1
        _format_columns(lines, [*widths, width], block_start, line, out)
        block_start = line
    _write_lines(lines, widths, block_start, end, out)


def _write_lines(lines: list[list[str]], widths: list[int], start: int, end: int, out: list[str]) -> None:
    for cells in lines[start:end]:
        text = "".join(cell.ljust(widths[j]) if j < len(widths) else cell for j, cell in enumerate(cells))
        out.append(text + "\n")
