#!/usr/bin/env python3
"""`podrun serve` under the real kubectl: list latency, apply-to-Ready, port-forward throughput, memory.

One `podrun serve` runs as a child process (its own session, so Ctrl-C reaches only this script, which then
cleans up through it) on a temporary root with the offline test images (busybox, nginx) and a `registries.json`
that gives docker.io no upstream: no registry outside the machine is contacted, and all traffic stays on
127.0.0.1 or inside the pods' network namespaces. kubectl runs with its own kubeconfig, `--cache-dir` and HOME.

1. **Memory, idle**: VmRSS of the server (`/proc/PID/status`) 2 s after it is ready, before any pod.
   Target: **< 80 MB**.
2. **apply -> Ready**: `kubectl apply -f pod.yaml` then `kubectl wait --for=condition=Ready`, timed from the
   start of the apply to the end of the wait, for a busybox pod; median of 5. No target (reported).
3. **port-forward throughput**: nginx serves a 100 MiB file from an emptyDir (an init container writes it).
   A small Python client downloads it through `kubectl port-forward` (127.0.0.1) and directly inside the pod's
   network namespace (`nsenter --net=<run-root>/sandboxes/<id>/ns/net`, to 127.0.0.1:80); MB/s (10^6 bytes)
   from connect to the last byte, median of 3 each. No target (reported, with the ratio).
4. **Memory with 20 pods running**: VmRSS with 20 pods Running and Ready (2 s after the last became Ready).
5. **`kubectl get pods` with 100 pods** (the 20 running ones and 80 that ran `true` under restartPolicy Never):
   median wall time of 10 runs of the same kubectl against podrun and against a replay server, alternating. The
   replay server (aiohttp, TLS with the same certificate) records podrun's answer to each request kubectl makes
   on first sight (warm-up runs) and then answers from memory, so it returns byte for byte the same Table: the
   difference is what podrun's server adds. Target: **< 10 ms** added.

Timing never changes the exit status: only a crash does. Everything made (a `/tmp/podrun-bench-*` directory,
pods, mounts, namespaces, conmon processes, cgroups, the server, kubectl processes) is removed at the end, also
after Ctrl-C (exit 130) or SIGTERM: the pods are deleted through the server, the server is stopped with SIGTERM,
then a sweep adopts and removes whatever containers and sandboxes are left, kills what still runs, removes the
sandboxes' cgroups, unmounts, and deletes the directory. `--json PATH` also writes the raw numbers, the
temporary directory and every sandbox ID seen (for an exact leak check).

    .venv/bin/python bench/api_server.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
import yaml
from aiohttp import web
from init_handoff import processes_naming, sandbox_cgroup_dirs

from podrun.api.tls import server_ssl_context
from podrun.runtime import cgroups, linux
from podrun.runtime.images.importer import import_archive
from podrun.runtime.images.store import ImageStore
from podrun.runtime.local import LocalRuntime

JSON = dict[str, Any]
REPO = Path(__file__).resolve().parents[1]
BUILD_TEST_IMAGES = REPO / "scripts" / "build-test-images"
NO_UPSTREAM_REGISTRIES = {"no_upstream": ["docker.io"]}
READY_TIMEOUT = 60.0
IDLE_RSS_TARGET_MB = 80.0
LIST_ADDED_TARGET_MS = 10.0
SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Plan:
    """How much of everything to do."""

    apply_runs: int
    running_pods: int
    listed_pods: int
    get_runs: int
    download_mib: int
    download_runs: int


FULL = Plan(apply_runs=5, running_pods=20, listed_pods=100, get_runs=10, download_mib=100, download_runs=3)
QUICK = Plan(apply_runs=2, running_pods=5, listed_pods=10, get_runs=3, download_mib=10, download_runs=1)

IDLE_SCRIPT = "trap 'exit 0' TERM; while true; do sleep 0.5; done"  # exits at once on SIGTERM

# Runs inside the pod's network namespace (nsenter) or on the host: GET `path`, count the body's bytes.
DOWNLOADER = r"""
import socket, sys, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
started = time.perf_counter()
conn = socket.create_connection((host, port))
conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
buf, head, total = bytearray(1 << 20), b"", 0
while n := conn.recv_into(buf):
    if not head:
        end = bytes(buf[:n]).find(b"\r\n\r\n")
        head, n = bytes(buf[:end]), n - end - 4
    total += n
