"""The OCI config on a unified cgroup v2 host against a v1 (hybrid or legacy) host.

The cgroup layout is passed in, so these run anywhere, without root.
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from podrun.runtime.images.store import ImageConfig
from podrun.runtime.ocispec import SandboxPaths, User, generate
from podrun.runtime.protocol import ContainerConfig, Resources, SecurityConfig

SANDBOX = SandboxPaths(
    netns="/run/podrun/sandboxes/s/ns/net", ipcns="/run/podrun/sandboxes/s/ns/ipc",
    utsns="/run/podrun/sandboxes/s/ns/uts", hostname="pod", hosts_file="/h/hosts", resolv_conf="/h/resolv.conf",
    hostname_file="/h/hostname", shm="/run/podrun/sandboxes/s/shm",
)  # fmt: skip
LIMITED = ContainerConfig(
    name="app", image="busybox", command=("sh",), resources=Resources(memory_limit_bytes=16 << 20)
)


def linux_section(config: ContainerConfig, cgroup_mode: str) -> dict[str, Any]:
    spec = generate(
        config, ImageConfig(), rootfs="/rootfs", user=User(0, 0), sandbox=SANDBOX,
        cgroups_path="/podrun/s/c", cgroup_mode=cgroup_mode,
    )  # fmt: skip
    return cast(dict[str, Any], spec["linux"])


def namespace_types(linux: dict[str, Any]) -> list[str]:
    return [ns["type"] for ns in linux["namespaces"]]


def test_a_container_on_a_unified_host_gets_a_private_cgroup_namespace() -> None:
    assert namespace_types(linux_section(LIMITED, "unified")) == ["pid", "mount", "network", "ipc", "uts", "cgroup"]


@pytest.mark.parametrize("mode", ["hybrid", "legacy"])
def test_a_container_on_a_cgroup_v1_host_keeps_the_hosts_cgroup_namespace(mode: str) -> None:
    assert "cgroup" not in namespace_types(linux_section(LIMITED, mode))


def test_a_privileged_container_on_a_unified_host_keeps_the_hosts_cgroup_namespace() -> None:
    privileged = ContainerConfig(name="app", image="busybox", command=("sh",), security=SecurityConfig(privileged=True))

    assert "cgroup" not in namespace_types(linux_section(privileged, "unified"))


def test_on_a_unified_host_an_oom_kill_takes_the_whole_container() -> None:
    resources = linux_section(LIMITED, "unified")["resources"]

    assert resources["unified"] == {"memory.oom.group": "1"}
    assert resources["memory"] == {"limit": 16 << 20, "swap": 16 << 20}


@pytest.mark.parametrize("mode", ["hybrid", "legacy"])
def test_on_a_cgroup_v1_host_no_unified_resources_are_set(mode: str) -> None:
    assert "unified" not in linux_section(LIMITED, mode)["resources"]
