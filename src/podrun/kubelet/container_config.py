"""Turning a Kubernetes container into the runtime's `ContainerConfig` (generateContainerConfig). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from podrun.kubelet import labels
from podrun.kubelet.expansion import expand_command
from podrun.model.quantity import to_bytes, to_millis
from podrun.runtime.protocol import ContainerConfig, Mount, Resources, SecurityConfig

MIN_SHARES = 2


def milli_cpu_to_shares(millis: int) -> int:
    """The kubelet's MilliCPUToShares: 1 CPU = 1024 shares, at least 2."""
    return max(MIN_SHARES, millis * 1024 // 1000) if millis else MIN_SHARES


def security_config(pod: Mapping[str, Any], container: Mapping[str, Any]) -> SecurityConfig:
    """The container's securityContext over the pod's, as the kubelet merges them."""
    pod_sc = pod["spec"].get("securityContext") or {}
    sc = container.get("securityContext") or {}

    def pick(key: str) -> Any:
        return sc[key] if sc.get(key) is not None else pod_sc.get(key)

    caps = sc.get("capabilities") or {}
    groups = [int(g) for g in pod_sc.get("supplementalGroups") or []]
    if pod_sc.get("fsGroup") is not None:
        groups.append(int(pod_sc["fsGroup"]))
    privileged = bool(sc.get("privileged"))
    escalation = sc.get("allowPrivilegeEscalation")
    return SecurityConfig(
        run_as_user=pick("runAsUser"),
        run_as_group=pick("runAsGroup"),
        supplemental_groups=tuple(groups),
        privileged=privileged,
        readonly_rootfs=bool(sc.get("readOnlyRootFilesystem")),
        capabilities_add=tuple(caps.get("add") or ()),
        capabilities_drop=tuple(caps.get("drop") or ()),
        no_new_privileges=escalation is False and not privileged,
        run_as_non_root=bool(pick("runAsNonRoot")),
    )


def resources(container: Mapping[str, Any]) -> Resources:
    """cgroup limits from `resources.limits` and CPU shares from `resources.requests`."""
    res = container.get("resources") or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    return Resources(
        memory_limit_bytes=to_bytes(limits["memory"]) if "memory" in limits else None,
        cpu_quota_millis=to_millis(limits["cpu"]) if "cpu" in limits else None,
        cpu_shares=milli_cpu_to_shares(to_millis(requests["cpu"])) if "cpu" in requests else None,
    )


def container_config(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    image_id: str,
    env: Sequence[tuple[str, str]],
    mounts: Sequence[Mount],
    log_path: str,
    restart_count: int,
    target_container_id: str = "",
) -> ContainerConfig:
    """Everything the runtime needs to create this container, with `$(VAR)` expanded in command and args.

    `target_container_id` (an ephemeral container's target) is the container whose PID namespace it shares.
    """
    meta = pod["metadata"]
    command, args = expand_command(container.get("command") or [], container.get("args") or [], dict(env))
    return ContainerConfig(
        name=container["name"],
        image=image_id,
        command=tuple(command),
        args=tuple(args),
        env=tuple(env),
        working_dir=container.get("workingDir") or "",
        mounts=tuple(mounts),
        security=security_config(pod, container),
        resources=resources(container),
        log_path=log_path,
        stdin=bool(container.get("stdin")),
        stdin_once=bool(container.get("stdinOnce")),
        tty=bool(container.get("tty")),
        target_container_id=target_container_id,
        labels={
            labels.POD_NAME: meta["name"],
            labels.POD_NAMESPACE: meta.get("namespace", "default"),
            labels.POD_UID: meta["uid"],
            labels.CONTAINER_NAME: container["name"],
        },
        annotations={
            labels.CONTAINER_HASH: labels.container_hash(dict(container)),
            labels.CONTAINER_IMAGE: container.get("image", ""),
            labels.CONTAINER_RESTART_COUNT: str(restart_count),
            labels.CONTAINER_TERMINATION_MESSAGE_PATH: container.get("terminationMessagePath")
            or "/dev/termination-log",
            labels.POD_TERMINATION_GRACE_PERIOD: str(pod["spec"].get("terminationGracePeriodSeconds", 30)),
        },
    )
