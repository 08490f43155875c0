"""Which changes of a pod from the API give its worker something to do.

The kubelet's config source (`checkAndUpdatePod`, `podsDifferSemantically` in pkg/kubelet/config/config.go) turns
an API update into a pod worker update only when the spec, labels, annotations, deletion timestamp or deletion grace
period changed; an update of the status alone (the kubelet's own status writes coming back through its watch) is a
reconcile that syncs nothing. Without this, every status write woke the pod's worker for a sync that found nothing
to do: one more observe, status computation and plan per write.
"""

from __future__ import annotations

from podrun.json_types import JSON
from podrun.kubelet.status import KUBELET_CONDITIONS

# The metadata fields podsDifferSemantically compares (labels, annotations, deletion), the spec aside.
_COMPARED_METADATA = ("labels", "annotations", "deletionTimestamp", "deletionGracePeriodSeconds")


def differs_semantically(existing: JSON, updated: JSON) -> bool:
    """The update changes what the kubelet acts on: the spec, the labels, the annotations or the deletion."""
    if existing.get("spec") != updated.get("spec"):
        return True
    old, new = existing.get("metadata") or {}, updated.get("metadata") or {}
    return any(_normalized(old, key) != _normalized(new, key) for key in _COMPARED_METADATA)


def external_conditions(status: JSON) -> list[JSON]:
    """The status's conditions that others own (readiness gates' conditions, set through pods/status)."""
    return [c for c in status.get("conditions") or [] if c.get("type") not in KUBELET_CONDITIONS]


def with_external_conditions(own: JSON, api: JSON) -> JSON:
    """The worker's own status with the API status's externally owned conditions in place of its copies.

    As the kubelet adopts the API's status in `checkAndUpdatePod` and its status manager's `mergePodStatus` keeps
    the conditions it does not own: a controller's readiness gate condition reaches the pod's Ready condition.
    """
    owned = [c for c in own.get("conditions") or [] if c.get("type") in KUBELET_CONDITIONS]
    return dict(own, conditions=[*external_conditions(api), *owned])


def _normalized(meta: JSON, key: str) -> object:
    # An empty map and no map are equal here: isAnnotationMapEqual makes them so for annotations; for labels
    # (reflect.DeepEqual tells them apart) an empty map means nothing either, so no sync is lost.
    value = meta.get(key)
    return value or None if key in ("labels", "annotations") else value
