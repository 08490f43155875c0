#!/usr/bin/env python3
"""Service ready -> DNS + connect: from a Service's pod becoming Ready to a client pod resolving and reaching it.

podrun's serve stack in-process, without the HTTP server (wired as `podrun serve` wires it): a `Store` under a
temporary root, the `ServicesController` (Endpoints, EndpointSlices), a `NodeNetwork`, the `ServiceProxy`
(nftables rules and DNS records; no API relay), a `LocalRuntime` on that network, a `Node` with a `StoreHost` and
the network's `NodeFacts`, and the `NodeAgent` handing it the stored pods. The client is a network namespace
attached to the node network through CNI, as a pod's is.

Each run creates a Service `web-N` (ClusterIP, port 80) and its pod (busybox `httpd -f -p 80`, a tcpSocket
readinessProbe on 80) in the store, as `kubectl apply` of both would. A thread inside the client's namespace
polls every millisecond: a DNS query (dnslib, UDP) for `web-N.default.svc.cluster.local` to 10.96.0.10, then a TCP
connect to the answer. t0 is when the pod's Ready=True status is written to the store (the `StoreHost` is
wrapped), t1 the end of the first attempt where both succeeded; reported: t1 - t0 (median, p90, max), its stages
(Ready written -> EndpointSlice with the ready endpoint seen by a watcher: the ServicesController; -> the rules
in nftables: the ServiceProxy's sync and `nft -f`; -> the client connected: the probe's polling), and the verdict:
**target median <= 100 ms** (kube-proxy + CoreDNS take seconds). Then the pod and the Service are deleted from
the store and the next run waits until the pod's sandbox is gone. One untimed warm-up run first.

Timing never changes the exit status: only a crash does. Needs root, runc or crun, conmon, nft and the CNI plugins
in /usr/lib/cni. The root has `registries.json` with `{"no_upstream": ["docker.io"]}`: no registry is contacted.
Everything made (directories, the store, mounts, namespaces, the node network namespace with its veths and
nftables table, conmon processes, cgroups) is removed at the end, also after Ctrl-C; the harness is
`bench/init_handoff.py`'s and `bench/network_start.py`'s.

    .venv/bin/python bench/service_dns.py [--quick] [--runs N] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from dnslib import QTYPE, DNSRecord
from init_handoff import JSON, NODE, POD_TIMEOUT, BenchEnv, EventLog, describe, load_pod, pod_is, run_guarded, summarize
from network_start import TimedNetwork, host_veths, network_leftovers

from podrun.api.errors import ApiError
from podrun.api.node_agent import NodeAgent, StoreHost
from podrun.api.server import ensure_defaults
from podrun.api.store import Store, Watch
from podrun.kubelet.node import Node
from podrun.kubelet.node_facts import NodeFacts
from podrun.model.service import default_service
from podrun.network.config import NetworkConfig
from podrun.runtime import linux
from podrun.runtime.local import LocalRuntime
from podrun.services.controller import ServicesController
from podrun.services.proxy import ServiceProxy
from podrun.services.registry import allocate_for_create

TARGET_MS = 100.0
POLL_SECONDS = 0.001
ATTEMPT_TIMEOUT = 0.2  # one DNS query or connect; a lost answer just means the next attempt
SERVICE_PORT = 80
CLIENT_ID = "bench-client"

POD_MANIFEST = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  containers:
  - name: web
    image: busybox
    command: [httpd, -f, -p, '80']
    readinessProbe: {{tcpSocket: {{port: 80}}, periodSeconds: 1}}
"""


def service(name: str, stored: list[JSON]) -> JSON:
    """A ClusterIP Service selecting the pod `name`, defaulted and given an address as the registry does."""
    svc = default_service(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": name}, "ports": [{"port": SERVICE_PORT, "targetPort": 80}]},
        }
    )
    errors = allocate_for_create(svc, stored)
    if errors:
        raise RuntimeError(f"service {name}: {errors}")
    return svc


# -- what is timed -------------------------------------------------------------------------------------------