print(head.split(b" ", 2)[1].decode(), total, time.perf_counter() - started)
"""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM, turned into an exception so that the clean-up runs."""


INTERRUPTED = threading.Event()


def _on_signal(signum: int, _frame: object) -> NoReturn:
    # kubectl children get the same Ctrl-C and may fail first: the flag tells their error from a real one.
    INTERRUPTED.set()
    raise Interrupted(signal.Signals(signum).name)


# -- the server ------------------------------------------------------------------------------------------------


class Server:
    """`podrun serve` as a child process, and kubectl against it."""

    def __init__(self, work: Path, port: int, serve_args: tuple[str, ...] = ()) -> None:
        """`serve_args` are added to `podrun serve`'s command line."""
        self.work = work
        self.serve_args = serve_args
        self.root, self.run_root = work / "root", work / "run"
        self.port = port
        self.kubeconfig = work / "kubeconfig"
        self.home = work / "home"
        self.home.mkdir()
        self.process: subprocess.Popen[bytes] | None = None
        self.children: list[subprocess.Popen[str]] = []
        self.token = ""
        self.ca_pem = b""

    def start(self) -> None:
        """Start the server; return once it wrote the kubeconfig and `/readyz` answers."""
        command = [
            sys.executable, "-m", "podrun.cli.main", "serve", "--root", str(self.root), "--run-root",
            str(self.run_root), "--address", "127.0.0.1", "--port", str(self.port),
            "--kubeconfig", str(self.kubeconfig), *self.serve_args,
        ]  # fmt: skip
        with open(self.work / "serve.log", "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"podrun serve did not start; see {self.work / 'serve.log'}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        try:
            config = yaml.safe_load(self.kubeconfig.read_text())
            self.ca_pem = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
            self.token = config["users"][0]["user"]["token"]
            request = urllib.request.Request(
                f"https://127.0.0.1:{self.port}/readyz", headers={"Authorization": f"Bearer {self.token}"}
            )
            context = ssl.create_default_context(cadata=self.ca_pem.decode())
            with urllib.request.urlopen(request, context=context, timeout=5) as answer:
                return bool(answer.read() == b"ok")
        except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, ValueError):
            return False

    def running(self) -> bool:
        """True while the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def rss_mb(self) -> float:
        """The server's VmRSS, in MB (10^6 bytes)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        """SIGTERM by PID; SIGKILL if it has not exited after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def env(self) -> dict[str, str]:
        """kubectl's environment: a private HOME."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home)}

    def kubectl_command(self, *args: str, kubeconfig: Path | None = None, cache: str = "cache") -> list[str]:
        """A kubectl argv against this server (or the one `kubeconfig` names)."""
        config = kubeconfig or self.kubeconfig
        return ["kubectl", "--kubeconfig", str(config), "--cache-dir", str(self.work / cache), *args]

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 180) -> str:
        """Run kubectl; its stdout. Raises on a non-zero exit."""
        result = subprocess.run(
            self.kubectl_command(*args), input=stdin, capture_output=True, text=True, timeout=timeout,
            env=self.env(), check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args[:3])}... exited {result.returncode}: {result.stderr.strip()}")
        return result.stdout

    def popen_kubectl(self, *args: str) -> subprocess.Popen[str]:
        """A long-running kubectl (port-forward); terminated at clean-up if still running."""
        process = subprocess.Popen(
            self.kubectl_command(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env=self.env(),
        )  # fmt: skip
        self.children.append(process)
        return process

    def failed_syncs(self) -> int:
        """How many pod syncs failed (and were retried a second later), from the server's log."""
        log = (self.work / "serve.log").read_text(errors="replace")
        return sum(1 for line in log.splitlines() if line.startswith("sync of pod ") and line.endswith(" failed"))

    def pod_names(self) -> list[str]:
        """Every pod in the default namespace."""
        return [line.removeprefix("pod/") for line in self.kubectl("get", "pods", "-o", "name").split()]


