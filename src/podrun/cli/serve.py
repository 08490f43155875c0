"""`podrun serve`, `podrun stop` and `podrun kubeconfig`: the Kubernetes-compatible API server.

`serve` runs the API server (TLS, bearer token, SQLite store under the root), the web UI on its own TLS port
(`podrun.ui`), the kubelet with its node agent, the store's housekeeping (Events expire after `--event-ttl`),
and writes a `podrun` context into the user's kubeconfig. Stopping it leaves the pods' containers running
(conmon keeps them); the next `serve` adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from podrun.api.allocator import limit_arenas
from podrun.api.errors import ApiError
from podrun.api.housekeeping import Housekeeping, release_free_heap
from podrun.api.kubeconfig import (
    build_kubeconfig,
    default_kubeconfig_path,
    install_kubeconfig,
    podrun_entries,
    read_kubeconfig,
)
from podrun.api.node_agent import NodeAgent, StoreHost, default_node_name
from podrun.api.node_backends import NodeLifecycle, NodeLogs, NodeStreams
from podrun.api.server import create_app, ensure_defaults, run_server
from podrun.api.store import Store
from podrun.api.tls_files import ensure_credentials_in_child, server_context
from podrun.cli.root_lock import RootInUse, exclusive_root
from podrun.kubelet.images import load_registry_config
from podrun.kubelet.node import Node
from podrun.kubelet.node_facts import NodeFacts
from podrun.network.config import NetworkConfig
from podrun.network.node import NetworkError, NodeNetwork, has_sandboxes
from podrun.runtime.local import LocalRuntime
from podrun.runtime.oci_runtime import MissingTool
from podrun.services.controller import ServicesController
from podrun.services.proxy import ServiceProxy
from podrun.ui.routes import add_login_codes, create_ui_app
from podrun.ui.sessions import Sessions

READY_TIMEOUT_SECONDS = 30.0
# The web UI's port unless --ui-port says otherwise; when it is taken, any free port (serve prints the URL).
DEFAULT_UI_PORT = 6444


def _api_dir(root: Path) -> Path:
    return root / "api"


def _pid_file(root: Path) -> Path:
    return _api_dir(root) / "serve.pid"


def _server_url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}"


async def _serve(args: argparse.Namespace) -> int:
    # Each part is stopped by `started` as soon as it runs: a server that fails on its way up (its port taken, say)
    # leaves no node network, task or open store behind, and a stopping one stops them in the reverse order.
    async with contextlib.AsyncExitStack() as started:
        await _start_and_wait(args, started)
        print("podrun serve: stopping (pods keep running; the next serve adopts them)", flush=True)
    return 0


async def _start_and_wait(args: argparse.Namespace, started: contextlib.AsyncExitStack) -> None:
    """Start every part of the server, each registered with `started` for its stop; return on SIGINT or SIGTERM."""
    api_dir = _api_dir(args.root)
    api_dir.mkdir(parents=True, exist_ok=True)
    # Last out: until every part has stopped, `podrun stop` and a second serve see this one as running.
    _on_stop(started, "pid file", lambda: _forget_pid_file(args.root))
    node = args.node_name or default_node_name()
    credentials = ensure_credentials_in_child(api_dir / "pki", hostnames=[node])
    store = Store(api_dir / "store.db")
    _on_stop(started, "store", store.close)
    ca_pem = credentials.ca_pem().decode()
    ensure_defaults(store, ca_pem=ca_pem)
    services = ServicesController(store, ca_pem=ca_pem)
    _on_stop(started, "services controller", services.stop)
    services.start()
    housekeeping = Housekeeping(store, event_ttl=args.event_ttl)
    _on_stop(started, "housekeeping", housekeeping.stop)
    housekeeping.start()
    network = NodeNetwork(NetworkConfig.for_roots(args.root, args.run_root))
    # Running pods keep their addresses and veths, and the next serve adopts the namespace (DNS is down
    # meanwhile); with no pod left, nothing of the network stays.
    _on_stop(started, "node network", lambda: network.stop(remove=not has_sandboxes(args.root)))
    await network.start()
    proxy = ServiceProxy(store, network, api_port=args.port, api_host=args.address)
    _on_stop(started, "service proxy", proxy.stop)
    await proxy.start()
    runtime = LocalRuntime(args.root, args.run_root, args.oci_runtime, network=network, spare_sandbox=True)
    _on_stop(started, "runtime", runtime.close)
    await runtime.recover()
    pods = Node(
        runtime,
        StoreHost(store, node),
        root=args.root,
        image_store=runtime.images,
        strict_pull=args.strict_pull,
        offline=args.offline,
        facts=NodeFacts.of_this_machine(node, network.config),
    )
    _on_stop(started, "kubelet", pods.stop)
    await pods.start()
    agent = NodeAgent(store, pods, node)
    _on_stop(started, "node agent", agent.stop)
    await agent.start()

    def get_pod(namespace: str, name: str) -> dict[str, object]:
        return store.get("pods", namespace, name)

    app = create_app(
        store, token=credentials.token, node_name=node,
        streams=NodeStreams(pods, get_pod), logs=NodeLogs(pods), lifecycle=NodeLifecycle(pods),
    )  # fmt: skip
    sessions = Sessions(credentials.token)
    ui_app = create_ui_app(
        store, sessions=sessions, node_name=node,
        streams=NodeStreams(pods, get_pod), logs=NodeLogs(pods), lifecycle=NodeLifecycle(pods),
    )  # fmt: skip
    ui_runner, ui_port = await _serve_ui(ui_app, args.address, args.ui_port, server_context(credentials))
    _on_stop(started, "web UI", ui_runner.cleanup)
    ui_url = _server_url(args.address, ui_port) + "/ui/"
    add_login_codes(app, sessions, ui_url)
    runner = await run_server(app, args.address, args.port, server_context(credentials))
    _on_stop(started, "API server", runner.cleanup)
    url = _server_url(args.address, args.port)
    path = install_kubeconfig(url, credentials.ca_pem(), credentials.token, path=args.kubeconfig)
    _pid_file(args.root).write_text(str(os.getpid()))
    print(f"podrun serve: listening on {url} (OCI runtime {runtime.name}, node {node})", flush=True)
    print(f"podrun serve: kubeconfig context 'podrun' written to {path}", flush=True)
    print(f"podrun serve: web UI at {ui_url} (log in with: podrun dashboard)", flush=True)
    release_free_heap()  # what start-up freed (adopting pods, the first writes), before the server idles

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _on_stop(started: contextlib.AsyncExitStack, part: str, stop: Callable[[], object]) -> None:
    """Have `started` run `stop` (a function or a coroutine function) on its way out. A stop that fails is reported
    in a line and the other parts still stop; the error that ended a start stays the one reported."""

    async def run() -> None:
        try:
            result = stop()
            if asyncio.iscoroutine(result):
                await result
        except Exception as e:
            print(f"podrun serve: stopping the {part} failed: {e}", file=sys.stderr, flush=True)

    started.push_async_callback(run)


def _forget_pid_file(root: Path) -> None:
    """Remove the pid file if it names this process (a serve that failed to start may meet another's)."""
    with contextlib.suppress(OSError, ValueError):
        if int(_pid_file(root).read_text()) == os.getpid():
            _pid_file(root).unlink()


async def _serve_ui(
    app: web.Application, address: str, port: int | None, tls: ssl.SSLContext
) -> tuple[web.AppRunner, int]:
    """Serve the web UI on `port`, or on `DEFAULT_UI_PORT` (any free port when that one is taken)."""
    try:
        runner = await run_server(app, address, DEFAULT_UI_PORT if port is None else port, tls)
    except OSError as e:
        if port is not None or e.errno != errno.EADDRINUSE:
            raise
        runner = await run_server(app, address, 0, tls)
    return runner, int(runner.addresses[0][1])


def serve_command(args: argparse.Namespace) -> int:
    """Run the server in the foreground, or in the background with `--detach`."""
    if os.geteuid() != 0:
        print("error: podrun serve needs root: it creates namespaces, mounts and cgroups", file=sys.stderr)
        return 1
    if _running_pid(args.root) is not None:
        print(f"error: podrun serve is already running for {args.root} (podrun stop)", file=sys.stderr)
        return 1
    try:
        load_registry_config(args.root)  # a broken registries.json or registries.conf is refused before anything starts
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.detach:
        return _detach(args)
    limit_arenas()  # before the event loop's worker threads exist: each would get an arena of its own
    try:
        with exclusive_root(args.run_root, "podrun serve"):
            return asyncio.run(_serve(args))
    except (MissingTool, ApiError, OSError, NetworkError, RootInUse) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


def _detach(args: argparse.Namespace) -> int:
    """Start `serve` in the background, logging to `<root>/api/serve.log`; return once it listens."""
    api_dir = _api_dir(args.root)
    api_dir.mkdir(parents=True, exist_ok=True)
    log_path = api_dir / "serve.log"
    argv = [a for a in sys.argv[1:] if a not in ("--detach", "-d")]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "podrun.cli.main", *argv], stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"error: podrun serve exited with {proc.returncode}; see {log_path}", file=sys.stderr)
            return 1
        if _running_pid(args.root) == proc.pid:
            print(f"podrun serve: running in the background (pid {proc.pid}, log {log_path})")
            return 0
        time.sleep(0.05)
    print(f"error: podrun serve did not start within {READY_TIMEOUT_SECONDS:.0f} s; see {log_path}", file=sys.stderr)
    return 1