class ReadyStampingHost(StoreHost):
    """The `StoreHost` of `podrun serve`, noting when each pod's first Ready=True status was written."""

    def __init__(self, store: Store, node_name: str) -> None:
        super().__init__(store, node_name)
        self.ready_at: dict[str, float] = {}
        self._ready: dict[str, asyncio.Event] = {}

    async def update_pod_status(self, pod: JSON, status: JSON) -> None:
        """Write the status, then stamp the first Ready=True (monotonic seconds)."""
        await super().update_pod_status(pod, status)
        uid = pod["metadata"]["uid"]
        if pod_is(status, "Ready") and uid not in self.ready_at:
            self.ready_at[uid] = time.monotonic()
            self.ready_event(uid).set()

    def ready_event(self, uid: str) -> asyncio.Event:
        """Set once the pod's Ready=True status is in the store."""
        return self._ready.setdefault(uid, asyncio.Event())


class SliceWatcher:
    """When each Service's EndpointSlice first had a ready endpoint, as a watcher of the store saw it."""

    def __init__(self, store: Store) -> None:
        self.ready_at: dict[str, float] = {}
        self._watch: Watch = store.watch("endpointslices", None)
        self._task = asyncio.ensure_future(self._follow())

    async def _follow(self) -> None:
        async for event in self._watch:
            endpoint_slice = event.object
            owner = (endpoint_slice["metadata"].get("labels") or {}).get("kubernetes.io/service-name", "")
            ready = any((ep.get("conditions") or {}).get("ready") for ep in endpoint_slice.get("endpoints") or [])
            if ready and owner not in self.ready_at:
                self.ready_at[owner] = time.monotonic()

    async def stop(self) -> None:
        """End the watch."""
        self._watch.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@dataclasses.dataclass