# -- the replay server -----------------------------------------------------------------------------------------

DROPPED_HEADERS = {"content-length", "content-encoding", "transfer-encoding", "connection", "date", "server"}


class Replay:
    """Answers each request from memory; a request seen for the first time is recorded from podrun.

    Runs on its own event loop in a thread, with TLS (podrun's server certificate, so podrun's kubeconfig works
    with only the port changed).
    """

    def __init__(self, server: Server, port: int) -> None:
        self.server = server
        self.port = port
        self.recorded: dict[tuple[str, str, str], tuple[int, dict[str, str], bytes]] = {}
        self.misses = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None

    def start(self) -> Path:
        """Start serving; a kubeconfig that points at the replay server."""
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=30)
        config = yaml.safe_load(self.server.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        path = self.server.work / "replay-kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return path

    async def _start(self) -> None:
        context = ssl.create_default_context(cadata=self.server.ca_pem.decode())
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(
            self.runner, "127.0.0.1", self.port, ssl_context=server_ssl_context(self.server.root / "api" / "pki")
        )
        await site.start()

    async def _handle(self, request: web.Request) -> web.Response:
        key = (request.method, request.path_qs, request.headers.get("Accept", ""))
        if key not in self.recorded:
            self.misses += 1
            assert self.session is not None
            headers = {
                k: v
                for k, v in request.headers.items()
                if k.lower() in ("accept", "authorization", "user-agent", "content-type")
            }
            async with self.session.request(
                request.method, f"https://127.0.0.1:{self.server.port}{request.path_qs}", headers=headers,
                data=await request.read(),
            ) as answer:  # fmt: skip
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in DROPPED_HEADERS}
                self.recorded[key] = (answer.status, kept, await answer.read())
        status, kept, body = self.recorded[key]
        return web.Response(status=status, headers=kept, body=body)

    def stop(self) -> None:
        """Stop serving and end the thread."""

        async def stop() -> None:
            if self.runner is not None:
                await self.runner.cleanup()
            if self.session is not None:
                await self.session.close()

        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


# -- what must not be left behind ------------------------------------------------------------------------------


class SandboxTracker:
    """Every sandbox ID that appears in the roots (a daemon thread looks 20 times a second)."""

    def __init__(self, root: Path, run_root: Path) -> None:
        self.dirs = (root / "sandboxes", run_root / "sandboxes")
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _look(self) -> None:
        for d in self.dirs:
            with contextlib.suppress(OSError):
                self.seen.update(p.name for p in d.iterdir() if not p.name.startswith("."))

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self._look()

    def stop(self) -> set[str]:
        """Stop looking; every ID seen."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._look()
        return self.seen


async def remove_through_runtime(root: Path, run_root: Path) -> None:
    """Adopt and remove every container and sandbox still on disk."""
    janitor = LocalRuntime(root, run_root)
    try:
        await janitor.recover()
        for container in await janitor.list_containers():
            await janitor.stop_container(container.id, 0)
            await janitor.remove_container(container.id)
        for sandbox in await janitor.list_sandboxes():
            await janitor.remove_sandbox(sandbox.id)
    finally:
        await janitor.close()


def sweep(work: Path, sandbox_ids: set[str]) -> dict[str, list[str]]:
    """Remove whatever the server left in `work` (there should be nothing); what was found."""
    found = {
        "mounts": linux.mounts_under(work),
        "processes": list(processes_naming(work).values()),
        "cgroups": [str(p) for p in sandbox_cgroup_dirs(sandbox_ids)],
    }
    if (work / "root").exists():
        with contextlib.suppress(Exception):
            asyncio.run(remove_through_runtime(work / "root", work / "run"))
    for pid in processes_naming(work):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for sandbox_id in sandbox_ids:
        with contextlib.suppress(OSError):
            cgroups.remove_sandbox_cgroups(sandbox_id)
    linux.unmount_all_under(work)
    if not linux.mounts_under(work):  # never rm -rf through a mount
        shutil.rmtree(work, ignore_errors=True)
    return found


# -- pods ------------------------------------------------------------------------------------------------------


def pod_yaml(name: str, containers: list[JSON], **spec: Any) -> str:
    """A Pod manifest."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": containers, **spec}}
    return yaml.safe_dump(pod, sort_keys=False)


