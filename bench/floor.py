#!/usr/bin/env python3
"""The floor of N pods at once on this machine: what the OCI runtime and the CNI plugins cost by themselves.

For N pods of an init container and an app container, podrun must at least run 2N `runc create` + `runc start`, N
network namespaces (`unshare`) and N CNI ADDs (ptp + host-local); deleting them costs at least N CNI DELs and
`runc delete`s. This runs exactly those, without podrun, two at a time (the machine has two cores), and reports the
wall time and the CPU time (user + sys of the processes, from `RUSAGE_CHILDREN`) of each step:

* runc: one bundle per container, the busybox image's layer as a read-only root, `sleep 3600`, no terminal, the
  host's network namespace; `runc create` then `runc start` per container;
* network: a node namespace as podrun makes it (`podrun.network.netns`), one pinned namespace per pod made by
  `unshare --net=PIN true`, then podrun's own conflist and plugin calls (`podrun.network.cni.Cni.add` / `delete`).

Everything is made under the given work directory and removed (containers deleted, namespaces unpinned).

    .venv/bin/python bench/floor.py [--pods 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from compare.common import JSON, run

from podrun.network import netns
from podrun.network.cni import Cni
from podrun.network.config import NetworkConfig
from podrun.runtime import linux
from podrun.runtime.images.importer import import_archive
from podrun.runtime.images.store import ImageStore

REPO = Path(__file__).resolve().parents[1]
PARALLEL = 2
RUNC = "runc"
CGROUP_PARENT = "podrun-floor"  # under each cgroup hierarchy; removed at the end


def busybox_archive() -> Path:
    """The offline busybox archive (scripts/build-test-images)."""
    out = run([sys.executable, str(REPO / "scripts" / "build-test-images"), "--only", "busybox"], timeout=900).out
    return Path(out.split()[0])


def children_cpu() -> float:
    """User + sys seconds of every child this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(items: Sequence[str], step: Callable[[str], object]) -> JSON:
    """Run `step` on every item, PARALLEL at a time: wall ms and children's CPU ms."""
    cpu = children_cpu()
    began = time.perf_counter()
    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(step, items))
    return {"wall_ms": round((time.perf_counter() - began) * 1000, 1),
            "cpu_ms": round((children_cpu() - cpu) * 1000, 1), "count": len(items)}  # fmt: skip


def busybox_layer(work: Path, archive: Path) -> Path:
    """The busybox image's (single) layer directory, imported into a scratch image store."""
    store = ImageStore(work / "images")
    (record,) = import_archive(store, archive)[:1]
    layers = store.layer_dirs(record)
    if len(layers) != 1:
        raise RuntimeError(f"busybox has {len(layers)} layers; the floor needs one as a read-only root")
    return Path(layers[0])


def bundle(directory: Path, rootfs: Path, container_id: str) -> None:
    """`runc spec`'s default config, edited: no terminal, `sleep 3600`, read-only root, the host's network."""
    directory.mkdir(parents=True)
    run([RUNC, "spec", "--bundle", str(directory)])
    config = json.loads((directory / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = ["sleep", "3600"]
    config["root"] = {"path": str(rootfs), "readonly": True}
    config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"] if n["type"] != "network"]
    config["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{container_id}"
    (directory / "config.json").write_text(json.dumps(config))


def runc_floor(work: Path, archive: Path, containers: int) -> JSON:
    """`runc create` + `runc start` of `containers` containers, two at a time; every one deleted afterwards."""
    rootfs = busybox_layer(work, archive)
    state = work / "runc"
    ids = [f"podrun-floor-{k}" for k in range(containers)]
    for container_id in ids:
        bundle(work / "bundles" / container_id, rootfs, container_id)

    def runc(*args: str) -> None:
        subprocess.run([RUNC, f"--root={state}", *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)  # fmt: skip

    def create(container_id: str) -> None:
        runc("create", "--bundle", str(work / "bundles" / container_id), container_id)

    def start(container_id: str) -> None:
        runc("start", container_id)

    def create_and_start(container_id: str) -> None:
        create(container_id)
        start(container_id)

    try:
        doc = {"create_and_start": timed(ids, create_and_start)}
        doc["delete"] = timed(ids, lambda container_id: runc("delete", "--force", container_id))
    finally:
        for container_id in ids:
            subprocess.run([RUNC, f"--root={state}", "delete", "--force", container_id], capture_output=True)
        cgroups = Path("/sys/fs/cgroup")
        for parent in [*cgroups.glob(f"*/{CGROUP_PARENT}"), cgroups / CGROUP_PARENT]:  # v1 hierarchies, v2
            with contextlib.suppress(OSError):
                parent.rmdir()
    return doc


def cni_floor(work: Path, pods: int) -> JSON:
    """`unshare --net` and CNI ADD for `pods` namespaces, then CNI DEL, two at a time, in a node namespace."""
    config = NetworkConfig(state_dir=work / "net-state", run_dir=work / "net-run")
    netns.create(config.node_netns_path, config.service_cidr, [config.dns_ip])
    cni = Cni(config, config.node_netns_path)
    cni.write_conflist()
    pins = {f"floor{k:02d}": work / "pods" / f"floor{k:02d}" for k in range(pods)}
    (work / "pods").mkdir()

    def make_netns(sandbox_id: str) -> None:
        pins[sandbox_id].touch()
        subprocess.run(["unshare", f"--net={pins[sandbox_id]}", "true"], check=True)

    try:
        doc = {"unshare_net": timed(list(pins), make_netns)}
        doc["cni_add"] = timed(list(pins), lambda sandbox_id: cni.add(sandbox_id, pins[sandbox_id]))
        doc["cni_del"] = timed(list(pins), cni.delete)
    finally:
        for pin in pins.values():
            linux.unmount_all_under(pin)
        netns.remove(config.node_netns_path)
    return doc


def measure_floor(work: Path, archive: Path, pods: int) -> JSON:
    """Both floors for `pods` pods of two containers each; `work` is made and removed."""
    work.mkdir(parents=True)
    try:
        return {"parallel": PARALLEL, "runc": runc_floor(work, archive, 2 * pods), "network": cni_floor(work, pods)}
    finally:
        linux.unmount_all_under(work)
        if not linux.mounts_under(work):
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    """Command line; see the module's docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=20, help="pods (20): 2N containers, N namespaces")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="podrun-floor-", dir="/tmp"))
    shutil.rmtree(work)
    print(json.dumps(measure_floor(work, busybox_archive(), args.pods), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
