"""What the API server and podrun's one-node scheduler do to a pod, for `podrun run` and `podrun serve` alike.

Admission gives a new pod its identity (uid, creation time, namespace), binds it to the node unless
scheduling gates hold it back, and fixes its QoS class. Deletion follows the pod strategy's
`CheckGracefulDelete`: the grace period asked for, else the pod's own; zero for a pod that is not
bound or already finished; a negative one becomes 1 s.
"""

from __future__ import annotations

import os

from podrun.json_types import JSON
from podrun.kubelet.qos import qos_class
from podrun.timestamps import format_time

TERMINAL_PHASES = ("Succeeded", "Failed")


def bind_pod(pod: JSON, node_name: str) -> None:
    """podrun's scheduler: every pod runs on this node, once its scheduling gates are gone."""
    spec = pod["spec"]
    if not spec.get("nodeName") and not spec.get("schedulingGates"):
        spec["nodeName"] = node_name


def random_uuid() -> str:
    """A random (version 4) UUID as text, as `str(uuid.uuid4())` makes it: the uuid module (and the platform module
    it imports) would cost every `podrun run` 2 ms of start-up for this one call."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def admit_pod(pod: JSON, node_name: str, *, now: float) -> JSON:
    """A new pod as stored: uid, creationTimestamp, namespace, binding, Pending with its QoS class."""
    meta = pod["metadata"]
    meta["uid"] = random_uuid()
    meta["creationTimestamp"] = format_time(now)
    meta.setdefault("namespace", "default")
    bind_pod(pod, node_name)
    pod["status"] = {"phase": "Pending", "qosClass": qos_class(pod)}
    return pod


MAX_GRACE_SECONDS = 2**31 - 1


def deletion_grace_period(pod: JSON, requested: int | None) -> int:
    """The grace period a pod's deletion gets (`CheckGracefulDelete`; negative means 1).

    Periods longer than `MAX_GRACE_SECONDS` (68 years) are cut to it, so that every deadline is a date.
    """
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    period = requested if requested is not None else int(spec.get("terminationGracePeriodSeconds") or 0)
    if not spec.get("nodeName") or status.get("phase") in TERMINAL_PHASES:
        period = 0
    return bounded_grace(period)


def bounded_grace(period: int) -> int:
    """A requested grace period as the API server applies it: negative means 1; at most `MAX_GRACE_SECONDS`."""
    return 1 if period < 0 else min(period, MAX_GRACE_SECONDS)


def marked_for_deletion(pod: JSON, requested: int | None, *, now: float) -> JSON:
    """The pod with `deletionTimestamp = now + grace` and `deletionGracePeriodSeconds`, as a DELETE leaves it."""
    grace = deletion_grace_period(pod, requested)
    meta = dict(pod["metadata"], deletionTimestamp=format_time(now + grace), deletionGracePeriodSeconds=grace)
    return dict(pod, metadata=meta)
