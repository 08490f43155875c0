"""The labels and annotations podrun puts on runtime containers, under the kubelet's own names.

The kubelet writes these on every CRI container (`pkg/kubelet/kuberuntime/labels.go`,
`newContainerLabels` and `newContainerAnnotations`), and containerd shows them back. podrun uses the
same keys so a runtime container can be traced to its pod and container spec after a podrun restart,
and so the planner can tell which spec a running container was created from.
"""

from __future__ import annotations

import json
from typing import Any

from podrun.runtime.protocol import ContainerStatus, Runtime

# Labels (`newContainerLabels`; the names are `pkg/kubelet/types/labels.go`).
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"

# Annotations (`newContainerAnnotations`).
CONTAINER_HASH = "io.kubernetes.container.hash"
CONTAINER_RESTART_COUNT = "io.kubernetes.container.restartCount"
CONTAINER_TERMINATION_MESSAGE_PATH = "io.kubernetes.container.terminationMessagePath"
POD_TERMINATION_GRACE_PERIOD = "io.kubernetes.pod.terminationGracePeriod"
# The image as the spec named it when the container was created (CRI's `ImageSpec.user_specified_image`): the
# runtime is handed the image ID, and the status must name what ran even after the spec's image changed.
CONTAINER_IMAGE = "io.podrun.container.image"

_FNV32_OFFSET_BASIS = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def container_hash(container: dict[str, Any]) -> str:
    """The spec hash stored in `CONTAINER_HASH`: FNV-1a (32 bit) over the container's name and image, in hex.

    This follows `HashContainer` in `pkg/kubelet/container/helpers.go` as of v1.31 and later: it hashes
    only `pickFieldsToHash(container)`, the map `{"name", "image"}`. Up to v1.30 it hashed the JSON of the
    whole container, so any new API field or default changed every hash and restarted every container on a
    kubelet upgrade (kubernetes#124220); `image` is also the only container field the API lets a user
    change on a live pod (resources aside, which in-place resize handles without a restart).
    Like the kubelet, the value is written as lower-case hex (`strconv.FormatUint(hash, 16)`).

    The value is not bit-for-bit the kubelet's: the kubelet feeds FNV a go-spew dump of the JSON bytes
    (`hashutil.DeepHashObject`), a Go-specific format. podrun only ever compares its own hashes, so the
    input here is the canonical JSON itself.
    """
    picked = {"image": container.get("image", ""), "name": container.get("name", "")}
    data = json.dumps(picked, sort_keys=True, separators=(",", ":")).encode()
    value = _FNV32_OFFSET_BASIS
    for byte in data:
        value = ((value ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return format(value, "x")


async def pod_containers(runtime: Runtime, uid: str) -> list[ContainerStatus]:
    """Every runtime container of the pod with this uid, found by its pod-UID label."""
    return await runtime.list_containers({POD_UID: uid})
