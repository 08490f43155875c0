#!/usr/bin/env python3
"""Pod start with and without the pod network: what networking adds to a pod's way to Ready, through the kubelet.

One `LocalRuntime` with a `NodeNetwork`, and two `Node`s on it: one whose `NodeFacts` carry the network (its
sandboxes get an address through CNI: ptp + host-local, run by podrun in the node namespace) and one without
(`NodeFacts.of_this_machine(name)`: sandboxes keep loopback only, as before the pod network existed). The same pod,
an app container `sleep 3600` (busybox, restartPolicy Always), is started through each in turn (alternating, so a
change of load hits both alike), timed from the `run_pod` call to the status update whose Ready condition is True;
each pod is then force-deleted, untimed. One untimed warm-up pod of each first. Reported: both distributions, the
added milliseconds (median with minus median without), the CNI ADD alone (`NodeNetwork.attach`: the plugins' own
time, timed around the call), and the verdict: **target added median <= 15 ms**.

Timing never changes the exit status: only a crash does. Needs root, runc or crun, conmon, nft and the CNI plugins
in /usr/lib/cni. The root has `registries.json` with `{"no_upstream": ["docker.io"]}`: no registry is contacted.
Everything made (directories, mounts, namespaces, the node network namespace with its veths and nftables table,
conmon processes, cgroups) is removed at the end, also after Ctrl-C; the harness is `bench/init_handoff.py`'s.
`bench/service_dns.py` reuses this file's network harness (`TimedNetwork`, `network_leftovers`).

    .venv/bin/python bench/network_start.py [--quick] [--runs N] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from init_handoff import (
    JSON,
    NODE,
    POD_TIMEOUT,
    BenchEnv,
    BenchHost,
    EventLog,
    describe,
    load_pod,
    pod_is,
    run_guarded,
    summarize,
)

from podrun.kubelet.node import Node
from podrun.kubelet.node_facts import NodeFacts
from podrun.network.config import NetworkConfig
from podrun.network.dns import DnsRecords
from podrun.network.nftables import ServiceRule
from podrun.network.node import NodeNetwork
from podrun.runtime.local import LocalRuntime

TARGET_ADDED_MS = 15.0

MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - {{name: app, image: busybox, command: [sleep, '3600']}}
"""


# -- the network harness (shared with service_dns.py) --------------------------------------------------------


