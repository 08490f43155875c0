#!/usr/bin/env python3
"""Container start latency: podrun's `LocalRuntime` against a raw `run` of an equivalent bundle by its OCI runtime.

One run is a busybox `true` container created, started and seen to exit, in a sandbox made beforehand:

* podrun: from the `create_container` call until the exit event arrives (overlay mount, bundle, conmon,
  `runc create`/`start`, the exit noticed through conmon and `runc delete` done);
* raw: `runc run --bundle B ID` (or crun's), which deletes the container when it exits, with B prepared once: an
  overlay rootfs of the same image and the config.json podrun would write for the container, joining the same
  sandbox namespaces. (`run --keep` then `delete` would be the same work, but crun has no `--keep`.)

The two alternate, after one untimed warm-up of each; the medians are compared with the target
**podrun <= 1.5 x raw + 15 ms**. `--oci-runtime crun|runc` picks the runtime of both (podrun's choice by default);
`--also-raw crun|runc` times that other runtime's raw `run` of the same bundle as well, in the same alternation:
the floor of each runtime, side by side, where both work (cgroup v2). Timing never changes the exit status: only a
crash does. Needs root, runc or crun, and conmon. Everything made (directories, mounts, namespaces, cgroups) is
removed at the end.

    .venv/bin/python bench/runtime_start.py [--quick] [--runs N] [--oci-runtime crun|runc] [--also-raw crun|runc]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from podrun.runtime import cgroups, linux, ocispec
from podrun.runtime.images.importer import import_archive
from podrun.runtime.local import LocalRuntime
from podrun.runtime.oci_runtime import OCIRuntime, choose_runtime
from podrun.runtime.protocol import (
    ContainerConfig,
    ContainerEvent,
    ContainerStatus,
    EventKind,
    SandboxConfig,
    SecurityConfig,
)
from podrun.runtime.users import resolve_user

REPO = Path(__file__).resolve().parents[1]
RAW_ID = "podrun-bench-raw"
CONTAINER = ContainerConfig(name="bench", image="busybox", command=("true",))
SANDBOX = SandboxConfig(
    name="bench", namespace="default", uid="bench-uid", hostname="bench",
    hosts_file="127.0.0.1\tlocalhost\n", resolv_conf="nameserver 127.0.0.1\n",
)  # fmt: skip


def busybox_archive() -> Path:
    """The busybox test image (built by scripts/build-test-images, or found in its cache)."""
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build-test-images"), "--only", "busybox"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return Path(out.split()[0])


class RawBundle:
    """An OCI bundle run directly with OCI runtimes: the same image and config.json as podrun's container."""

    def __init__(self, rt: LocalRuntime, sandbox_id: str, work: Path) -> None:
        self.rt, self.dir, self.work = rt, work / "bundle", work
        self.used: set[OCIRuntime] = set()
        image = rt.images.resolve(CONTAINER.image)
        assert image is not None
        rootfs = self.dir / "rootfs"
        for sub in ("upper", "work", "rootfs"):
            (self.dir / sub).mkdir(parents=True)
        lower = ":".join(str(p) for p in reversed(rt.images.layer_dirs(image)))
        options = f"lowerdir={lower},upperdir={self.dir / 'upper'},workdir={self.dir / 'work'}"
        linux.mount("overlay", rootfs, "overlay", 0, options)
        image_config = rt.images.config(image)
        spec = ocispec.generate(
            CONTAINER, image_config, rootfs=str(rootfs), user=resolve_user(image_config.user, SecurityConfig(), rootfs),
            sandbox=rt.sandboxes.paths(sandbox_id), cgroups_path=cgroups.container_path(sandbox_id, RAW_ID),
            cgroup_mode=rt.oci.cgroup_mode,
        )  # fmt: skip
        (self.dir / "config.json").write_text(json.dumps(spec))

    def _oci(self, oci: OCIRuntime, *args: str) -> subprocess.CompletedProcess[bytes]:
        # Each runtime keeps its state in its own root: neither reads the other's.
        return subprocess.run(
            [oci.path, f"--root={self.work / oci.name}", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def run_once(self, oci: OCIRuntime) -> float:
        """Seconds for `oci`'s `run` to the container's exit and its deletion."""
        self.used.add(oci)
        started = time.perf_counter()
        run = self._oci(oci, "run", "--bundle", str(self.dir), RAW_ID)
        elapsed = time.perf_counter() - started
        if run.returncode != 0:
            raise RuntimeError(f"{oci.name} run failed ({run.returncode}): {run.stderr.decode().strip()}")
        return elapsed

    def remove(self) -> None:
        """Delete the container if a run was interrupted, and unmount the rootfs."""
        for oci in self.used:
            self._oci(oci, "delete", "--force", RAW_ID)
        linux.unmount_all_under(self.dir)


async def exit_of(events: AsyncIterator[ContainerEvent], container_id: str) -> ContainerStatus:
    """The status in the container's exit event."""
    async for event in events:
        if event.status.id == container_id and event.kind == EventKind.EXITED:
            return event.status
    raise RuntimeError("the event stream ended")


async def podrun_once(rt: LocalRuntime, sandbox_id: str) -> float:
    """Seconds from `create_container` until the container's exit event."""
    events = rt.events()
    try:
        started = time.perf_counter()
        container_id = await rt.create_container(sandbox_id, CONTAINER)
        await rt.start_container(container_id)
        status = await exit_of(events, container_id)
        elapsed = time.perf_counter() - started
    finally:
        events.close()
    if status.exit_code != 0:
        raise RuntimeError(f"the podrun container exited {status.exit_code}: {status.message}")
    await rt.remove_container(container_id)
    return elapsed


def describe(label: str, samples: list[float]) -> str:
    """One result line: median, p90, min and max in milliseconds."""
    ms = [s * 1000 for s in samples]
    p90 = statistics.quantiles(ms, n=10, method="inclusive")[-1] if len(ms) > 1 else ms[0]
    return (
        f"  {label:<22} median {statistics.median(ms):6.1f} ms   p90 {p90:6.1f}   "
        f"(min {min(ms):.1f}, max {max(ms):.1f})"
    )


async def bench(runs: int, oci_runtime: str, also_raw: str | None) -> None:
    """Prepare, measure alternately, report, and remove everything."""
    archive = busybox_archive()
    work = Path(tempfile.mkdtemp(prefix="podrun-bench-", dir="/tmp"))
    root, run_root = work / "root", work / "run"
    rt = LocalRuntime(root, run_root, oci_runtime)
    raws = [rt.oci] + ([choose_runtime(also_raw, rt.oci.cgroup_mode)] if also_raw and also_raw != rt.oci.name else [])
    raw_s: dict[str, list[float]] = {oci.name: [] for oci in raws}
    raw: RawBundle | None = None
    sandbox_id = ""
    try:
        import_archive(rt.images, archive)
        await rt.recover()
        sandbox_id = (await rt.create_sandbox(SANDBOX)).id
        raw = RawBundle(rt, sandbox_id, work / "raw")
        await podrun_once(rt, sandbox_id)  # warm-up: page cache, first overlay mount, runtime binaries
        for oci in raws:
            raw.run_once(oci)
        podrun = []
        for _ in range(runs):
            podrun.append(await podrun_once(rt, sandbox_id))
            for oci in raws:
                raw_s[oci.name].append(raw.run_once(oci))
    finally:
        if raw is not None:
            raw.remove()
        for container in await rt.list_containers():
            await rt.stop_container(container.id, 0)
            await rt.remove_container(container.id)
        if sandbox_id:
            await rt.remove_sandbox(sandbox_id)
        await rt.close()
        linux.unmount_all_under(work)
        if not linux.mounts_under(work):
            shutil.rmtree(work, ignore_errors=True)

    podrun_ms, raw_ms = statistics.median(podrun) * 1000, statistics.median(raw_s[rt.oci.name]) * 1000
    target_ms = 1.5 * raw_ms + 15
    print(f"busybox `true`: create + start + exit, {runs} runs each, alternating ({rt.name} via {rt.oci.path})")
    print(describe("podrun LocalRuntime", podrun))
    for name, samples in raw_s.items():
        print(describe(f"raw {name} run + delete", samples))
    print(f"  ratio                  {podrun_ms / raw_ms:.2f} x")
    verdict = "holds" if podrun_ms <= target_ms else "MISSED"
    print(f"  target podrun <= 1.5 x raw + 15 ms = {target_ms:.1f} ms: {verdict}")


def main() -> int:
    """Command line: `--quick` for a 3-run smoke check, `--runs N` otherwise (default 20)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each (default 20)")
    parser.add_argument("--quick", action="store_true", help="3 runs of each: checks that the benchmark works")
    parser.add_argument(
        "--oci-runtime", choices=("auto", "crun", "runc"), default="auto",
        help="the OCI runtime of podrun and of the raw runs: crun where it works, else runc (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--also-raw", choices=("crun", "runc"), help="also time this runtime's raw `run` of the same bundle"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (overlay mounts, namespaces, runc)")
    asyncio.run(bench(3 if args.quick else args.runs, args.oci_runtime, args.also_raw))
    return 0


if __name__ == "__main__":
    sys.exit(main())
