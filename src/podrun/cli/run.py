"""`podrun run -f pod.yaml`: run pods in the foreground with no daemon, and exit with their outcome.

Exit codes: 0 when every pod Succeeded; the first failing main container's exit code when a pod
Failed (1 when no main container failed, e.g. an init container did); for pods that run until
stopped (restartPolicy Always), `--timeout` ends them gracefully and exits 0 if they were Ready
then, 124 if not; 130 after Ctrl-C (SIGINT), 143 after SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import yaml

from podrun.cli.durations import parse_duration
from podrun.cli.output import RunOutput
from podrun.cli.root_lock import RootInUse, exclusive_root
from podrun.cli.run_host import RunHost
from podrun.cli.run_image import image_pod_sources
from podrun.json_types import JSON
from podrun.kubelet import labels
from podrun.kubelet.admission import admit_pod
from podrun.kubelet.images import load_registry_config
from podrun.kubelet.node import Node
from podrun.kubelet.node_facts import NodeFacts
from podrun.kubelet.worker import PodWorker
from podrun.model.errors import InvalidError, go_quote
from podrun.model.manifest import ManifestError, load_manifests
from podrun.network.config import NetworkConfig
from podrun.network.nftables import NftError
from podrun.network.node import NetworkError, NodeNetwork, has_sandboxes
from podrun.printers.run_summary import run_summary
from podrun.runtime.local import LocalRuntime
from podrun.runtime.logs import follow
from podrun.runtime.oci_runtime import MissingTool
from podrun.runtime.protocol import EventKind
from podrun.services.accounts import ServiceAccountNotFound, accounts_with_defaults
from podrun.services.accounts import admit_pod as admit_service_account
from podrun.services.in_memory import InMemoryServices

EXIT_TIMEOUT = 124
EXIT_SIGNAL_BASE = 128
MANIFEST_SUFFIXES = (".json", ".yaml", ".yml")


def read_sources(names: list[str]) -> list[tuple[str, str]]:
    """(name, text) of each `-f` argument: `-` reads standard input, a directory its manifests (as kubectl)."""
    sources: list[tuple[str, str]] = []
    for name in names:
        if name == "-":
            sources.append(("<stdin>", sys.stdin.read()))
        elif Path(name).is_dir():
            files = sorted(p for p in Path(name).iterdir() if p.suffix in MANIFEST_SUFFIXES and p.is_file())
            if not files:
                raise OSError(f"no manifest (*.json, *.yaml, *.yml) in the directory {name}")
            sources += [(str(p), p.read_text()) for p in files]
        else:
            sources.append((name, Path(name).read_text()))
    return sources


def pod_exit_code(pod: JSON) -> int:
    """0 for Succeeded; the first failing main container's code for Failed (1 if none failed)."""
    status = pod.get("status") or {}
    if status.get("phase") == "Succeeded":
        return 0
    by_name = {s["name"]: s for s in status.get("containerStatuses") or []}
    for spec in pod["spec"]["containers"]:
        s = by_name.get(spec["name"]) or {}
        for state in (s.get("state") or {}, s.get("lastState") or {}):
            code = (state.get("terminated") or {}).get("exitCode")
            if code:
                return int(code)
    return 1