class TimedNetwork(NodeNetwork):
    """A `NodeNetwork` that times each CNI ADD and each Service sync.

    `attach_ms` is {sandbox ID: milliseconds of `attach`}; `synced` lists (began, returned, rules) for every
    `sync_services` call, in monotonic seconds, so a benchmark can tell when a given endpoint went to nftables.
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__(config)
        self.attach_ms: dict[str, float] = {}
        self.synced: list[tuple[float, float, list[ServiceRule]]] = []

    def attach(self, sandbox_id: str, netns_path: Path) -> list[str]:
        """CNI ADD, timed."""
        started = time.perf_counter()
        ips = super().attach(sandbox_id, netns_path)
        self.attach_ms[sandbox_id] = (time.perf_counter() - started) * 1000
        return ips

    async def sync_services(self, rules: list[ServiceRule], records: DnsRecords) -> None:
        """Apply the snapshot, timed."""
        began = time.monotonic()
        await super().sync_services(rules, records)
        self.synced.append((began, time.monotonic(), rules))


def host_veths() -> set[str]:
    """Names of the veth interfaces in the host's network namespace (podrun's all live in its node namespace)."""
    out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines() if ":" in line}


def host_has_podrun_table() -> bool:
    """The host's own nftables has a `podrun` table (podrun's must only ever be in the node namespace)."""
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True)
    return any(line.split()[-1] == "podrun" for line in out.stdout.splitlines() if line.strip())


def network_leftovers(config: NetworkConfig, veths_before: set[str]) -> dict[str, list[str]]:
    """What of the pod network is still there after `NodeNetwork.stop(remove=True)`: the node namespace's pin,
    host-local allocations, cached CNI results, veths new on the host, a `podrun` table on the host."""
    ipam = config.ipam_dir / "podrun"
    results = config.cni_dir / "results"
    return {
        "node_netns": [str(config.node_netns_path)] if config.node_netns_path.exists() else [],
        "ipam": sorted(p.name for p in ipam.iterdir() if p.name[0].isdigit()) if ipam.is_dir() else [],
        "cni_results": sorted(p.name for p in results.iterdir()) if results.is_dir() else [],
        "host_veths": sorted(host_veths() - veths_before),
        "host_nft_tables": ["podrun"] if host_has_podrun_table() else [],
    }


# -- the benchmark -------------------------------------------------------------------------------------------


async def start_once(node: Node, host: BenchHost, name: str) -> float:
    """Seconds from `run_pod` to the Ready True status; then the pod is force-deleted and waited for (untimed)."""
    pod = load_pod(MANIFEST.format(name=name))
    uid = pod["metadata"]["uid"]
    ready = host.when(uid, lambda s: pod_is(s, "Ready") or s.get("phase") in ("Succeeded", "Failed"))
    started = time.perf_counter()
    worker = node.run_pod(pod)
    try:
        update = await asyncio.wait_for(ready, POD_TIMEOUT)
    except TimeoutError:
        raise RuntimeError(f"pod {name} not Ready after {POD_TIMEOUT:.0f} s: {host.warnings(uid)}") from None
    if not pod_is(update.status, "Ready"):
        raise RuntimeError(f"pod {name} ended {update.status.get('phase')}: {host.warnings(uid)}")
    elapsed = update.at - started
    # `sleep` as PID 1 ignores SIGTERM: kill at once, as a second Ctrl-C of `podrun run` does.
    node.delete_pod(worker.pod, 0)
    await node.force_kill(uid)
    await asyncio.wait_for(worker.finished.wait(), POD_TIMEOUT)
    return elapsed


async def measure(env: BenchEnv, runs: int) -> JSON:
    """Warm-ups, then `runs` alternating pairs; returns the raw numbers (milliseconds)."""
    config = NetworkConfig.for_roots(env.root, env.run_root)
    veths_before = host_veths()
    network = TimedNetwork(config)
    host = BenchHost()
    try:
        await network.start(set())
        env.runtime = LocalRuntime(env.root, env.run_root, network=network)
        await env.runtime.recover()
        env.events = EventLog(env.runtime)  # the sandboxes' IDs, for the leak check of their cgroups
        plain = Node(env.runtime, host, root=env.root, image_store=env.runtime.images,
                     facts=NodeFacts.of_this_machine(NODE))  # fmt: skip
        networked = Node(env.runtime, host, root=env.root, image_store=env.runtime.images,
                         facts=NodeFacts.of_this_machine(NODE, config))  # fmt: skip
        await plain.start()
        await networked.start()
        env.kubelet = networked  # env.close() stops it and removes every sandbox left, through the runtime
        try:
            await start_once(plain, host, "warm-plain")
            await start_once(networked, host, "warm-net")
            network.attach_ms.clear()
            without: list[float] = []
            with_network: list[float] = []
            for index in range(runs):
                # Alternate which goes first, so neither always follows the other's teardown.
                order = [(plain, without), (networked, with_network)]
                for node, samples in order if index % 2 == 0 else reversed(order):
                    label = "net" if node is networked else "plain"
                    samples.append(await start_once(node, host, f"{label}-{index}") * 1000)
        finally:
            await plain.stop()
        oci = env.runtime.name
    finally:
        await env.close()
        await network.stop(remove=True)
    return {
        "oci_runtime": oci,
        "without_ms": without,
        "with_ms": with_network,
        "attach_ms": list(network.attach_ms.values()),
        "network_leftovers": network_leftovers(config, veths_before),
    }


def network_start_bench(runs: int) -> Callable[[BenchEnv], JSON]:
    """The benchmark body for `run_guarded`."""

    def bench(env: BenchEnv) -> JSON:
        raw = asyncio.run(measure(env, runs))
        without, with_network, attach = raw["without_ms"], raw["with_ms"], raw["attach_ms"]
        added = statistics.median(with_network) - statistics.median(without)
        print(f"pod start with and without the pod network: app `sleep 3600` to Ready, {runs} runs of each, "
              f"alternating, in-process Node ({raw['oci_runtime']})")  # fmt: skip
        print(describe("run_pod -> Ready, loopback only", without, width=40))
        print(describe("run_pod -> Ready, pod network", with_network, width=40))
        print(describe("of which CNI ADD (NodeNetwork.attach)", attach, width=40))
        print(f"  added by the network (median - median): {added:.1f} ms")
        verdict = "holds" if added <= TARGET_ADDED_MS else "MISSED"
        print(f"  target added median <= {TARGET_ADDED_MS:.0f} ms: {verdict}")
        if any(raw["network_leftovers"].values()):
            print(f"  warning: the pod network left {raw['network_leftovers']}", file=sys.stderr)
        return {
            "benchmark": "network_start",
            **raw,
            "runs": runs,
            "target_added_ms": TARGET_ADDED_MS,
            "added_median_ms": added,
            "holds": added <= TARGET_ADDED_MS,
            "summary_without_ms": summarize(without),
            "summary_with_ms": summarize(with_network),
            "summary_attach_ms": summarize(attach),
        }

    return bench


def main() -> int:
    """Command line: `--quick` for 3 runs of each, `--runs N` otherwise (default 20)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed pods with and without the network (default 20)")
    parser.add_argument("--quick", action="store_true", help="3 runs of each: checks that the benchmark works")
    parser.add_argument("--json", metavar="PATH", help="write the raw numbers to PATH")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (namespaces, mounts, CNI plugins, runc)")
    return run_guarded(network_start_bench(3 if args.quick else args.runs), args.json)


if __name__ == "__main__":
    sys.exit(main())
