"""Which changes of a pod from the API give its worker something to do.

The kubelet's config source (`checkAndUpdatePod`, `podsDifferSemantically` in pkg/kubelet/config/config.go) turns
an API update into a pod worker update only when the spec, labels, annotations, deletion timestamp or deletion grace
period changed; an update of the status alone (the kubelet's own status writes coming back through its watch) is a
reconcile that syncs nothing. Without this, every status write woke the pod's worker for a sync that found nothing
to do: one more observe, status computation and plan per write.
"""

from __future__ import annotations

from podrun.json_types import JSON

# The metadata fields podsDifferSemantically compares (labels, annotations, deletion), the spec aside.
_COMPARED_METADATA = ("labels", "annotations", "deletionTimestamp", "deletionGracePeriodSeconds")


def differs_semantically(existing: JSON, updated: JSON) -> bool:
    """The update changes what the kubelet acts on: the spec, the labels, the annotations or the deletion."""
    if existing.get("spec") != updated.get("spec"):
        return True
    old, new = existing.get("metadata") or {}, updated.get("metadata") or {}
    return any(_normalized(old, key) != _normalized(new, key) for key in _COMPARED_METADATA)


def _normalized(meta: JSON, key: str) -> object:
    # An empty map and no map are equal here, as isAnnotationMapEqual and reflect.DeepEqual on nil maps make them.
    value = meta.get(key)
    return value or None if key in ("labels", "annotations") else value
