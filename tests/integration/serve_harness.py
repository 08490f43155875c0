"""`podrun serve` as a subprocess, driven by the real kubectl, and the checks that it left nothing behind.

`ServeProcess` runs `python -m podrun.cli.main serve` in the foreground (the test owns its PID) on a free port of
127.0.0.1, with its own state and run roots, kubeconfig, kubectl `--cache-dir` and HOME (nothing of the user's
`~/.kube` is read or written). `start()` returns once the server wrote its kubeconfig and `/readyz` answers;
`kill()` sends any signal by PID (SIGKILL for the restart-safety test, SIGTERM to stop it). Its output goes to
`serve.log` in the work directory.

`SandboxTracker` remembers every sandbox that ever appeared in the roots, so that the final check can look for
their cgroups after the pods (and their sandbox directories) are gone. `leftovers()` lists what would be a leak:
mounts under the roots, processes naming them (conmon, runc, sleep in a container), and those cgroups.
`clean_up()` then removes whatever is left, so that one broken run does not leak into the next.
`network_leftovers()` adds what the pod network must not leave: the pinned node namespace, veths in the host's
namespace, a `podrun` nftables table in the host's namespace.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import pty
import queue
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import yaml
from leaks import processes_naming, sandbox_cgroups, sandbox_ids_on_disk

from podrun.runtime import cgroups, linux
from podrun.runtime.images.importer import import_archive
from podrun.runtime.images.store import ImageStore
from podrun.runtime.local import LocalRuntime

JSON = dict[str, Any]
T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
KUBECTL = shutil.which("kubectl")
KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")
# Tests never contact anything outside 127.0.0.0/8: Docker Hub pulls fail at once as "unreachable".
NO_UPSTREAM_REGISTRIES = {"no_upstream": ["docker.io"]}
# How long to wait for something that takes (milli)seconds; only reached when something is broken. The cgroup v2
# lane's emulated machine is 10-50x slower (a cold `podrun serve` there can take over 30 s to answer), so
# scripts/test-cgroup-v2 raises it with PODRUN_TEST_TIMEOUT.
TIMEOUT = float(os.environ.get("PODRUN_TEST_TIMEOUT", "30"))


def installed_kubectl_minors(lowest: int = 29, highest: int = 33) -> dict[int, Path]:
    """The versioned kubectl binaries the `kubectl` package bundles: {minor: path}, from `dpkg -L kubectl`."""
    try:
        listed = subprocess.run(["dpkg", "-L", "kubectl"], capture_output=True, text=True, timeout=30).stdout
        paths = [Path(line) for line in listed.split() if Path(line).name.startswith("kubectl.1.")]
    except OSError:
        paths = []
    paths = paths or list(KUBECTL_DIR.glob("kubectl.1.*"))
    found = {int(p.name.rsplit(".", 1)[1]): p for p in paths if p.name.rsplit(".", 1)[1].isdigit() and p.exists()}
    return {minor: found[minor] for minor in sorted(found) if lowest <= minor <= highest}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], T], timeout: float = TIMEOUT, interval: float = 0.1, what: str = "") -> T:
    """Poll `condition` until it returns something true; return that. Fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {timeout:.0f} s: {what or condition}")
        time.sleep(interval)


