"""The kubelet's container garbage collection over an in-memory runtime: what goes and what stays."""

from __future__ import annotations

from pathlib import Path

from fake_runtime import FakeRuntime

from podrun.kubelet import labels
from podrun.kubelet.gc import collect_garbage, dead_beyond_limit
from podrun.kubelet.node_facts import PodPaths
from podrun.runtime.protocol import ContainerState, ContainerStatus, SandboxConfig, SandboxStatus

LIVE, GONE = "live-uid", "gone-uid"


def container(cid: str, uid: str, name: str, state: ContainerState, created_at: float) -> ContainerStatus:
    return ContainerStatus(
        id=cid, sandbox_id=f"sandbox-{uid}", name=name, state=state, image="busybox", image_id="busybox",
        created_at=created_at, labels={labels.POD_UID: uid, labels.CONTAINER_NAME: name},
    )  # fmt: skip


def with_sandboxes(runtime: FakeRuntime, *uids: str) -> None:
    for uid in uids:
        config = SandboxConfig(name=uid, namespace="default", uid=uid, hostname=uid, hosts_file="", resolv_conf="")
        runtime.sandboxes[f"sandbox-{uid}"] = SandboxStatus(f"sandbox-{uid}", config, ready=True, created_at=1.0)


def with_containers(runtime: FakeRuntime, *containers: ContainerStatus) -> None:
    for c in containers:
        runtime.containers[c.id] = c


def paths_with_pods(tmp_path: Path, *uids: str) -> PodPaths:
    paths = PodPaths.under(tmp_path)
    for uid in uids:
        (paths.pod_dir(uid) / "volumes" / "kubernetes.io~empty-dir" / "data").mkdir(parents=True)
        (paths.logs_dir / f"default_{uid}_{uid}" / "app").mkdir(parents=True)
    return paths


def test_only_the_newest_dead_instance_of_each_container_is_kept() -> None:
    instances = [container(f"c{i}", LIVE, "app", ContainerState.EXITED, float(i)) for i in range(4)]

    assert [c.id for c in dead_beyond_limit(instances)] == ["c0", "c1", "c2"]


def test_running_and_created_instances_are_never_pruned() -> None:
    instances = [
        container("old", LIVE, "app", ContainerState.EXITED, 1.0),
        container("prepared", LIVE, "app", ContainerState.CREATED, 2.0),
        container("now", LIVE, "app", ContainerState.RUNNING, 3.0),
    ]

    assert dead_beyond_limit(instances) == []


def test_dead_instances_are_counted_per_pod_and_container_name() -> None:
    instances = [
        container("a", LIVE, "app", ContainerState.EXITED, 1.0),
        container("b", LIVE, "init", ContainerState.EXITED, 2.0),
        container("c", GONE, "app", ContainerState.EXITED, 3.0),
    ]

    assert dead_beyond_limit(instances) == []


async def test_the_sandbox_of_a_pod_that_is_gone_is_removed(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    with_sandboxes(runtime, LIVE, GONE)

    collected = await collect_garbage(runtime, paths_with_pods(tmp_path), lambda uid: uid == LIVE)

    assert collected.sandboxes == [f"sandbox-{GONE}"]
    assert list(runtime.sandboxes) == [f"sandbox-{LIVE}"]


async def test_a_running_container_of_a_pod_that_is_gone_is_killed_and_removed(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    with_containers(runtime, container("orphan", GONE, "app", ContainerState.RUNNING, 1.0))

    collected = await collect_garbage(runtime, paths_with_pods(tmp_path), lambda uid: uid == LIVE)

    assert collected.containers == ["orphan"]
    assert runtime.calls == [("stop_container", "app"), ("remove_container", "app")]
    assert runtime.stop_graces == {"app": 0}


async def test_the_containers_of_a_live_pod_stay_but_its_older_dead_instances(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    with_containers(
        runtime,
        container("first", LIVE, "app", ContainerState.EXITED, 1.0),
        container("second", LIVE, "app", ContainerState.EXITED, 2.0),
        container("third", LIVE, "app", ContainerState.RUNNING, 3.0),
    )

    collected = await collect_garbage(runtime, paths_with_pods(tmp_path), lambda uid: uid == LIVE)

    assert collected.containers == ["first"]
    assert sorted(runtime.containers) == ["second", "third"]


async def test_the_volumes_and_logs_of_a_pod_that_is_gone_are_removed(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    paths = paths_with_pods(tmp_path, LIVE, GONE)

    collected = await collect_garbage(runtime, paths, lambda uid: uid == LIVE)

    assert collected.pod_dirs == [GONE]
    assert [p.name for p in paths.pods_dir.iterdir()] == [LIVE]
    assert [p.name for p in paths.logs_dir.iterdir()] == [f"default_{LIVE}_{LIVE}"]


async def test_a_failed_removal_is_left_for_the_next_collection(tmp_path: Path) -> None:
    runtime = FakeRuntime()
    with_sandboxes(runtime, GONE)
    runtime.fail_next("remove_sandbox")
    with_containers(runtime, container("orphan", GONE, "app", ContainerState.RUNNING, 1.0))

    collected = await collect_garbage(runtime, paths_with_pods(tmp_path), lambda uid: False)

    assert collected.sandboxes == []
    assert collected.containers == ["orphan"]
