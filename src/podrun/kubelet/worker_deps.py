"""The frozen bundle of what a pod worker uses: the kubelet's shared parts, passed in, not reached for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from podrun.json_types import JSON
from podrun.kubelet.backoff import Backoff
from podrun.kubelet.host import PodHost
from podrun.kubelet.images import ImageManager
from podrun.kubelet.node_facts import NodeFacts, PodPaths
from podrun.kubelet.probing.manager import ProbeManager
from podrun.kubelet.teardown_slots import TeardownSlots
from podrun.runtime.protocol import Runtime

# (pod, kind, reason, message, fieldPath): records an event through the kubelet's correlator.
EventSink = Callable[[JSON, str, str, str, str], None]


@dataclass(frozen=True)
class WorkerDeps:
    """Everything shared between pod workers; one instance per node."""

    runtime: Runtime
    host: PodHost
    probes: ProbeManager
    images: ImageManager
    crash_backoff: Backoff
    record_event: EventSink
    node: NodeFacts
    paths: PodPaths
    teardowns: TeardownSlots  # how many pods are torn down at once
    keep: bool = False  # `podrun run --keep`: leave sandboxes and volumes after the pod ends