def idle_pod(name: str) -> str:
    """A busybox pod that runs until deleted (and stops at once when it is)."""
    return pod_yaml(name, [{"name": "idle", "image": "busybox", "command": ["sh", "-c", IDLE_SCRIPT]}])


def done_pod(name: str) -> str:
    """A busybox pod that runs `true` once (restartPolicy Never) and stays listed as Completed."""
    return pod_yaml(name, [{"name": "done", "image": "busybox", "command": ["true"]}], restartPolicy="Never")


def file_server_pod(name: str, mib: int) -> str:
    """nginx serving /big (`mib` MiB of zeros) from an emptyDir that an init container fills."""
    html = {"name": "html", "mountPath": "/usr/share/nginx/html"}
    fill = f"dd if=/dev/zero of=/usr/share/nginx/html/big bs=1048576 count={mib} 2>/dev/null"
    return pod_yaml(
        name,
        [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}], "volumeMounts": [html]}],
        initContainers=[{"name": "fill", "image": "busybox", "command": ["sh", "-c", fill], "volumeMounts": [html]}],
        volumes=[{"name": "html", "emptyDir": {}}],
    )


def create_pods(server: Server, manifests: dict[str, str], wait_for: str, batch: int = 10) -> None:
    """Apply the pods `batch` at a time (one kubectl apply per batch), each batch waited for (`--for=...`)."""
    names = list(manifests)
    for i in range(0, len(names), batch):
        chunk = names[i : i + batch]
        server.kubectl("apply", "-f", "-", stdin="---\n".join(manifests[n] for n in chunk))
        server.kubectl("wait", f"--for={wait_for}", *[f"pod/{n}" for n in chunk], "--timeout=120s")


# -- the measurements ------------------------------------------------------------------------------------------


def median(samples: list[float]) -> float:
    """The median (0 for no samples)."""
    return statistics.median(samples) if samples else 0.0


def apply_to_ready(server: Server, runs: int) -> list[float]:
    """ms from the start of `kubectl apply` to the end of `kubectl wait --for=condition=Ready`, per run."""
    samples = []
    for i in range(runs):
        name = f"ready-{i}"
        started = time.perf_counter()
        server.kubectl("apply", "-f", "-", stdin=idle_pod(name))
        server.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=60s")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def pod_netns(server: Server, name: str) -> Path:
    """The pinned network namespace of the pod's sandbox."""
    uid = json.loads(server.kubectl("get", "pod", name, "-o", "json"))["metadata"]["uid"]
    for doc in (server.root / "sandboxes").glob("*/sandbox.json"):
        if json.loads(doc.read_text())["config"]["uid"] == uid:
            return server.run_root / "sandboxes" / doc.parent.name / "ns" / "net"
    raise RuntimeError(f"no sandbox for pod {name}")


