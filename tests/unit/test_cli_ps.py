"""`podrun ps` reads the pods a root holds from disk and prints them as `kubectl get pods -A` would, with owners."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from podrun.api.store import Store
from podrun.cli.main import main
from podrun.cli.pods_offline import gone_pod_dirs, offline_pods, root_holder
from podrun.cli.ps import containers_table, ps_table

GOLDEN = Path(__file__).parent.parent / "golden" / "ps"
NOW = 1_000_000.0


def add_sandbox(root: Path, sandbox_id: str, name: str, uid: str, age: float, ips: list[str]) -> None:
    d = root / "sandboxes" / sandbox_id
    d.mkdir(parents=True)
    config = {"name": name, "namespace": "default", "uid": uid, "hostname": name, "hosts_file": "", "resolv_conf": ""}
    doc = {"id": sandbox_id, "config": config, "created_at": NOW - age, "ips": ips}
    (d / "sandbox.json").write_text(json.dumps(doc))


def add_container(root: Path, cid: str, sandbox_id: str, name: str, state: str, exit_code: int, at: float) -> None:
    d = root / "containers" / cid
    d.mkdir(parents=True)
    labels = {"io.kubernetes.container.name": name}
    record = {"id": cid, "sandbox_id": sandbox_id, "name": name, "image": "busybox", "image_id": "sha256:1",
              "created_at": at, "state": state, "exit_code": exit_code, "labels": labels}  # fmt: skip
    (d / "container.json").write_text(json.dumps(record))


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """A root with a completed kept pod, a failed pod a killed run left (restarted once), and a half-made one."""
    root, run_root = tmp_path / "root", tmp_path / "run"
    run_root.mkdir()
    add_sandbox(root, "a" * 64, "kept-job", "uid-kept", age=90, ips=["10.88.0.2"])
    add_container(root, "c1", "a" * 64, "job", "exited", 0, NOW - 80)
    add_sandbox(root, "b" * 64, "crashed", "uid-crashed", age=4000, ips=[])
    add_container(root, "c2", "b" * 64, "app", "exited", 1, NOW - 3000)
    add_container(root, "c3", "b" * 64, "app", "exited", 2, NOW - 2000)
    add_container(root, "c4", "b" * 64, "sidecar", "exited", 0, NOW - 2000)
    (root / "sandboxes" / "half-made").mkdir()
    (root / "run-pods.json").write_text(json.dumps([{"metadata": {"name": "crashed", "uid": "uid-crashed"}}]))
    return root, run_root


def test_the_table_shows_each_pod_with_its_owner(roots: tuple[Path, Path]) -> None:
    assert ps_table(offline_pods(*roots), NOW) == (GOLDEN / "table.txt").read_text()


def test_the_wide_table_adds_the_ip_and_the_sandbox(roots: tuple[Path, Path]) -> None:
    assert ps_table(offline_pods(*roots), NOW, wide=True) == (GOLDEN / "wide.txt").read_text()


def test_the_containers_view_lists_every_instance(roots: tuple[Path, Path]) -> None:
    assert containers_table(offline_pods(*roots), NOW) == (GOLDEN / "containers.txt").read_text()


def test_a_live_holder_of_the_root_lock_owns_every_pod(roots: tuple[Path, Path]) -> None:
    holder = subprocess.Popen(["bash", "-c", "exec -a podrun-serve sleep 60"])
    try:
        (roots[1] / "podrun.lock").write_text(f"podrun serve (pid {holder.pid})")
        wait_for(lambda: Path(f"/proc/{holder.pid}/cmdline").read_bytes().startswith(b"podrun-serve"))

        assert {pod.owner for pod in offline_pods(*roots)} == {f"podrun serve (pid {holder.pid})"}
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_file_naming_a_dead_process_owns_nothing(roots: tuple[Path, Path]) -> None:
    (roots[1] / "podrun.lock").write_text("podrun run (pid 999999999)")

    assert root_holder(roots[1]) is None
    assert {pod.owner for pod in offline_pods(*roots)} == {"kept", "killed run"}


def test_json_output_lists_pods_with_their_containers(
    roots: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ps", "--root", str(roots[0]), "--run-root", str(roots[1]), "-o", "json"]) == 0

    pods = json.loads(capsys.readouterr().out)
    assert [(p["name"], [c["name"] for c in p["containers"]]) for p in pods] == [
        ("crashed", ["app", "app", "sidecar"]),
        ("kept-job", ["job"]),
    ]


def test_an_empty_root_says_no_resources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ps", "--root", str(tmp_path / "r"), "--run-root", str(tmp_path / "rr")]) == 0

    assert capsys.readouterr().err == f"No resources found under {tmp_path / 'r'}.\n"


def test_a_pod_in_a_stopped_serves_store_is_the_serves_and_prune_and_rm_leave_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, run_root = tmp_path / "root", tmp_path / "run"
    (root / "api").mkdir(parents=True)
    store = Store(root / "api" / "store.db")
    uid = store.create("pods", {"metadata": {"name": "served", "namespace": "default"}, "spec": {}})["metadata"]["uid"]
    store.close()
    add_sandbox(root, "c" * 64, "served", uid, age=10, ips=[])
    flags = ["--root", str(root), "--run-root", str(run_root)]

    assert [pod.owner for pod in offline_pods(root, run_root)] == ["stopped serve"]
    assert main(["prune", "--dry-run", *flags]) == 0
    assert capsys.readouterr().err.startswith("leaving pod/default/served (stopped serve): it belongs to a stopped")
    assert main(["rm", "served", *flags]) == 1
    assert "refusing to remove pod/default/served (stopped serve)" in capsys.readouterr().err
    assert (root / "sandboxes" / ("c" * 64) / "sandbox.json").exists()


def test_prune_removes_the_volumes_and_logs_of_a_pod_that_is_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, run_root = tmp_path / "root", tmp_path / "run"
    run_root.mkdir()
    (root / "pods" / "uid-gone" / "volumes" / "kubernetes.io~empty-dir" / "cache").mkdir(parents=True)
    (root / "logs" / "pods" / "default_gone_uid-gone" / "app").mkdir(parents=True)
    flags = ["--root", str(root), "--run-root", str(run_root)]

    assert main(["prune", "--dry-run", *flags]) == 0
    assert capsys.readouterr().out == "would remove the volumes and logs of gone pod uid-gone\n"
    assert main(["prune", *flags]) == 0

    assert capsys.readouterr().out == "removed the volumes and logs of gone pod uid-gone\n"
    assert list((root / "pods").iterdir()) == [] and list((root / "logs" / "pods").iterdir()) == []


def test_prune_keeps_the_volumes_of_a_pod_in_a_stopped_serves_store(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "api").mkdir(parents=True)
    store = Store(root / "api" / "store.db")
    uid = store.create("pods", {"metadata": {"name": "served", "namespace": "default"}, "spec": {}})["metadata"]["uid"]
    store.close()
    (root / "pods" / uid / "volumes").mkdir(parents=True)
    (root / "pods" / "uid-kept").mkdir()
    add_sandbox(root, "a" * 64, "kept-job", "uid-kept", age=90, ips=[])

    assert gone_pod_dirs(root, offline_pods(root, tmp_path / "run")) == []


def test_prune_leaves_every_pod_directory_when_the_stopped_serves_store_cannot_be_read(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "api").mkdir(parents=True)
    (root / "api" / "store.db").write_bytes(b"not a database")
    (root / "pods" / "uid-maybe-served").mkdir(parents=True)

    assert gone_pod_dirs(root, offline_pods(root, tmp_path / "run")) == []
