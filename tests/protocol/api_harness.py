"""podrun's API server in a thread, with fakes for the node: what the protocol tests run kubectl and clients against.

The server (`create_app` served by `run_server` with TLS and a bearer token, an in-memory `Store`) runs on
127.0.0.1 in a thread with its own event loop, so that the tests can run kubectl as a subprocess. A fake
node agent stands in for the kubelet: it marks new pods Running and Ready (with the events a kubelet and the
scheduler would record) and, after a moment, reports pods being deleted as terminated through the real
`StoreHost` (which removes them unless finalizers hold them). No container is started: no root needed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from podrun.api.kubeconfig import build_kubeconfig, write_kubeconfig
from podrun.api.node_agent import StoreHost
from podrun.api.server import create_app, ensure_defaults, run_server
from podrun.api.store import Store
from podrun.api.streams.exec import StreamError
from podrun.api.tls import ensure_credentials, server_ssl_context
from podrun.json_types import JSON
from podrun.runtime.protocol import ExecStreams
from podrun.timestamps import now_time

KUBECTL = shutil.which("kubectl")
KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")
MINORS = [minor for minor in range(29, 34) if (KUBECTL_DIR / f"kubectl.1.{minor}").exists()]
NODE = "podrun-node"
POD_IP = "10.88.0.5"
DELETE_DELAY = 0.3


# --- the fake node agent --------------------------------------------------------------------------------------


class FakeKubelet:
    """Runs every pod bound to the node at once (Running, Ready) and terminates deleted pods after a moment.

    Pods labelled `hold=true` are left alone: they stay Pending, and stay when deleted (unless without grace).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.started: set[str] = set()
        self.deleting: set[str] = set()
        self.terminations: set[asyncio.Task[None]] = set()
        self.host = StoreHost(store, NODE)

    async def run(self) -> None:
        items, rv, _ = self.store.list("pods", None)
        for pod in items:
            self._handle(pod)
        watch = self.store.watch("pods", None, resource_version=rv)
        try:
            async for event in watch:
                if event.type != "DELETED":
                    self._handle(event.object)
        finally:
            watch.close()

    def _handle(self, pod: JSON) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        if (meta.get("labels") or {}).get("hold") == "true":
            return
        if meta.get("deletionTimestamp"):
            if uid not in self.deleting:
                self.deleting.add(uid)
                loop = asyncio.get_running_loop()
                loop.call_later(DELETE_DELAY, self._terminate, meta["namespace"], meta["name"], uid)
        elif uid not in self.started and pod["spec"].get("nodeName") == NODE:
            self.started.add(uid)
            self._start(pod)

    def _start(self, pod: JSON) -> None:
        now = now_time()
        containers = pod["spec"]["containers"]
        conditions = [
            {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
            for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
        ]
        statuses = [
            {
                "name": container["name"],
                "state": {"running": {"startedAt": now}},
                "lastState": {},
                "ready": True,
                "restartCount": 0,
                "image": container["image"],
                "imageID": f"{container['image']}@sha256:{'0' * 64}",
                "containerID": f"podrun://{uuid.uuid4().hex}",
                "started": True,
            }
            for container in containers
        ]
        status = dict(
            pod.get("status") or {},
            phase="Running",
            conditions=conditions,
            hostIP="127.0.0.1",
            hostIPs=[{"ip": "127.0.0.1"}],
            podIP=POD_IP,
            podIPs=[{"ip": POD_IP}],
            startTime=now,
            containerStatuses=statuses,
        )
        current = self.store.get("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
        self.store.update("pods", dict(current, status=status), check_resource_version=False)
        name = pod["metadata"]["name"]
        namespace = pod["metadata"]["namespace"]
        self._event(pod, "Scheduled", f"Successfully assigned {namespace}/{name} to {NODE}", "default-scheduler")
        for container in containers:
            path = f"spec.containers{{{container['name']}}}"
            self._event(pod, "Pulled", f'Container image "{container["image"]}" already present on machine', path=path)
            self._event(pod, "Created", f"Created container {container['name']}", path=path)
            self._event(pod, "Started", f"Started container {container['name']}", path=path)

    def _event(self, pod: JSON, reason: str, message: str, component: str = "kubelet", path: str = "") -> None:
        meta = pod["metadata"]
        involved = {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
            "apiVersion": "v1",
            "resourceVersion": meta["resourceVersion"],
        }
        if path:
            involved["fieldPath"] = path
        now = now_time()
        self.store.create(
            "events",
            {
                "kind": "Event",
                "apiVersion": "v1",
                "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "source": {"component": component, **({"host": NODE} if component == "kubelet" else {})},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "type": "Normal",
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": NODE if component == "kubelet" else "",
            },
        )

    def _terminate(self, namespace: str, name: str, uid: str) -> None:
        try:
            pod = self.store.get("pods", namespace, name)
        except Exception:
            return
        if pod["metadata"]["uid"] == uid:
            task = asyncio.ensure_future(self.host.pod_terminated(pod))
            self.terminations.add(task)
            task.add_done_callback(self.terminations.discard)


class FakeLogs:
    """Two lines for any container, and with `follow` a third one."""

    async def logs(self, namespace: str, pod: JSON, container: str, **options: Any) -> AsyncIterator[bytes]:
        return self._lines(container, options["follow"])

    async def _lines(self, container: str, follow: bool) -> AsyncIterator[bytes]:
        yield f"hello from {container}\n".encode()
        yield b"second line\n"
        if follow:
            yield b"followed line\n"


class FakeStreams:
    """exec answers with the command it was given (`exit N` exits with N) and echoes stdin; dial reaches an echo
    server."""

    def __init__(self) -> None:
        self.echo_port = 0

    async def start_echo_server(self) -> asyncio.Server:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        self.echo_port = server.sockets[0].getsockname()[1]
        return server

    async def exec(
        self, namespace: str, pod: str, container: str, command: list[str], *, tty: bool, stdin: bool
    ) -> ExecStreams:
        code = int(command[1]) if command[0] == "exit" else 0
        received: asyncio.Queue[bytes] = asyncio.Queue()

        async def output() -> AsyncIterator[bytes]:
            if not code:
                yield f"{container}: {' '.join(command)}\n".encode()
            # Like `cat`: stdin comes back on stdout until it is closed.
            while stdin and (data := await received.get()):
                yield data

        async def nothing() -> AsyncIterator[bytes]:
            return
            yield b""

        async def write(data: bytes) -> None:
            if data:
                received.put_nowait(data)

        async def close() -> None:
            received.put_nowait(b"")

        async def wait() -> int:
            return code

        stderr = None if tty else nothing()
        return ExecStreams(write, close, output(), stderr, wait, lambda _w, _h: None, lambda: None)

    async def attach(self, namespace: str, pod: str, container: str, *, tty: bool, stdin: bool) -> ExecStreams:
        raise StreamError(400, "attach is not supported here")

    async def dial(self, namespace: str, pod: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.echo_port)


@dataclass(frozen=True)
class Response:
    """An answer of the API: status, headers, body and the URL it came from (after redirects)."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str

    def json(self) -> Any:
        return json.loads(self.body)


# --- the server in a thread -----------------------------------------------------------------------------------


class Server:
    """podrun's API server and the fake kubelet on an event loop in a thread, and a kubeconfig for kubectl."""

    def __init__(self, directory: Path, minor: int) -> None:
        self.directory = directory
        self.version = f"v1.{minor}.0"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.store: Store | None = None
        self.runner: web.AppRunner | None = None
        self.kubelet_task: asyncio.Task[None] | None = None
        credentials = ensure_credentials(directory / "pki")
        self.token = credentials.token
        self.ca_pem = credentials.ca_pem()
        self.home = directory / "home"
        self.home.mkdir()

    def start(self) -> None:
        self.thread.start()
        self.port = self.call(self._start)
        self.kubeconfig = self.write_kubeconfig(self.token)

    def write_kubeconfig(self, token: str, name: str = "kubeconfig") -> Path:
        path = self.directory / name
        write_kubeconfig(path, build_kubeconfig(f"https://127.0.0.1:{self.port}", self.ca_pem, token))
        return path

    async def _start(self) -> int:
        self.store = Store()
        ensure_defaults(self.store)
        streams = FakeStreams()
        self.echo_server = await streams.start_echo_server()
        app = create_app(
            self.store,
            token=self.token,
            node_name=NODE,
            streams=streams,
            logs=FakeLogs(),
            kubernetes_version=self.version,
        )
        self.runner = await run_server(app, "127.0.0.1", 0, server_ssl_context(self.directory / "pki"))
        self.kubelet_task = asyncio.ensure_future(FakeKubelet(self.store).run())
        return int(self.runner.addresses[0][1])

    def call(self, function: Callable[[], Any]) -> Any:
        """Run `function` (a coroutine function or a plain one) on the server's loop and return its result."""

        async def run() -> Any:
            result = function()
            return await result if asyncio.iscoroutine(result) else result

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(timeout=30)

    def stop(self) -> None:
        async def stop() -> None:
            assert self.kubelet_task is not None and self.runner is not None and self.store is not None
            self.kubelet_task.cancel()
            self.echo_server.close()
            await self.runner.cleanup()
            self.store.close()

        self.call(stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def api(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Response:
        """One request to the API, as a client other than kubectl would make it."""
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        all_headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", **(headers or {})}
        request = urllib.request.Request(
            f"https://127.0.0.1:{self.port}{path}", data=data, method=method, headers=all_headers
        )
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as answer:
                return Response(answer.status, dict(answer.headers), answer.read(), answer.url)
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read(), error.url)

    def kubectl_command(self, *args: str, kubeconfig: Path | None = None) -> list[str]:
        assert KUBECTL is not None
        config = kubeconfig or self.kubeconfig
        return [KUBECTL, "--kubeconfig", str(config), "--cache-dir", str(self.directory / "cache"), *args]

    def env(self) -> dict[str, str]:
        # A private HOME: nothing of the user's ~/.kube is read or written.
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home)}

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, kubeconfig: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.kubectl_command(*args, kubeconfig=kubeconfig),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env=self.env(),
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


def pod_manifest(name: str, image: str = "nginx:1.27", **spec: Any) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}], **spec},
    }
    return yaml.safe_dump(pod)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