def is_ready(pod: JSON) -> bool:
    """The pod's Ready condition is True."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class PodRun:
    """One `podrun run`: the runtime, the kubelet, log streaming and the outcome."""

    def __init__(
        self, args: argparse.Namespace, pods: list[JSON], host: RunHost, output: RunOutput,
        services: list[JSON] | None = None,
    ) -> None:  # fmt: skip
        """`services` are the manifests' Services, allocated (`allocate_services`)."""
        self.args = args
        self.pods = pods
        self.services = services or []
        self.host = host
        self.output = output
        self.interrupted: int | None = None
        self.timed_out = False
        self.ready_at_timeout: set[str] = set()
        self.workers: list[PodWorker] = []
        self._kills: set[asyncio.Future[None]] = set()

    async def run(self) -> int:
        network = NodeNetwork(NetworkConfig.for_roots(self.args.root, self.args.run_root))
        await network.start(lazy_table=True)
        if not self.args.keep:
            network.defer_detach()  # the last run out removes the namespace: its pods need no DEL
        services = InMemoryServices(self.services, network)
        try:
            try:
                await services.start()
            except NftError as e:  # the first Service rules, the first `nft` of a new node namespace
                raise NetworkError(f"the pod network could not be set up: {e}") from e
            self.host.on_pod_status = services.pod_changed
            return await self._run(network)
        finally:
            await services.stop()
            await network.stop(remove=not self.args.keep and not has_sandboxes(self.args.root))

    async def _run(self, network: NodeNetwork) -> int:
        runtime = LocalRuntime(self.args.root, self.args.run_root, self.args.oci_runtime, network=network)
        await runtime.recover()
        pull_observer = None
        if not self.args.quiet:
            # Imported only when shown: `--quiet` runs load no rich at all.
            from podrun.cli.pull_progress import PullProgress

            pull_observer = PullProgress()
        node = Node(
            runtime, self.host, root=self.args.root, image_store=runtime.images, strict_pull=self.args.strict_pull,
            keep=self.args.keep, offline=self.args.offline,
            facts=NodeFacts.of_this_machine(self.host.node_name, network.config),
            pull_observer=pull_observer,
        )  # fmt: skip
        await node.start()
        await self._remove_leftovers(node)
        record = _record_path(self.args.root)
        record.write_text(json.dumps(self.pods))
        logs = asyncio.create_task(self._stream_logs(runtime))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig, node)
        workers = self.workers = [node.run_pod(pod) for pod in self.pods]
        done = asyncio.gather(*(w.finished.wait() for w in workers))
        timeout = parse_duration(self.args.timeout) if self.args.timeout else None
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            self.timed_out = True
            for worker in workers:
                if not worker.finished.is_set():
                    if is_ready(worker.pod):
                        self.ready_at_timeout.add(worker.uid)
                    node.delete_pod(worker.pod, self.args.grace_period)
            await done
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        logs.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await logs  # the followers read each log to its end before they stop
        await node.stop()
        await runtime.close()
        record.unlink(missing_ok=True)
        if not self.args.keep:
            for worker in workers:
                shutil.rmtree(node.paths.pod_log_dir(worker.pod), ignore_errors=True)
        self.output.summary(run_summary([w.pod for w in workers]))
        if self.args.timeline or self.args.timeline_file:
            # Imported only when asked for: the module also holds `podrun timeline`'s kubeconfig and HTTP client.
            from podrun.cli.timeline import show_run_timelines

            show_run_timelines(workers, self.args)
        return self._outcome([w.pod for w in workers])

    async def _remove_leftovers(self, node: Node) -> None:
        """Delete, at once, the pods of an earlier run on this root that was killed before it could."""
        try:
            leftovers: list[JSON] = json.loads(_record_path(self.args.root).read_text())
        except (OSError, ValueError):
            return
        names = ", ".join(pod["metadata"]["name"] for pod in leftovers)
        self.output.notice(f"Removing what a killed podrun run left on this root: {names}")
        workers = [node.run_pod(pod) for pod in leftovers]
        for pod in leftovers:
            node.delete_pod(pod, 0)
        await asyncio.gather(*(worker.finished.wait() for worker in workers))
        for pod in leftovers:
            shutil.rmtree(node.paths.pod_log_dir(pod), ignore_errors=True)

    def _outcome(self, pods: list[JSON]) -> int:
        if self.args.output:
            print(format_pods(pods, self.args.output), end="")
        if self.interrupted is not None:
            return EXIT_SIGNAL_BASE + self.interrupted
        for pod in pods:
            phase = pod["status"].get("phase")
            if self.timed_out and pod["metadata"]["uid"] not in self.ready_at_timeout and phase not in (
                "Succeeded", "Failed",
            ):  # fmt: skip
                return EXIT_TIMEOUT
            if self.timed_out and pod["metadata"]["uid"] in self.ready_at_timeout:
                continue
            code = pod_exit_code(pod)
            if code:
                return code
        return 0

    def _on_signal(self, sig: int, node: Node) -> None:
        """The first signal deletes every pod as `kubectl delete --grace-period` would; the second kills them."""
        if self.interrupted is None:
            self.interrupted = sig
            self.output.notice("Stopping the pods gracefully (press Ctrl-C again to kill them)...")
            for worker in self.workers:
                node.delete_pod(worker.pod, self.args.grace_period)
        else:
            self.output.notice("Killing the pods...")
            for worker in self.workers:
                kill = asyncio.ensure_future(node.force_kill(worker.uid))
                self._kills.add(kill)
                kill.add_done_callback(self._kills.discard)

    async def _stream_logs(self, runtime: LocalRuntime) -> None:
        """Follow each container's log from its start to its exit, printing lines as they come."""
        uids = {p["metadata"]["uid"]: p["metadata"]["name"] for p in self.pods}
        stops: dict[str, asyncio.Event] = {}
        tasks: set[asyncio.Task[None]] = set()

        async def tail(path: str, pod: str, container: str, stop: asyncio.Event) -> None:
            async for line in follow(path, stop):
                self.output.log(pod, container, line.stream, line.text)

        subscription = runtime.events()
        try:
            async for event in subscription:
                status = event.status
                pod = uids.get(status.labels.get(labels.POD_UID, ""))
                if pod is None:
                    continue
                if event.kind == EventKind.STARTED and status.id not in stops:
                    stops[status.id] = asyncio.Event()
                    name = status.labels.get(labels.CONTAINER_NAME, status.name)
                    task = asyncio.create_task(tail(status.log_path, pod, name, stops[status.id]))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                elif event.kind == EventKind.EXITED:
                    stops.setdefault(status.id, asyncio.Event()).set()
        finally:
            subscription.close()
            for stop in stops.values():
                stop.set()
            if tasks:
                await asyncio.wait(tasks, timeout=1)