class ServeProcess:
    """One `podrun serve` on `root`/`run_root` and 127.0.0.1:`port`, and kubectl pointed at it."""

    def __init__(self, root: Path, run_root: Path, work: Path, port: int | None = None) -> None:
        self.root = root
        self.run_root = run_root
        self.work = work
        self.port = port or free_port()
        self.kubeconfig = work / "kubeconfig"
        self.cache_dir = work / "kube-cache"
        self.home = work / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = work / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        # The argv that runs podrun; a test may put a wrapper there (one that dies at a chosen moment).
        self.launcher = [sys.executable, "-m", "podrun.cli.main"]
        self._ca_pem = b""
        self._token = ""

    # -- the server process ----------------------------------------------------------------------------------

    def start(self, timeout: float = TIMEOUT) -> None:
        """Start the server and return once it wrote its kubeconfig and `/readyz` answers `ok`."""
        self.kubeconfig.unlink(missing_ok=True)  # ours: its reappearance says the new server wrote it
        command = [
            *self.launcher, "serve", "--root", str(self.root),
            "--run-root", str(self.run_root), "--address", "127.0.0.1", "--port", str(self.port),
            "--kubeconfig", str(self.kubeconfig),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            log.write(f"--- {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.process.poll() is not None:
                raise AssertionError(f"podrun serve exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"podrun serve not ready within {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        try:
            config = yaml.safe_load(self.kubeconfig.read_text())
            self._ca_pem = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
            self._token = config["users"][0]["user"]["token"]
            return self.get("/readyz") == b"ok"
        except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, urllib.error.URLError, ssl.SSLError):
            return False

    @property
    def pid(self) -> int:
        """The server's process ID."""
        assert self.process is not None, "not started"
        return self.process.pid

    def kill(self, sig: signal.Signals = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        """Send `sig` to the server (by PID) and wait for it to exit; return its exit status."""
        assert self.process is not None, "not started"
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        return self.process.wait(timeout=timeout)

    def running(self) -> bool:
        """True while the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything the server printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def vm_rss_kib(self) -> int:
        """The server's resident set size (VmRSS in /proc/PID/status), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line")

    # -- the API directly --------------------------------------------------------------------------------------

    def get(self, path: str, accept: str = "application/json") -> bytes:
        """A GET with the server's bearer token, verified against its CA (as a client other than kubectl)."""
        request = urllib.request.Request(
            f"https://127.0.0.1:{self.port}{path}",
            headers={"Authorization": f"Bearer {self._token}", "Accept": accept},
        )
        context = ssl.create_default_context(cadata=self._ca_pem.decode())
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            return bytes(answer.read())

    # -- kubectl -----------------------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """kubectl's environment: a private HOME, so nothing of the user's ~/.kube is read or written."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home), "TERM": "xterm"}

    def kubectl_command(self, *args: str, binary: str | Path | None = None) -> list[str]:
        """The argv of a kubectl invocation against this server (the dispatcher unless `binary` is given)."""
        kubectl = binary or KUBECTL
        assert kubectl is not None, "kubectl is not installed"
        return [str(kubectl), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60,
        binary: str | Path | None = None,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run kubectl to completion in the work directory; with `check`, fail with its stderr unless it exits 0."""
        result = subprocess.run(
            self.kubectl_command(*args, binary=binary), input=stdin, capture_output=True, text=True,
            timeout=timeout, env=self.env(), cwd=self.work, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def popen_kubectl(self, *args: str, binary: str | Path | None = None) -> subprocess.Popen[str]:
        """Start a long-running kubectl (port-forward, logs -f, get -w) with its output in pipes."""
        return subprocess.Popen(
            self.kubectl_command(*args, binary=binary), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=self.env(), cwd=self.work,
        )  # fmt: skip

    def pod(self, name: str) -> JSON:
        """The pod as `kubectl get pod NAME -o json` prints it."""
        return dict(json.loads(self.kubectl("get", "pod", name, "-o", "json").stdout))

    def pod_row(self, name: str) -> list[str]:
        """The pod's line of `kubectl get pod NAME`, split into its columns (NAME READY STATUS RESTARTS AGE)."""
        lines = self.kubectl("get", "pod", name).stdout.splitlines()
        assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], lines
        return lines[1].split()

    def pod_names(self) -> list[str]:
        """The names of every pod in the default namespace."""
        out = self.kubectl("get", "pods", "-o", "name").stdout
        return [line.removeprefix("pod/") for line in out.split()]

    def delete_all_pods(self) -> None:
        """Delete every pod with a 1 s grace period and return once they are all gone."""
        if self.pod_names():
            self.kubectl("delete", "pods", "--all", "--grace-period=1", "--timeout=60s", timeout=90)
        wait_until(lambda: not self.pod_names(), what="every pod deleted")


def read_lines(stream: IO[str]) -> queue.Queue[str | None]:
    """A queue that a daemon thread fills with the lines of `stream` (None at its end)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def next_line(lines: queue.Queue[str | None], timeout: float = TIMEOUT) -> str:
    """The next line from `read_lines`; fails on the end of the stream or after `timeout` seconds."""
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line within {timeout:.0f} s") from None
    assert line is not None, "the stream ended"
    return line


@contextlib.contextmanager
def running(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Terminate `process` (by PID, SIGTERM then SIGKILL) when the block ends."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def run_in_pty(command: list[str], env: dict[str, str], keys: bytes, prompt: bytes, timeout: float = TIMEOUT) -> str:
    """Run `command` with a pseudo-terminal as stdin, stdout and stderr, as a user at a terminal would.

    Once `prompt` appears in the output, `keys` are typed. Returns everything the terminal showed, after the
    command exited (it must, within `timeout`), with `\r\r\n` read as `\r\n`: kubectl makes this terminal raw
    only after the first output may have arrived and restores it before the last is written, so this side's
    line discipline may add a `\r` of its own to those lines (seen under load); only the remote side is podrun's.
    """
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        command, stdin=terminal, stdout=terminal, stderr=terminal, env=env, start_new_session=True
    )
    os.close(terminal)
    shown, typed = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([controller], [], [], 0.1)
            if readable:
                try:
                    data = os.read(controller, 4096)
                except OSError:  # EIO: the command exited and the terminal closed
                    break
                if not data:
                    break
                shown += data
            if not typed and prompt in shown:
                os.write(controller, keys)
                typed = True
            if process.poll() is not None and not readable:
                break
        process.wait(timeout=max(0.1, deadline - time.monotonic()))
        return shown.decode(errors="replace").replace("\r\r\n", "\r\n")
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


# -- what must not be left behind ------------------------------------------------------------------------------


class SandboxTracker:
    """Remembers every sandbox that appears in the roots (a daemon thread looks 20 times a second)."""

    def __init__(self, root: Path, run_root: Path) -> None:
        self.root = root
        self.run_root = run_root
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.seen |= sandbox_ids_on_disk(self.root, self.run_root)

    def stop(self) -> set[str]:
        """Stop watching; every sandbox ID seen."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.seen |= sandbox_ids_on_disk(self.root, self.run_root)
        return self.seen


def leftovers(root: Path, run_root: Path, sandbox_ids: set[str]) -> dict[str, Any]:
    """What a stopped server and deleted pods must not leave: mounts, processes, sandboxes' cgroups."""
    return {
        "mounts": [*linux.mounts_under(root), *linux.mounts_under(run_root)],
        "processes": processes_naming(root, run_root),
        "cgroups": sandbox_cgroups(sandbox_ids),
        "sandboxes": sorted(sandbox_ids_on_disk(root, run_root)),
    }


def host_veths() -> set[str]:
    """The names of the veth links in the host's (this process's) network namespace."""
    listed = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in listed.stdout.splitlines() if line.strip()}


def host_nft_tables() -> list[str]:
    """The nftables tables of the host's namespace, as `nft list tables` names them ("table ip filter")."""
    listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True)
    return [line.strip() for line in listed.stdout.splitlines() if line.strip()]


def network_leftovers(run_root: Path, veths_before: set[str]) -> dict[str, Any]:
    """What a stopped server with no pods must not leave of the pod network (beyond mounts, in `leftovers`):
    the node namespace's pin, veths in the host namespace that were not there before, a `podrun` nftables table
    in the host namespace (podrun's rules belong in the node namespace only)."""
    pin = run_root / "network" / "netns"
    return {
        "node_netns": [str(pin)] if pin.exists() else [],
        "host_veths": sorted(host_veths() - veths_before),
        "host_nft_tables": [table for table in host_nft_tables() if table.split()[-1] == "podrun"],
    }


def listening(port: int) -> bool:
    """True when a TCP socket of the host's namespace listens on `port` (any 127.0.0.0/8 or wildcard address)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: TCP_LISTEN
                    return True
    return False


async def _remove_through_runtime(root: Path, run_root: Path) -> None:
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


def clean_up(root: Path, run_root: Path, sandbox_ids: set[str]) -> None:
    """Remove everything left in the roots (through a fresh runtime, then by force) and delete them."""
    with contextlib.suppress(Exception):
        asyncio.run(_remove_through_runtime(root, run_root))
    for pid in processes_naming(root, run_root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for sandbox_id in sandbox_ids:
        with contextlib.suppress(OSError):
            cgroups.remove_sandbox_cgroups(sandbox_id)
    for d in (root, run_root):
        linux.unmount_all_under(d)
        if not linux.mounts_under(d):  # never rm -rf through a mount
            shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def serving(archives: list[Path], work: Path, prepare: Callable[[Path, Path], None] | None = None) -> Iterator[
    ServeProcess
]:
    """`podrun serve` on fresh roots holding `archives` (and no upstream registry), for a test module.

    `prepare(root, run_root)` runs before the server starts. At the end every pod is deleted, the server
    gets SIGTERM, and nothing may be left: no mount, process, sandbox or sandbox cgroup, and nothing of the pod
    network (`network_leftovers`).
    """
    veths_before = host_veths()
    root = Path(tempfile.mkdtemp(prefix="podrun-", dir="/tmp"))
    run_root = Path(tempfile.mkdtemp(prefix="podrun-", dir="/tmp"))
    tracker = SandboxTracker(root, run_root)
    server: ServeProcess | None = None
    left: dict[str, Any] = {}
    try:
        store = ImageStore(root)
        for archive in archives:
            import_archive(store, archive)
        (root / "registries.json").write_text(json.dumps(NO_UPSTREAM_REGISTRIES))
        if prepare is not None:
            prepare(root, run_root)
        server = ServeProcess(root, run_root, work)
        server.start()
        yield server

        if not server.running():
            server.start()
        server.delete_all_pods()
        assert server.kill(signal.SIGTERM) == 0, server.log()
        sandbox_ids = tracker.stop()
        assert sandbox_ids, "no sandbox was ever seen: the cgroup check below would prove nothing"
        left = {**leftovers(root, run_root, sandbox_ids), **network_leftovers(run_root, veths_before)}
    finally:
        if server is not None and server.running():
            server.kill(signal.SIGKILL)
        clean_up(root, run_root, tracker.stop())
    assert not any(left.values()), f"left behind: {left}"