def download(prefix: list[str], port: int, expected: int) -> float:
    """MB/s of one GET /big to 127.0.0.1:`port`, the client run under `prefix` (e.g. nsenter)."""
    out = subprocess.run(
        [*prefix, sys.executable, "-c", DOWNLOADER, "127.0.0.1", str(port), "/big"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout.split()  # fmt: skip
    status, size, seconds = out[0], int(out[1]), float(out[2])
    if status != "200" or size != expected:
        raise RuntimeError(f"download got status {status} and {size} bytes, expected 200 and {expected}")
    return size / seconds / 1e6


def port_forward_throughput(server: Server, plan: Plan) -> tuple[list[float], list[float]]:
    """MB/s through `kubectl port-forward` and directly in the pod's network namespace, per run."""
    server.kubectl("apply", "-f", "-", stdin=file_server_pod("file-server", plan.download_mib))
    server.kubectl("wait", "--for=condition=Ready", "pod/file-server", "--timeout=120s")
    expected = plan.download_mib * 1024 * 1024
    netns = pod_netns(server, "file-server")
    forward = server.popen_kubectl("port-forward", "pod/file-server", ":80")
    assert forward.stdout is not None
    line = forward.stdout.readline()  # Forwarding from 127.0.0.1:PORT -> 80
    if not line.startswith("Forwarding from 127.0.0.1:"):
        raise RuntimeError(f"kubectl port-forward said {line!r}")
    local = int(line.split(":")[1].split()[0])
    through, direct = [], []
    try:
        for _ in range(plan.download_runs):
            through.append(download([], local, expected))
            direct.append(download(["nsenter", f"--net={netns}"], 80, expected))
    finally:
        forward.terminate()
        forward.wait(timeout=10)
    return through, direct


def settled_rss(server: Server) -> float:
    """VmRSS in MB after SETTLE_SECONDS of quiet."""
    time.sleep(SETTLE_SECONDS)
    return server.rss_mb()


def get_pods_times(server: Server, kubeconfig: Path | None, cache: str, expected_rows: int) -> float:
    """Wall time (ms) of one `kubectl get pods`, checking that it listed every pod."""
    command = server.kubectl_command("get", "pods", kubeconfig=kubeconfig, cache=cache)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=server.env(), check=False)
    elapsed = (time.perf_counter() - started) * 1000
    rows = len(result.stdout.splitlines()) - 1
    if result.returncode != 0 or rows != expected_rows:
        raise RuntimeError(f"kubectl get pods listed {rows} pods (exit {result.returncode}): {result.stderr.strip()}")
    return elapsed


@dataclass
class ListTimes:
    """`kubectl get pods` wall times against podrun and the replay, and the list request alone (ms)."""

    kubectl_podrun: list[float]
    kubectl_replay: list[float]
    request_podrun: list[float]
    request_replay: list[float]
    misses: int


def request_times(port: int, key: tuple[str, str, str], server: Server, runs: int) -> list[float]:
    """ms per GET of kubectl's list request (same path, query and Accept) on one kept-alive TLS connection."""
    _method, path, accept = key
    context = ssl.create_default_context(cadata=server.ca_pem.decode())
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    headers = {"Accept": accept, "Authorization": f"Bearer {server.token}"}
    samples = []
    try:
        for _ in range(runs + 1):  # the first one also makes the connection: not counted
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            answer.read()
            samples.append((time.perf_counter() - started) * 1000)
            if answer.status != 200:
                raise RuntimeError(f"GET {path} answered {answer.status}")
    finally:
        connection.close()
    return samples[1:]


def list_latency(server: Server, runs: int, expected_rows: int, replay_port: int) -> ListTimes:
    """`kubectl get pods` against podrun and against the replay server (alternating), then the request alone."""
    replay = Replay(server, replay_port)
    try:
        replay_config = replay.start()
        for _ in range(2):  # warm-up: kubectl's discovery cache, and the replay's recording
            get_pods_times(server, None, "cache", expected_rows)
            get_pods_times(server, replay_config, "replay-cache", expected_rows)
        recorded = replay.misses
        podrun, replayed = [], []
        for _ in range(runs):
            podrun.append(get_pods_times(server, None, "cache", expected_rows))
            replayed.append(get_pods_times(server, replay_config, "replay-cache", expected_rows))
        misses = replay.misses - recorded
        key = next(k for k in replay.recorded if k[1].startswith("/api/v1/namespaces/default/pods"))
        requests = 5 * runs
        return ListTimes(
            podrun, replayed, request_times(server.port, key, server, requests),
            request_times(replay_port, key, server, requests), misses,
        )  # fmt: skip
    finally:
        replay.stop()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- running it ------------------------------------------------------------------------------------------------


def image_archives() -> dict[str, Path]:
    """The busybox and nginx docker-save archives (built once, then cached by the script)."""
    out = subprocess.run(
        [sys.executable, str(BUILD_TEST_IMAGES)], check=True, capture_output=True, text=True, timeout=600
    ).stdout
    return {Path(line).name.rsplit("-", 1)[0]: Path(line) for line in out.split()}


def prepare(work: Path, serve_args: tuple[str, ...] = ()) -> Server:
    """The roots with both images and registries.json, and a server object (not started)."""
    server = Server(work, free_port(), serve_args)
    archives = image_archives()
    store = ImageStore(server.root)
    import_archive(store, archives["busybox"])
    import_archive(store, archives["nginx"])
    (server.root / "registries.json").write_text(json.dumps(NO_UPSTREAM_REGISTRIES))
    server.run_root.mkdir()
    return server


def run(server: Server, plan: Plan, say: Callable[[str], None]) -> JSON:
    """All measurements, in order; the raw numbers."""
    server.start()
    say(f"podrun serve ready (pid {server.process.pid if server.process else '?'}, port {server.port})")
    idle_rss = settled_rss(server)
    say(f"idle RSS {idle_rss:.1f} MB")

    ready_ms = apply_to_ready(server, plan.apply_runs)
    say(f"apply -> Ready: {', '.join(f'{x:.0f}' for x in ready_ms)} ms")

    through, direct = port_forward_throughput(server, plan)
    say(f"port-forward {', '.join(f'{x:.0f}' for x in through)} MB/s, direct {', '.join(f'{x:.0f}' for x in direct)}")

    running = len(server.pod_names())
    create_pods(
        server, {f"idle-{i}": idle_pod(f"idle-{i}") for i in range(plan.running_pods - running)}, "condition=Ready"
    )
    pods_rss = settled_rss(server)
    say(f"RSS with {plan.running_pods} pods {pods_rss:.1f} MB")

    listed = len(server.pod_names())
    done = {f"done-{i}": done_pod(f"done-{i}") for i in range(plan.listed_pods - listed)}
    started = time.monotonic()
    create_pods(server, done, "jsonpath={.status.phase}=Succeeded")
    say(f"{len(done)} more pods created and completed in {time.monotonic() - started:.1f} s")
    listing = list_latency(server, plan.get_runs, plan.listed_pods, free_port())
    return {
        "idle_rss_mb": idle_rss,
        "pods_rss_mb": pods_rss,
        "apply_ready_ms": ready_ms,
        "port_forward_mbps": through,
        "direct_mbps": direct,
        "get_pods_podrun_ms": listing.kubectl_podrun,
        "get_pods_replay_ms": listing.kubectl_replay,
        "list_request_podrun_ms": listing.request_podrun,
        "list_request_replay_ms": listing.request_replay,
        "replay_misses_while_timed": listing.misses,
        "failed_syncs": server.failed_syncs(),
    }


def clean_up(server: Server, tracker: SandboxTracker) -> dict[str, list[str]]:
    """Delete every pod through the server, stop it, then sweep the directory; what the sweep found."""
    for child in server.children:
        if child.poll() is None:
            child.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=10)
    if server.running():
        with contextlib.suppress(Exception):
            if server.pod_names():
                server.kubectl("delete", "pods", "--all", "--grace-period=1", "--timeout=120s", timeout=180)
    server.stop()
    return sweep(server.work, tracker.stop())


