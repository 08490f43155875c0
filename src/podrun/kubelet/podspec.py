"""Small questions asked of a pod spec in many places."""

from __future__ import annotations

from podrun.json_types import JSON


def is_sidecar(container: JSON) -> bool:
    """An init container with `restartPolicy: Always` (a native sidecar)."""
    return container.get("restartPolicy") == "Always"


def field_path(pod: JSON, name: str) -> str:
    """The event `fieldPath` of a container: `spec.containers{app}`, `spec.initContainers{init}` or
    `spec.ephemeralContainers{debugger}`."""
    for key in ("initContainers", "ephemeralContainers"):
        if any(c["name"] == name for c in pod["spec"].get(key) or []):
            return f"spec.{key}{{{name}}}"
    return f"spec.containers{{{name}}}"


def all_containers(pod: JSON) -> list[JSON]:
    """Init containers then regular containers, in spec order."""
    return [*(pod["spec"].get("initContainers") or []), *pod["spec"]["containers"]]


def every_container(pod: JSON) -> list[JSON]:
    """Init, regular and ephemeral containers, in the order `podutil.VisitContainers` visits them."""
    return [*all_containers(pod), *(pod["spec"].get("ephemeralContainers") or [])]
