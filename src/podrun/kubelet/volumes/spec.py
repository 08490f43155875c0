"""What a pod spec says about its volumes: each volume's kind, its plugin directory, the set-up context."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podrun.json_types import JSON
from podrun.kubelet.env import Getter

PLUGIN_DIRS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
# The wrapped emptyDir medium of the atomic-writer plugins (their wrappedVolumeSpec).
MEMORY_BACKED = frozenset({"secret", "downwardAPI", "projected"})
ATOMIC_WRITER_SOURCES = ("configMap", "secret", "downwardAPI", "projected")

# A service account token for the pod: (audience or None, expirationSeconds) -> the token, None if none is issued.
TokenGetter = Callable[[str | None, int], str | None]


@dataclass(frozen=True)
class VolumeContext:
    """What setting up a pod's volumes reads: the pod, its directory, the API objects, the pod's service account
    tokens, node allocatable."""

    pod: Mapping[str, Any]
    pod_dir: Path
    get_configmap: Getter
    get_secret: Getter
    get_token: TokenGetter
    node_allocatable: Mapping[str, int]


def volume_kind(volume: Mapping[str, Any]) -> str:
    """The volume's source member (a volume without one is an emptyDir, as SetDefaults_Volume makes it)."""
    for source in ("hostPath", *PLUGIN_DIRS):
        if volume.get(source) is not None:
            return source
    others = [key for key, value in volume.items() if key != "name" and value is not None]
    return others[0] if others else "emptyDir"


def pod_volumes(pod: Mapping[str, Any]) -> list[JSON]:
    """The pod's `spec.volumes` entries that are objects."""
    return dicts((pod.get("spec") or {}).get("volumes"))


def dicts(value: Any) -> list[JSON]:
    """The objects of a list field (nothing if the field is not a list)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