class ClientProbe:
    """A thread in the client's namespace: resolve `name`, connect to the answer, every millisecond until both work.

    `resolved_at` is when the name first resolved, `connected_at` the end of the first attempt where the connect
    succeeded too (monotonic seconds).
    """

    netns: Path
    name: str
    resolved_at: float | None = None
    connected_at: float | None = None
    attempts: int = 0
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    _stop: threading.Event = dataclasses.field(default_factory=threading.Event)

    def start(self, dns_ip: str) -> threading.Thread:
        """Start polling."""
        thread = threading.Thread(target=self._run, args=(dns_ip,), name=f"probe-{self.name}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop polling (a no-op once it succeeded)."""
        self._stop.set()

    def _run(self, dns_ip: str) -> None:
        try:
            with linux.in_netns(self.netns):
                while not self._stop.is_set():
                    self.attempts += 1
                    address = resolve(dns_ip, self.name)
                    if address is not None:
                        if self.resolved_at is None:
                            self.resolved_at = time.monotonic()
                        if connects(address, SERVICE_PORT):
                            self.connected_at = time.monotonic()
                            return
                    self._stop.wait(POLL_SECONDS)
        finally:
            self.done.set()


def resolve(dns_ip: str, name: str) -> str | None:
    """The first A record for `name` from the cluster DNS server (None: no answer yet, or NXDOMAIN)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(ATTEMPT_TIMEOUT)
        try:
            sock.sendto(DNSRecord.question(name).pack(), (dns_ip, 53))
            reply = DNSRecord.parse(sock.recv(4096))
        except OSError:
            return None
    return next((str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A), None)


def connects(address: str, port: int) -> bool:
    """A TCP connection to `address:port` is accepted (refused while the Service has no ready endpoint)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(ATTEMPT_TIMEOUT)
        return sock.connect_ex((address, port)) == 0


# -- the node, as `podrun serve` wires it --------------------------------------------------------------------


@contextlib.contextmanager
def client_namespace(network: TimedNetwork, work: Path) -> Iterator[Path]:
    """A network namespace attached to the pod network as a pod's would be (loopback up, an address through CNI)."""
    pin = work / "client-netns"
    pin.touch()
    try:
        subprocess.run(["unshare", f"--net={pin}", "ip", "link", "set", "lo", "up"], check=True)
        network.attach(CLIENT_ID, pin)
        yield pin
    finally:
        network.detach(CLIENT_ID)
        linux.unmount_all_under(pin)
        pin.unlink(missing_ok=True)


@dataclasses.dataclass
class Run:
    """One measured run, in monotonic seconds."""

    name: str
    ready: float  # the pod's Ready=True status written to the store
    slice_ready: float  # its Service's EndpointSlice with a ready endpoint seen by a watcher
    sync_began: float  # the ServiceProxy handing rules with that endpoint to the network (`nft -f` starts)
    sync_returned: float  # that `sync_services` call returned (`nft` exited, its thread handed back)
    resolved: float  # the client first resolved the name (before Ready: the Service existed first)
    connected: float  # the client's first successful resolve + connect
    attempts: int

    @property
    def ms(self) -> float:
        """Ready written -> resolved and connected."""
        return (self.connected - self.ready) * 1000


STAGES = (
    ("Ready written -> EndpointSlice ready", "ServicesController", "ready", "slice_ready"),
    ("EndpointSlice -> Service sync begins", "ServiceProxy: watch, snapshot", "slice_ready", "sync_began"),
    ("sync begins -> client connected", "nft -f commits; 1 ms polling", "sync_began", "connected"),
    ("sync begins -> sync returned", "the whole nft -f call, for scale", "sync_began", "sync_returned"),
)


class ServeNode:
    """The parts of `podrun serve` between the store and the pod network (see `cli/serve.py`'s `_serve`)."""

    def __init__(self, env: BenchEnv) -> None:
        self.env = env
        self.config = NetworkConfig.for_roots(env.root, env.run_root)
        self.network = TimedNetwork(self.config)
        (env.work / "api").mkdir(exist_ok=True)
        self.store = Store(env.work / "api" / "store.db")
        self.host: ReadyStampingHost | None = None
        self.services: ServicesController | None = None
        self.proxy: ServiceProxy | None = None
        self.agent: NodeAgent | None = None
        self.slices: SliceWatcher | None = None

    async def start(self) -> None:
        """Store defaults, controller, network, proxy, runtime, node and agent, in `_serve`'s order."""
        ensure_defaults(self.store)
        self.services = ServicesController(self.store)
        self.services.start()
        await self.network.start(set())
        self.proxy = ServiceProxy(self.store, self.network, api_port=None)
        await self.proxy.start()
        runtime = self.env.runtime = LocalRuntime(self.env.root, self.env.run_root, network=self.network)
        await runtime.recover()
        self.env.events = EventLog(runtime)  # the sandboxes' IDs, for the leak check of their cgroups
        self.host = ReadyStampingHost(self.store, NODE)
        facts = NodeFacts.of_this_machine(NODE, self.config)
        node = self.env.kubelet = Node(runtime, self.host, root=self.env.root, image_store=runtime.images, facts=facts)
        await node.start()
        self.agent = NodeAgent(self.store, node, NODE)
        await self.agent.start()
        self.slices = SliceWatcher(self.store)

    async def stop(self) -> None:
        """Stop following the store, then remove every pod through the runtime; the network goes last.

        The agent is stopped only while idle: `NodeAgent.stop` cancels its task without closing its watch, and
        Python 3.11's `asyncio.wait_for` (inside `Kubelet.forget_pod`) can swallow that cancellation when the
        awaited pod finishes at the same moment, leaving the task in the watch forever.
        """
        for part in (self.slices, self.agent, self.proxy, self.services):
            if part is not None:
                await part.stop()
        await self.env.close()
        await self.network.stop(remove=True)
        self.store.close()

    async def run_once(self, client: Path, index: int) -> Run:
        """Create Service and pod `web-<index>`, time the client reaching it, then delete both."""
        assert self.host is not None and self.slices is not None and self.env.runtime is not None
        name = f"web-{index}"
        probe = ClientProbe(client, f"{name}.default.svc.cluster.local")
        thread = probe.start(self.config.dns_ip)
        uid = ""
        try:
            self.store.create("services", service(name, self.store.list("services", None)[0]))
            uid = self.store.create("pods", load_pod(POD_MANIFEST.format(name=name)))["metadata"]["uid"]
            try:
                await asyncio.wait_for(self.host.ready_event(uid).wait(), POD_TIMEOUT)
            except TimeoutError:
                raise RuntimeError(f"pod {name} not Ready after {POD_TIMEOUT:.0f} s") from None
            if not await asyncio.to_thread(probe.done.wait, POD_TIMEOUT) or probe.connected_at is None:
                raise RuntimeError(f"{name}: the client could not resolve and reach the Service ({probe})")
        finally:
            probe.stop()
            await asyncio.to_thread(thread.join)
            await self.delete(name, uid)
        assert probe.resolved_at is not None
        began, returned = self.first_sync_with_endpoint(name)
        return Run(
            name=name, ready=self.host.ready_at[uid], slice_ready=self.slices.ready_at[name], sync_began=began,
            sync_returned=returned, resolved=probe.resolved_at, connected=probe.connected_at, attempts=probe.attempts,
        )  # fmt: skip

    def first_sync_with_endpoint(self, name: str) -> tuple[float, float]:
        """When the first Service sync that gave Service `name` an endpoint began and returned."""
        for began, returned, rules in self.network.synced:
            if any(rule.name == name and rule.endpoints for rule in rules):
                return began, returned
        raise RuntimeError(f"no Service sync gave {name} an endpoint")

    async def delete(self, name: str, uid: str) -> None:
        """Delete the pod and the Service from the store; wait until the agent has forgotten the pod.

        That is its sandbox gone and then its log directory, the last thing `Node.forget_pod` removes: stopping the
        agent while it still awaits a `forget_pod` can hang (see `stop`), so the next step waits for both.
        """
        assert self.env.runtime is not None and self.env.kubelet is not None
        for resource in ("pods", "services"):
            with contextlib.suppress(ApiError):
                self.store.delete(resource, "default", name)
        logs = self.env.kubelet.paths.pod_log_dir({"metadata": {"namespace": "default", "name": name, "uid": uid}})
        deadline = time.monotonic() + POD_TIMEOUT
        while logs.exists() or any(s.config.uid == uid for s in await self.env.runtime.list_sandboxes()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"pod {name}: still there {POD_TIMEOUT:.0f} s after its deletion")
            await asyncio.sleep(0.01)


async def measure(env: BenchEnv, runs: int) -> tuple[list[Run], JSON]:
    """One warm-up run, then `runs` timed ones; also what of the network was left after the stop."""
    node = ServeNode(env)
    veths_before = host_veths()
    try:
        await node.start()
        with client_namespace(node.network, env.work) as client:
            await node.run_once(client, 0)
            timed = [await node.run_once(client, index) for index in range(1, runs + 1)]
    finally:
        await node.stop()
    return timed, network_leftovers(node.config, veths_before)


# -- report --------------------------------------------------------------------------------------------------


def service_dns_bench(runs: int) -> Callable[[BenchEnv], JSON]:
    """The benchmark body for `run_guarded`."""

    def bench(env: BenchEnv) -> JSON:
        timed, left = asyncio.run(measure(env, runs))
        ms = [r.ms for r in timed]
        median = summarize(ms)["median"]
        print(f"Service ready -> DNS + connect: {runs} runs, serve's node in-process (store, controller, proxy, Node)")
        print("  from the pod's Ready=True written to the store to a client pod resolving the name and connecting")
        print(describe("Ready -> resolved + connected", ms, width=40))
        print("  stages (each stage's own median; they need not add up):")
        for label, what, start, end in STAGES:
            stage = [(getattr(r, end) - getattr(r, start)) * 1000 for r in timed]
            print(describe(f"{label} ({what})", stage, width=70, indent=4))
        early = sum(r.resolved <= r.ready for r in timed)
        print(f"  the name resolved before the pod was Ready in {early} of {runs} runs (the Service came first)")
        verdict = "holds" if median <= TARGET_MS else "MISSED"
        print(f"  target median <= {TARGET_MS:.0f} ms (kube-proxy + CoreDNS: seconds): {verdict}")
        if any(left.values()):
            print(f"  warning: the pod network left {left}", file=sys.stderr)
        return {
            "benchmark": "service_dns",
            "runs": runs,
            "target_ms": TARGET_MS,
            "holds": median <= TARGET_MS,
            "ready_to_connected_ms": ms,
            "summary_ms": summarize(ms),
            "stages_ms": {
                label: [(getattr(r, end) - getattr(r, start)) * 1000 for r in timed] for label, _, start, end in STAGES
            },
            "runs_detail": [dataclasses.asdict(r) for r in timed],
            "network_leftovers": left,
        }

    return bench


def main() -> int:
    """Command line: `--quick` for 3 runs, `--runs N` otherwise (default 20)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed Services and pods (default 20)")
    parser.add_argument("--quick", action="store_true", help="3 runs: checks that the benchmark works")
    parser.add_argument("--json", metavar="PATH", help="write the raw numbers to PATH")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (namespaces, mounts, CNI plugins, nft, runc)")
    return run_guarded(service_dns_bench(3 if args.quick else args.runs), args.json)


if __name__ == "__main__":
    sys.exit(main())
