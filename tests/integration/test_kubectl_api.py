"""The real kubectl against podrun's API server.

The server (`create_app` served by `run_server` with TLS and a bearer token, an in-memory `Store`) runs on
127.0.0.1 in a thread with its own event loop, so that the tests can run kubectl as a subprocess. A fake
node agent stands in for the kubelet: it marks new pods Running and Ready (with the events a kubelet and the
scheduler would record) and removes pods being deleted after a moment. kubectl is the gcloud dispatcher, which
runs `kubectl.1.<minor>` for the minor version `/version` reports; the core commands run against every
installed minor from 1.29 up, the rest against 1.32, the version podrun reports by default.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from podrun.api.kubeconfig import build_kubeconfig, write_kubeconfig
from podrun.api.server import create_app, ensure_defaults, run_server
from podrun.api.store import Store
from podrun.api.streams.exec import StreamError
from podrun.api.tls import ensure_credentials, server_ssl_context
from podrun.runtime.protocol import ExecStreams

JSON = dict[str, Any]

KUBECTL = shutil.which("kubectl")
KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")
MINORS = [minor for minor in range(29, 34) if (KUBECTL_DIR / f"kubectl.1.{minor}").exists()]
NODE = "podrun-node"
POD_IP = "10.88.0.5"
DELETE_DELAY = 0.3

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the fake node agent --------------------------------------------------------------------------------------


class FakeKubelet:
    """Runs every pod bound to the node at once (Running, Ready) and removes deleted pods after a moment.

    Pods labelled `hold=true` are left alone: they stay Pending, and stay when deleted (unless without grace).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.started: set[str] = set()
        self.deleting: set[str] = set()

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
                asyncio.get_running_loop().call_later(DELETE_DELAY, self._remove, meta["namespace"], meta["name"], uid)
        elif uid not in self.started and pod["spec"].get("nodeName") == NODE:
            self.started.add(uid)
            self._start(pod)

    def _start(self, pod: JSON) -> None:
        now = _now()
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
        now = _now()
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

    def _remove(self, namespace: str, name: str, uid: str) -> None:
        try:
            pod = self.store.get("pods", namespace, name)
        except Exception:
            return
        if pod["metadata"]["uid"] == uid:
            self.store.delete("pods", namespace, name)


class FakeLogs:
    """Two lines for any container, and with `follow` a third one a moment later."""

    async def logs(self, namespace: str, pod: JSON, container: str, **options: Any) -> AsyncIterator[bytes]:
        return self._lines(container, options["follow"])

    async def _lines(self, container: str, follow: bool) -> AsyncIterator[bytes]:
        yield f"hello from {container}\n".encode()
        yield b"second line\n"
        if follow:
            await asyncio.sleep(0.2)
            yield b"followed line\n"


class FakeStreams:
    """exec answers with the command it was given (`exit N` exits with N); dial reaches an echo server."""

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

        async def output() -> AsyncIterator[bytes]:
            if not code:
                yield f"{container}: {' '.join(command)}\n".encode()

        async def nothing() -> AsyncIterator[bytes]:
            return
            yield b""

        async def ignore(_data: bytes = b"") -> None:
            return None

        async def wait() -> int:
            return code

        stderr = None if tty else nothing()
        return ExecStreams(ignore, ignore, output(), stderr, wait, lambda _w, _h: None, lambda: None)

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


def _serve(tmp_path_factory: pytest.TempPathFactory, minor: int) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp(f"kubectl-1.{minor}"), minor)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server reporting v1.32, so that the dispatcher runs kubectl 1.32."""
    yield from _serve(tmp_path_factory, 32)


@pytest.fixture(scope="module", params=MINORS, ids=lambda minor: f"kubectl-1.{minor}")
def versioned_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server per installed kubectl minor version."""
    yield from _serve(tmp_path_factory, request.param)


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


# --- every installed kubectl version --------------------------------------------------------------------------