def format_pods(pods: list[JSON], output: str) -> str:
    """The final pods as `kubectl get -o json|yaml|name` prints them (one object, or a List of several)."""
    if output == "name":
        return "".join(f"pod/{pod['metadata']['name']}\n" for pod in pods)
    doc = pods[0] if len(pods) == 1 else {"apiVersion": "v1", "kind": "List", "items": pods, "metadata": {}}
    if output == "yaml":
        text: str = yaml.safe_dump(doc, sort_keys=False)
        return text
    return json.dumps(doc, indent=4) + "\n"


def _record_path(root: Path) -> Path:
    """The pods of the run in progress on this root; left behind only when the run was killed."""
    return root / "run-pods.json"


def allocate_services(services: list[JSON]) -> list[JSON]:
    """Give each Service its cluster IP and node ports as the API server would; InvalidError for the first refused."""
    if not services:
        return []
    from podrun.services.registry import allocate_for_create  # the allocators load only for a run with Services

    allocated: list[JSON] = []
    for service in services:
        errors = allocate_for_create(service, allocated)
        if errors:
            raise InvalidError("Service", service["metadata"]["name"], errors)
        allocated.append(service)
    return allocated


def run_command(args: argparse.Namespace) -> int:
    """Load the manifests (all of them, before anything starts), then run the pods."""
    try:
        manifests = load_manifests(read_sources(args.filename) if args.filename else image_pod_sources(args))
        if args.timeout:
            parse_duration(args.timeout)
        load_registry_config(args.root)  # a broken registries.json or registries.conf is refused before anything starts
    except (ManifestError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except InvalidError as e:
        where = f"{e.source}: " if getattr(e, "source", None) else ""
        print(f"error: {where}{e.message}", file=sys.stderr)
        return 1
    if not manifests.pods:
        print("error: no Pod in the manifests", file=sys.stderr)
        return 1
    try:
        services = allocate_services(manifests.services)
    except InvalidError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    for warning in manifests.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    if os.geteuid() != 0:
        print("error: podrun run needs root: it creates namespaces, mounts and cgroups", file=sys.stderr)
        return 1
    output = RunOutput(quiet=args.quiet, multiple_pods=len(manifests.pods) > 1)
    node = socket.gethostname()
    accounts = accounts_with_defaults(manifests.service_accounts)
    pods = []
    for pod in manifests.pods:
        try:
            pods.append(admit_pod(admit_service_account(pod, accounts), node, now=time.time()))
        except ServiceAccountNotFound as e:
            print(f"error: pods {go_quote(pod['metadata']['name'])} is forbidden: {e}", file=sys.stderr)
            return 1
    gated = [p["metadata"]["name"] for p in pods if not p["spec"].get("nodeName")]
    if gated:
        print(f"error: pod {gated[0]} has schedulingGates: podrun run has no scheduler to lift them", file=sys.stderr)
        return 1
    event_lines = None
    if args.events:
        from podrun.cli.event_lines import EventLines  # with the event printers, only for `--events`

        event_lines = EventLines()
    host = RunHost(manifests.configmaps, manifests.secrets, output, node, services=services, event_lines=event_lines)
    try:
        with exclusive_root(args.run_root, "podrun run"):
            return asyncio.run(PodRun(args, pods, host, output, services=services).run())
    except (MissingTool, NetworkError, RootInUse) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