def _running_pid(root: Path) -> int | None:
    try:
        pid = int(_pid_file(root).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"podrun" in cmdline and b"serve" in cmdline else None


def stop_command(args: argparse.Namespace) -> int:
    """Stop a background `podrun serve` for this root (its pods keep running)."""
    pid = _running_pid(args.root)
    if pid is None:
        print(f"podrun serve is not running for {args.root}", file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        _pid_file(args.root).unlink()
    print(f"podrun serve stopped (pid {pid})")
    return 0


def kubeconfig_command(args: argparse.Namespace) -> int:
    """Print a kubeconfig for this root's server."""
    import yaml

    from podrun.api.tls import ensure_credentials

    pki = _api_dir(args.root) / "pki"
    if os.geteuid() != 0 and not os.access(pki.parent, os.X_OK):
        return _print_written_kubeconfig(pki)
    credentials = ensure_credentials(pki, hostnames=[default_node_name()])
    config = build_kubeconfig(_server_url(args.address, args.port), credentials.ca_pem(), credentials.token)
    sys.stdout.write(yaml.safe_dump(config, sort_keys=False))
    return 0


def _print_written_kubeconfig(pki: Path) -> int:
    """Without root the credentials are out of reach (0700): print the entries `sudo podrun serve` wrote for
    this user instead, so `podrun kubeconfig > file` works as it does for root."""
    import yaml

    path = default_kubeconfig_path()
    try:
        written = read_kubeconfig(path)
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"error: {path}: {error}", file=sys.stderr)
        return 1
    entries = podrun_entries(written) if written is not None else None
    if entries is None:
        print(
            f"error: podrun's credentials ({pki}) are readable by root only, and {path} has no podrun entries: "
            "run `sudo podrun serve` once (it writes them there for you) or `sudo podrun kubeconfig`",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(yaml.safe_dump(entries, sort_keys=False))
    return 0