def report(raw: JSON, plan: Plan) -> str:
    """The table of results and whether the targets hold."""
    podrun_ms, replay_ms = median(raw["get_pods_podrun_ms"]), median(raw["get_pods_replay_ms"])
    added = podrun_ms - replay_ms
    through, direct = median(raw["port_forward_mbps"]), median(raw["direct_mbps"])
    ratio = through / direct if direct else 0.0

    def verdict(ok: bool) -> str:
        return "holds" if ok else "MISSED"

    rows = [
        ("memory: idle podrun serve (VmRSS)", f"{raw['idle_rss_mb']:.1f} MB",
         f"< {IDLE_RSS_TARGET_MB:.0f} MB: {verdict(raw['idle_rss_mb'] < IDLE_RSS_TARGET_MB)}"),
        (f"memory: with {plan.running_pods} pods running", f"{raw['pods_rss_mb']:.1f} MB", "-"),
        (f"kubectl apply -> Ready (median of {plan.apply_runs})", f"{median(raw['apply_ready_ms']):.0f} ms", "-"),
        (f"port-forward, {plan.download_mib} MiB (median of {plan.download_runs})", f"{through:.0f} MB/s",
         f"{ratio:.2f} x direct"),
        ("direct, in the pod's netns", f"{direct:.0f} MB/s", "-"),
        (f"kubectl get pods, {plan.listed_pods} pods: podrun (median of {plan.get_runs})", f"{podrun_ms:.1f} ms", "-"),
        ("kubectl get pods: replay of the same answers", f"{replay_ms:.1f} ms", "-"),
        ("kubectl get pods: what podrun's server adds", f"{added:.1f} ms",
         f"< {LIST_ADDED_TARGET_MS:.0f} ms: {verdict(added < LIST_ADDED_TARGET_MS)}"),
        (f"the list request alone: podrun (median of {len(raw['list_request_podrun_ms'])})",
         f"{median(raw['list_request_podrun_ms']):.1f} ms", "-"),
        ("the list request alone: replay", f"{median(raw['list_request_replay_ms']):.1f} ms", "-"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measurement':<{width}}  {'value':>10}  target", "-" * (width + 30)]
    lines += [f"{name:<{width}}  {value:>10}  {target}" for name, value, target in rows]
    if raw["failed_syncs"]:
        lines.append(f"(the server log shows {raw['failed_syncs']} failed pod syncs, each retried after 1 s)")
    if raw["replay_misses_while_timed"]:
        lines.append(f"(the replay server forwarded {raw['replay_misses_while_timed']} timed requests to podrun)")
    return "\n".join(lines)


def main() -> int:
    """Parse arguments, measure, clean up, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="few and small runs: only checks that it works")
    parser.add_argument("--json", help="also write the raw numbers, the temporary directory and sandbox IDs here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (podrun serve runs containers)", file=sys.stderr)
        return 1
    if shutil.which("kubectl") is None or shutil.which("nsenter") is None:
        print("needs kubectl and nsenter", file=sys.stderr)
        return 1
    plan = QUICK if args.quick else FULL
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    work = Path(tempfile.mkdtemp(prefix="podrun-bench-", dir="/tmp"))
    tracker = SandboxTracker(work / "root", work / "run")
    server: Server | None = None
    raw: JSON = {}
    status = 0
    try:
        server = prepare(work)
        raw = run(server, plan, lambda text: print(f"  {text}", flush=True))
    except Exception:
        if not INTERRUPTED.is_set():
            traceback.print_exc()
        status = 130 if INTERRUPTED.is_set() else 1
        print("interrupted: cleaning up" if status == 130 else "failed: cleaning up", file=sys.stderr)
    finally:
        # Nothing interrupts the clean-up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        leftovers = clean_up(server, tracker) if server is not None else sweep(work, tracker.stop())
    if any(leftovers.values()):
        print(f"the server left behind (now removed): {leftovers}", file=sys.stderr)
    if args.json:
        doc = dict(raw, work_dir=str(work), sandbox_ids=sorted(tracker.seen), leftovers=leftovers)
        Path(args.json).write_text(json.dumps(doc, indent=2))
    if status == 0:
        print(report(raw, plan))
    return status


if __name__ == "__main__":
    sys.exit(main())