def test_core_commands(versioned_server: Server) -> None:
    server = versioned_server
    minor = server.version.split(".")[1]
    version = json.loads(server.kubectl("version", "-o", "json").stdout)
    assert version["clientVersion"]["gitVersion"].startswith(f"v1.{minor}.")
    assert version["serverVersion"]["gitVersion"] == server.version

    assert server.kubectl("apply", "-f", "-", stdin=pod_manifest("core")).stdout == "pod/core created\n"
    assert "condition met" in server.kubectl("wait", "--for=condition=Ready", "pod/core", "--timeout=20s").stdout
    updated = server.kubectl("apply", "-f", "-", stdin=pod_manifest("core", "nginx:1.28"))
    assert (updated.stdout, updated.stderr) == ("pod/core configured\n", "")

    lines = server.kubectl("get", "pods").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert lines[1].split()[:4] == ["core", "1/1", "Running", "0"]
    wide = server.kubectl("get", "pod", "core", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                               "READINESS", "GATES"]  # fmt: skip
    assert wide[1].split()[5:7] == [POD_IP, NODE]

    pod = yaml.safe_load(server.kubectl("get", "pod", "core", "-o", "yaml").stdout)
    assert pod["spec"]["nodeName"] == NODE
    assert pod["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"

    described = server.kubectl("describe", "pod", "core").stdout
    assert f"Node:             {NODE}/127.0.0.1" in described
    assert "Started container web" in described

    events = server.kubectl("get", "events").stdout
    assert "Scheduled" in events and "pod/core" in events

    assert server.kubectl("logs", "core").stdout == "hello from web\nsecond line\n"

    assert server.kubectl("exec", "core", "--", "echo", "hi").stdout == "web: echo hi\n"
    failed = server.kubectl("exec", "core", "--", "exit", "3", check=False)
    assert failed.returncode == 3
    assert failed.stderr.strip() == "command terminated with exit code 3"

    assert server.kubectl("delete", "pod", "core").stdout == 'pod "core" deleted\n'
    missing = server.kubectl("get", "pod", "core", check=False)
    assert missing.stderr.strip() == 'Error from server (NotFound): pods "core" not found'


def test_port_forward(versioned_server: Server) -> None:
    server = versioned_server
    server.kubectl("apply", "-f", "-", stdin=pod_manifest("forwarded"))
    process = subprocess.Popen(
        server.kubectl_command("port-forward", "pod/forwarded", ":80"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server.env(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Forwarding from 127.0.0.1:") and line.rstrip().endswith(" -> 80"), line
        local_port = int(line.split(":")[1].split()[0])
        with socket.create_connection(("127.0.0.1", local_port), timeout=10) as connection:
            connection.sendall(b"ping through the tunnel")
            received = b""
            while len(received) < len(b"ping through the tunnel"):
                received += connection.recv(1024)
        assert received == b"ping through the tunnel"
    finally:
        process.terminate()
        process.wait(timeout=10)
    server.kubectl("delete", "pod", "forwarded", "--wait=false")


# --- kubectl 1.32 ---------------------------------------------------------------------------------------------


def test_apply_update_and_forbidden_change(server: Server) -> None:
    assert server.kubectl("apply", "-f", "-", stdin=pod_manifest("web")).stdout == "pod/web created\n"
    server.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=20s")
    assert server.kubectl("apply", "-f", "-", stdin=pod_manifest("web")).stdout == "pod/web unchanged\n"
    assert server.kubectl("apply", "-f", "-", stdin=pod_manifest("web", "nginx:1.28")).stdout == "pod/web configured\n"
    pod = json.loads(server.kubectl("get", "pod", "web", "-o", "json").stdout)
    assert pod["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert pod["status"]["phase"] == "Running"

    changed = pod_manifest("web", "nginx:1.28", restartPolicy="Never")
    forbidden = server.kubectl("apply", "-f", "-", stdin=changed, check=False)
    assert forbidden.returncode == 1
    assert forbidden.stderr.startswith(
        'The Pod "web" is invalid: spec: Forbidden: pod updates may not change fields other than '
        "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    )
    server.kubectl("delete", "pod", "web", "--wait=false")


def test_get_watch_streams_changes(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=pod_manifest("watched"))
    server.kubectl("wait", "--for=condition=Ready", "pod/watched", "--timeout=20s")
    process = subprocess.Popen(
        server.kubectl_command("get", "pods", "-l", "app=watched", "-w", "--output-watch-events"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server.env(),
    )
    try:
        assert process.stdout is not None
        header = process.stdout.readline().split()
        assert header == ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        first = process.stdout.readline().split()
        assert first[:4] == ["ADDED", "watched", "1/1", "Running"]
        server.kubectl("delete", "pod", "watched", "--wait=false")
        seen = [process.stdout.readline().split() for _ in range(2)]
        assert seen[0][:4] == ["MODIFIED", "watched", "1/1", "Terminating"]
        assert seen[1][:2] == ["DELETED", "watched"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_delete_waits_until_the_pod_is_gone(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=pod_manifest("doomed"))
    started = time.monotonic()
    assert server.kubectl("delete", "pod", "doomed").stdout == 'pod "doomed" deleted\n'
    assert time.monotonic() - started >= DELETE_DELAY
    assert server.kubectl("get", "pods", "doomed", "--ignore-not-found").stdout == ""


def test_configmaps_secrets_namespaces_and_nodes(server: Server) -> None:
    assert server.kubectl("create", "configmap", "settings", "--from-literal=a=1", "--from-literal=b=2").stdout == (
        "configmap/settings created\n"
    )
    lines = server.kubectl("get", "cm", "settings").stdout.splitlines()
    assert lines[0].split() == ["NAME", "DATA", "AGE"]
    assert lines[1].split()[:2] == ["settings", "2"]

    server.kubectl("create", "secret", "generic", "creds", "--from-literal=password=s3cret")
    secret = json.loads(server.kubectl("get", "secret", "creds", "-o", "json").stdout)
    assert secret["type"] == "Opaque" and secret["data"] == {"password": "czNjcmV0"}
    assert server.kubectl("get", "secrets").stdout.splitlines()[1].split()[:3] == ["creds", "Opaque", "1"]

    namespaces = [line.split()[:2] for line in server.kubectl("get", "ns").stdout.splitlines()[1:]]
    assert ["default", "Active"] in namespaces and ["kube-system", "Active"] in namespaces

    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "nodeInfo": {"kubeletVersion": "v1.32.4", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "kernelVersion": "6.1.0", "containerRuntimeVersion": "podrun://0.1.0"},
        },
    }  # fmt: skip
    server.call(lambda: server.store.create("nodes", node))  # type: ignore[union-attr]
    nodes = server.kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    assert nodes[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    cells = nodes[1].split()
    assert cells[:3] == [NODE, "Ready", "control-plane"] and cells[4:6] == ["v1.32.4", "127.0.0.1"]


def test_server_side_apply(server: Server) -> None:
    manifest = pod_manifest("ssa")
    assert server.kubectl("apply", "--server-side", "-f", "-", stdin=manifest).stdout == "pod/ssa serverside-applied\n"
    changed = pod_manifest("ssa", "nginx:1.28")
    assert server.kubectl("apply", "--server-side", "-f", "-", stdin=changed).stdout == "pod/ssa serverside-applied\n"
    image = server.kubectl("get", "pod", "ssa", "-o", "jsonpath={.spec.containers[0].image}").stdout
    assert image == "nginx:1.28"
    server.kubectl("delete", "pod", "ssa", "--wait=false")


def test_decoding_errors_and_strict_validation(server: Server) -> None:
    pod = yaml.safe_load(pod_manifest("typo"))
    pod["spec"]["containers"][0]["imagePullPolice"] = "Always"
    result = server.kubectl("apply", "--validate=strict", "-f", "-", stdin=yaml.safe_dump(pod), check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot be handled as a '
        'Pod: strict decoding error: unknown field "spec.containers[0].imagePullPolice"'
    )
    mistyped = yaml.safe_load(pod_manifest("typed"))
    mistyped["spec"]["containers"][0]["ports"][0]["containerPort"] = "80"
    result = server.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(mistyped), check=False)
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot be handled as a '
        "Pod: json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort "
        "of type int32"
    )
    warned = server.kubectl("apply", "--validate=warn", "-f", "-", stdin=yaml.safe_dump(pod))
    assert 'Warning: unknown field "spec.containers[0].imagePullPolice"' in warned.stderr
    assert warned.stdout == "pod/typo created\n"
    server.kubectl("delete", "pod", "typo", "--wait=false")


def test_wrong_token_is_unauthorized(server: Server) -> None:
    server.kubectl("get", "pods")  # discovery is cached: the GET itself gets the 401 Status
    config = server.write_kubeconfig("not-the-token", "wrong-token-kubeconfig")
    result = server.kubectl("get", "pods", kubeconfig=config, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: You must be logged in to the server (Unauthorized)"


def test_wrong_token_without_cached_discovery(server: Server) -> None:
    config = server.write_kubeconfig("not-the-token", "wrong-token-kubeconfig")
    command = server.kubectl_command("get", "pods", kubeconfig=config)
    command[command.index("--cache-dir") + 1] = str(server.directory / "empty-cache")
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=server.env(), check=False)
    # Discovery reads the raw body of the 401, so client-go words it itself, as against a real cluster.
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "error: You must be logged in to the server (the server has asked for the client to provide credentials)"
    )


def test_missing_pod_is_not_found(server: Server) -> None:
    result = server.kubectl("get", "pod", "missing", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == 'Error from server (NotFound): pods "missing" not found'


def test_logs_follow_and_errors(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=pod_manifest("talker"))
    followed = server.kubectl("logs", "-f", "talker")
    assert followed.stdout == "hello from web\nsecond line\nfollowed line\n"
    wrong = server.kubectl("logs", "talker", "-c", "nope", check=False)
    assert wrong.stderr.strip() == "error: container nope is not valid for pod talker"
    server.kubectl("delete", "pod", "talker", "--wait=false")


def test_pod_warnings_reach_kubectl(server: Server) -> None:
    result = server.kubectl("apply", "-f", "-", stdin=pod_manifest("web.v1"))
    assert "Warning: metadata.name: this is used in the Pod's hostname" in result.stderr
    server.kubectl("delete", "pod", "web.v1", "--wait=false")


def _held_pod(name: str, namespace: str = "default") -> str:
    pod = yaml.safe_load(pod_manifest(name))
    pod["metadata"]["labels"]["hold"] = "true"
    pod["metadata"]["namespace"] = namespace
    return yaml.safe_dump(pod)


def test_graceful_deletion_can_be_shortened(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=_held_pod("held"))
    server.kubectl("delete", "pod", "held", "--grace-period=60", "--wait=false")
    first = json.loads(server.kubectl("get", "pod", "held", "-o", "json").stdout)["metadata"]
    assert first["deletionGracePeriodSeconds"] == 60
    assert server.kubectl("get", "pod", "held").stdout.splitlines()[1].split()[2] == "Terminating"
    server.kubectl("delete", "pod", "held", "--grace-period=90", "--wait=false")  # longer: no change
    server.kubectl("delete", "pod", "held", "--grace-period=10", "--wait=false")
    second = json.loads(server.kubectl("get", "pod", "held", "-o", "json").stdout)["metadata"]
    assert second["deletionGracePeriodSeconds"] == 10
    moved = datetime.fromisoformat(first["deletionTimestamp"]) - datetime.fromisoformat(second["deletionTimestamp"])
    assert moved.total_seconds() == 50
    forced = server.kubectl("delete", "pod", "held", "--grace-period=0", "--force")
    assert "Immediate deletion does not wait for confirmation" in forced.stderr
    assert server.kubectl("get", "pod", "held", "--ignore-not-found").stdout == ""


def test_exec_into_a_pod_that_is_not_running(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=_held_pod("pending"))
    result = server.kubectl("exec", "pending", "--", "ls", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == 'error: unable to upgrade connection: container not found ("web")'
    wrong = server.kubectl("exec", "pending", "-c", "nope", "--", "ls", check=False)
    assert wrong.stderr.strip().endswith("container nope is not valid for pod pending")
    server.kubectl("delete", "pod", "pending", "--grace-period=0", "--force")


def test_namespace_lifecycle(server: Server) -> None:
    server.kubectl("create", "namespace", "team")
    server.kubectl("create", "configmap", "-n", "team", "cfg", "--from-literal=a=b")
    server.kubectl("apply", "-f", "-", stdin=_held_pod("stuck", "team"))
    server.kubectl("delete", "namespace", "team", "--wait=false")
    assert server.kubectl("get", "ns", "team").stdout.splitlines()[1].split()[:2] == ["team", "Terminating"]
    refused = server.api("POST", "/api/v1/namespaces/team/configmaps", {"metadata": {"name": "late"}})
    assert refused.status == 403
    assert refused.json()["message"] == (
        'configmaps "late" is forbidden: unable to create new content in namespace team because it is being terminated'
    )
    # The controller deleted the contents; the held pod waits for its (fake) kubelet, which never comes.
    wait_until(lambda: server.api("GET", "/api/v1/namespaces/team/configmaps/cfg").status == 404)
    assert server.kubectl("get", "pod", "-n", "team", "stuck").stdout.splitlines()[1].split()[2] == "Terminating"
    server.kubectl("delete", "pod", "-n", "team", "stuck", "--grace-period=0", "--force")
    wait_until(lambda: server.api("GET", "/api/v1/namespaces/team").status == 404)
    undeletable = server.kubectl("delete", "namespace", "default", check=False)
    assert undeletable.stderr.strip() == (
        'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted'
    )


def test_raw_api_errors(server: Server) -> None:
    unknown = server.api("GET", "/api/v1/foos")
    assert unknown.status == 404
    assert unknown.json()["message"] == "the server could not find the requested resource"
    assert server.api("POST", "/api/v1/namespaces/default/pods/x", {}).json()["reason"] == "MethodNotAllowed"
    unsupported = server.api("POST", "/api/v1/namespaces/default/pods", b"x", {"Content-Type": "text/plain"})
    assert (unsupported.status, unsupported.json()["reason"]) == (415, "UnsupportedMediaType")
    missing = server.api("POST", "/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "a"}})
    assert (missing.status, missing.json()["message"]) == (404, 'namespaces "nope" not found')
    assert server.api("GET", "/healthz").body == b"ok"
    assert server.api("GET", "/readyz", headers={"Authorization": "Bearer nope"}).status == 401


def test_discovery_negotiation(server: Server) -> None:
    v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    v2beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    aggregated = server.api("GET", "/api", headers={"Accept": f"{v2},{v2beta1},application/json"})
    assert aggregated.headers["Content-Type"] == v2
    resources = {r["resource"]: r for r in aggregated.json()["items"][0]["versions"][0]["resources"]}
    assert resources["pods"]["shortNames"] == ["po"]
    assert {sub["subresource"] for sub in resources["pods"]["subresources"]} == {
        "attach", "exec", "log", "portforward", "status"
    }  # fmt: skip
    legacy = server.api("GET", "/api", headers={"Accept": f"{v2beta1},application/json"})
    assert legacy.headers["Content-Type"] == "application/json" and legacy.json()["kind"] == "APIVersions"
    names = {r["name"] for r in server.api("GET", "/api/v1").json()["resources"]}
    assert {"pods", "pods/log", "pods/exec", "events", "configmaps", "secrets", "namespaces", "nodes"} <= names


def test_openapi_documents(server: Server) -> None:
    root = server.api("GET", "/openapi/v3").json()
    url = root["paths"]["api/v1"]["serverRelativeURL"]
    document = server.api("GET", url)
    assert document.headers["Cache-Control"] == "public, immutable"
    paths = document.json()["paths"]
    patch = paths["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert "fieldValidation" in [parameter["name"] for parameter in patch["parameters"]]
    assert "requestBody" not in patch
    redirected = server.api("GET", "/openapi/v3/api/v1?hash=stale")
    assert redirected.url.endswith(url) and redirected.status == 200
    assert server.api("GET", "/openapi/v2").status == 404


def _watch_lines(server: Server, path: str, accept: str = "application/json") -> list[JSON]:
    answer = server.api("GET", path, headers={"Accept": accept})
    assert answer.status == 200
    return [json.loads(line) for line in answer.body.splitlines()]


def test_watch_protocol(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=pod_manifest("watch-me"))
    server.kubectl("wait", "--for=condition=Ready", "pod/watch-me", "--timeout=20s")
    selector = "fieldSelector=metadata.name%3Dwatch-me"
    table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    events = _watch_lines(server, f"/api/v1/pods?watch=true&{selector}&timeoutSeconds=1", table_accept)
    assert [event["type"] for event in events] == ["ADDED"]
    table = events[0]["object"]
    assert table["kind"] == "Table" and len(table["rows"]) == 1
    assert table["rows"][0]["cells"][:3] == ["watch-me", "1/1", "Running"]
    bookmarks = _watch_lines(server, f"/api/v1/pods?watch=1&{selector}&timeoutSeconds=2&allowWatchBookmarks=true")
    assert [event["type"] for event in bookmarks][:2] == ["ADDED", "BOOKMARK"]
    server.kubectl("delete", "pod", "watch-me", "--wait=false")


def test_status_subresource(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=_held_pod("statused"))
    pod = server.api("GET", "/api/v1/namespaces/default/pods/statused/status").json()
    pod["status"]["phase"] = "Failed"
    pod["spec"]["restartPolicy"] = "Never"  # ignored: only the status changes here
    updated = server.api("PUT", "/api/v1/namespaces/default/pods/statused/status", pod).json()
    assert updated["status"]["phase"] == "Failed"
    assert updated["spec"]["restartPolicy"] == "Always"
    assert updated["status"]["qosClass"] == "BestEffort"
    stale = server.api("PUT", "/api/v1/namespaces/default/pods/statused/status", pod)
    assert (stale.status, stale.json()["reason"]) == (409, "Conflict")
    patched = server.api(
        "PATCH",
        "/api/v1/namespaces/default/pods/statused/status",
        {"status": {"message": "done"}},
        {"Content-Type": "application/merge-patch+json"},
    ).json()
    assert patched["status"]["message"] == "done" and patched["status"]["phase"] == "Failed"
    # A finished pod is deleted at once.
    assert server.kubectl("delete", "pod", "statused").stdout == 'pod "statused" deleted\n'


def test_dry_run(server: Server) -> None:
    assert server.kubectl("apply", "--dry-run=server", "-f", "-", stdin=pod_manifest("dry")).stdout == (
        "pod/dry created (server dry run)\n"
    )
    assert server.kubectl("get", "pod", "dry", "--ignore-not-found").stdout == ""
