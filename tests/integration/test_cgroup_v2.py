"""What a container sees and suffers on a host with the unified cgroup v2 layout, as under containerd and the kubelet.

These need a cgroup v2 host: they skip on cgroup v1 (hybrid) hosts such as the build machines, and run in the
cgroup v2 lane (`scripts/test-cgroup-v2`, a throwaway pure cgroup v2 machine).
"""

from __future__ import annotations

import pytest
from kubelet_harness import RUN_UNTIL_TERM, busybox, is_running, phase_is, pod, run_pod, state

from podrun.runtime.local import LocalRuntime
from podrun.runtime.oci_runtime import cgroup_mode

pytestmark = pytest.mark.skipif(
    cgroup_mode() != "unified",
    reason=f"needs the unified cgroup v2 layout (this host's is {cgroup_mode()}): run scripts/test-cgroup-v2",
)

LIMIT_16MI = {"limits": {"memory": "16Mi"}}


async def test_a_container_reads_its_own_memory_limit_at_the_root_of_sys_fs_cgroup(runtime: LocalRuntime) -> None:
    """A private cgroup namespace: the container's `/sys/fs/cgroup` is its own cgroup, as containerd gives it."""
    limited = busybox("app", RUN_UNTIL_TERM, resources=LIMIT_16MI)
    async with run_pod(runtime, pod("cgroup-view", [limited], terminationGracePeriodSeconds=1)) as p:
        await p.wait_for(lambda status: is_running(status, "app"), "app running")

        assert await p.exec("app", "cat", "/sys/fs/cgroup/memory.max") == f"{16 << 20}\n"


async def test_an_oom_kill_of_one_process_kills_the_whole_container(runtime: LocalRuntime) -> None:
    """`memory.oom.group=1`, as the kubelet (1.28+) sets on cgroup v2: when `tail` is OOM-killed the shell dies
    with it, so the container ends OOMKilled with 137 and the pod Failed, not Succeeded with the shell's 0."""
    hog = busybox("hog", "head -c 64m /dev/zero | tail > /dev/null; echo survived", resources=LIMIT_16MI)
    async with run_pod(runtime, pod("oom-group", [hog], restart_policy="Never")) as p:
        final = await p.wait_for(phase_is("Succeeded", "Failed"), "a terminal phase")

    assert final["phase"] == "Failed"
    assert (state(final, "hog")[1]["reason"], state(final, "hog")[1]["exitCode"]) == ("OOMKilled", 137)
