"""podrun's two front ends on temporary roots: `podrun serve` driven by the real kubectl, and `podrun run`.

Each front end has its own state root and run root (two runtimes must never share one: each adopts what it finds),
both with `registries.json` = `{"no_upstream": ["docker.io"]}` and the offline images imported by the CLI, as a user
would. `serve` starts once (untimed) in its own session, so a Ctrl-C in the terminal cannot stop it before the
cleanup has deleted its pods; its kubeconfig and kubectl's cache stay in the work directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, cast

from init_handoff import REGISTRIES, janitor, sandbox_ids_on_disk

from compare import allocators
from compare.common import (
    JSON,
    BenchError,
    LineReader,
    descendants,
    free_port,
    memory_of,
    processes_mentioning,
    run,
    wait_until,
)
from podrun.kubelet import labels

# `pod/NAME  READY  STATUS`, what `podrun run` prints on stderr at each change (as `kubectl get pods -w` would).
TRANSITION = re.compile(r"^pod/(?P<pod>\S+)\s+(?P<ready>\d+)/(?P<total>\d+)\s+(?P<status>\S+)")
STOP_NOTICE = "press Ctrl-C again"
SAFETY_TIMEOUT = "900s"  # a `podrun run` this script forgot still ends by itself
_COMPILE_BYTECODE = (
    "import compileall, os, podrun, podrun.cli.main, podrun.cli.serve\n"
    "compileall.compile_dir(os.path.dirname(podrun.__file__), quiet=1)\n"
)


def podrun_command() -> list[str]:
    """The `podrun` console script of this virtualenv (or the module, when the script is not installed)."""
    script = Path(sys.executable).parent / "podrun"
    return [str(script)] if script.exists() else [sys.executable, "-m", "podrun.cli.main"]


class Podrun:
    """podrun on temporary roots under `work`: `serve` (+ kubectl) and `run`, and their cleanup."""

    def __init__(self, work: Path, command: list[str] | None = None) -> None:
        """`command`: the podrun to run (default: this virtualenv's, `podrun_command()`)."""
        self.work = work
        self.command = command or podrun_command()
        self.serve_root, self.serve_run = work / "podrun-serve" / "root", work / "podrun-serve" / "run"
        self.cli_root, self.cli_run = work / "podrun-run" / "root", work / "podrun-run" / "run"
        self.kubeconfig = work / "kubeconfig"
        self.kube_cache = work / "kube-cache"
        self.serve_log = work / "podrun-serve.log"
        self.allocator_stats_file = work / "allocator-stats"
        # An installed podrun has compiled bytecode; PYTHONDONTWRITEBYTECODE (set on these machines) would make every
        # `podrun run` compile ~50 modules again (~100 ms). The cache lives in the work directory.
        self.env = dict(os.environ, PYTHONPYCACHEPREFIX=str(work / "pycache"))
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.serve: subprocess.Popen[bytes] | None = None
        self.children: list[subprocess.Popen[str]] = []
        self.sandbox_ids: set[str] = set()
        self._spy_stop = threading.Event()
        self._spy: threading.Thread | None = None

    # -- setup ---------------------------------------------------------------------------------------------------

    def prepare(self, archives: Iterable[Path]) -> dict[str, str]:
        """Both roots with registries.json and the images imported by `podrun image import`; {tag: image ID}."""
        self._start_spy()
        self._compile_bytecode()
        for root in (self.serve_root, self.cli_root):
            root.mkdir(parents=True)
            (root / "registries.json").write_text(json.dumps(REGISTRIES))
        for archive in archives:
            for root in (self.serve_root, self.cli_root):
                run([*self.command, "image", "import", str(archive), "--root", str(root)], env=self.env)
        listing = run([*self.command, "image", "ls", "--root", str(self.serve_root)], env=self.env).out
        images = {}
        for line in listing.splitlines()[1:]:
            repository, tag, image_id, *_ = line.split()
            images[f"{repository}:{tag}"] = image_id
        return images

    def _compile_bytecode(self) -> None:
        """Fill the bytecode cache as installing podrun does (pip compiles what it installs, Debian its Python).

        Without it serve, the first to import most modules, compiled ~500 of them (asyncio, aiohttp, podrun) at
        its start, and the compiler's freed memory stayed in its heap: ~0.9 MiB of its idle RSS that an installed
        podrun does not have. podrun's own package is compiled whole (the modules a pod loads later included), the
        rest through serve's imports.
        """
        run([*self._interpreter(), "-c", _COMPILE_BYTECODE], env=self.env, timeout=300)

    def _interpreter(self) -> list[str]:
        """The Python that runs `self.command`: the `-m` form's, or the console script's `#!` line (which may be
        `/usr/bin/env python3`); this one where neither says."""
        if len(self.command) > 1 and self.command[1] == "-m":
            return [self.command[0]]
        script = shutil.which(self.command[0])
        first_line = Path(script).read_text(errors="replace").partition("\n")[0] if script else ""
        return shlex.split(first_line.removeprefix("#!")) if first_line.startswith("#!") else [sys.executable]

    def _start_spy(self) -> None:
        """Note every sandbox ID either runtime makes, for the sweep of their cgroups (pods live >= 100 ms)."""

        def watch() -> None:
            while not self._spy_stop.wait(0.02):
                self.sandbox_ids |= self.sandboxes_on_disk()

        self._spy = threading.Thread(target=watch, name="sandbox-spy", daemon=True)
        self._spy.start()

    def sandboxes_on_disk(self) -> set[str]:
        """Sandbox IDs present under both front ends' roots."""
        return sandbox_ids_on_disk(self.serve_root, self.serve_run) | sandbox_ids_on_disk(self.cli_root, self.cli_run)

    def start_serve(self) -> None:
        """`podrun serve` on a free loopback port, in its own session, able to report its allocators
        (`compare/allocators.py`); returns once kubectl gets an answer."""
        port = free_port()
        with open(self.serve_log, "ab") as log:
            argv = ["serve", "--root", str(self.serve_root), "--run-root", str(self.serve_run),
                    "--address", "127.0.0.1", "--port", str(port), "--kubeconfig", str(self.kubeconfig)]  # fmt: skip
            self.serve = subprocess.Popen(
                allocators.serve_command(self._interpreter(), self.command, argv), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                env={**self.env, allocators.STATS_ENV: str(self.allocator_stats_file)}, start_new_session=True,
            )  # fmt: skip
        serve = self.serve
        wait_until(lambda: serve.poll() is not None or b"listening on" in self.serve_log.read_bytes(), 60,
                   interval=0.05, what="podrun serve listening")  # fmt: skip
        if serve.poll() is not None:
            raise BenchError(f"podrun serve exited {serve.returncode}: {self.serve_log.read_text()[-500:]}")
        self.kubectl("get", "pods")  # kubectl's first call: the dispatcher's /version, the discovery cache

    # -- serve + kubectl -----------------------------------------------------------------------------------------

    def kubectl_command(self, *args: str) -> list[str]:
        """kubectl against this serve, with its own kubeconfig and cache (nothing written under ~/.kube)."""
        return ["kubectl", f"--kubeconfig={self.kubeconfig}", "--context=podrun", f"--cache-dir={self.kube_cache}",
                *args]  # fmt: skip

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120, check: bool = True) -> str:
        """Run kubectl; its stdout (`BenchError` when it fails and `check`)."""
        return run(self.kubectl_command(*args), stdin=stdin, timeout=timeout, check=check).out

    def pod(self, name: str) -> JSON | None:
        """The pod as the API has it, or None when it does not exist."""
        out = self.kubectl("get", "pod", name, "-o", "json", "--ignore-not-found", timeout=30)
        return cast(JSON, json.loads(out)) if out.strip() else None

    def all_ready(self, selector: str, count: int) -> bool:
        """`kubectl get pods -l SELECTOR`: `count` pods, every one with its Ready condition True."""
        items = json.loads(self.kubectl("get", "pods", "-l", selector, "-o", "json", timeout=60))["items"]
        ready = [
            pod for pod in items
            if any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))
        ]  # fmt: skip
        return len(items) == count and len(ready) == count

    def port_forward(self, pod: str, remote: int, timeout: float = 30) -> tuple[subprocess.Popen[str], int]:
        """`kubectl port-forward pod/POD :REMOTE --address 127.0.0.1`: the process and its local port."""
        proc = subprocess.Popen(
            self.kubectl_command("port-forward", f"pod/{pod}", f":{remote}", "--address=127.0.0.1"),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.children.append(proc)
        lines = LineReader(cast(IO[str], proc.stdout), "port-forward")
        deadline = time.perf_counter() + timeout
        while True:
            item = lines.next(deadline)
            if item is None:
                err = cast(IO[str], proc.stderr).read()
                proc.wait()
                raise BenchError(f"kubectl port-forward exited {proc.returncode}: {err.strip()}")
            match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+)", item[1])
            if match:
                return proc, int(match.group(1))

    def records(self) -> list[JSON]:
        """The serve runtime's container records (`<root>/containers/*/container.json`)."""
        found = []
        for path in (self.serve_root / "containers").glob("*/container.json"):
            with contextlib.suppress(OSError, ValueError):
                found.append(json.loads(path.read_text()))
        return found

    def pod_records(self, uid: str) -> dict[str, JSON]:
        """{container name: its latest record} of one pod, from the serve runtime."""
        found: dict[str, JSON] = {}
        for record in sorted(self.records(), key=lambda r: r.get("created_at", 0)):
            if record.get("labels", {}).get(labels.POD_UID) == uid:
                found[record["labels"].get(labels.CONTAINER_NAME, record["name"])] = record
        return found

    def gone(self, container_ids: Iterable[str], sandbox_ids: Iterable[str]) -> bool:
        """None of these containers and sandboxes exists any more in the serve runtime (state or run root)."""
        if any((self.serve_root / "containers" / c).exists() for c in container_ids):
            return False
        return not any(
            (self.serve_root / "sandboxes" / s).exists() or (self.serve_run / "sandboxes" / s).exists()
            for s in sandbox_ids
        )

    def force_delete(self, name: str) -> float:
        """Force-delete a serve pod; seconds until the runtime holds none of its containers and no sandbox."""
        pod = self.pod(name)
        if pod is None:
            raise BenchError(f"pod {name} is not in the API")
        records = self.pod_records(pod["metadata"]["uid"]).values()
        container_ids = [r["id"] for r in records]
        sandbox_ids = {r["sandbox_id"] for r in records}
        self.sandbox_ids |= sandbox_ids
        began = time.perf_counter()
        self.kubectl("delete", "pod", name, "--grace-period=0", "--force", "--wait=false")
        gone = wait_until(lambda: self.gone(container_ids, sandbox_ids), 60, what=f"pod {name} removed")
        return gone - began

    def delete_all_pods(self, timeout: float = 120) -> None:
        """Force-delete every pod (the kubelet kills them at once) and wait until the runtime holds nothing."""
        self.kubectl("delete", "pods", "--all", "--grace-period=0", "--force", "--wait=false", timeout=60)
        # A pod's sandbox has its state directory from its start; serve's spare (the next pod's namespaces and
        # address, made between pods) has none.
        wait_until(lambda: not self.records() and not any((self.serve_root / "sandboxes").iterdir()),
                   timeout, interval=0.05, what="podrun serve's pods removed")  # fmt: skip

    def memory(self, pods: int) -> JSON:
        """Memory of serve (and its children) and of the conmons of its containers."""
        assert self.serve is not None
        conmons = processes_mentioning([str(self.serve_root), str(self.serve_run)], comm="conmon")
        doc = memory_of({"podrun serve": descendants(self.serve.pid), "conmon": conmons})
        doc["pods"] = pods
        return doc

    def allocator_stats(self) -> JSON:
        """serve's allocators now: pymalloc's arenas and live and free bytes, glibc's live bytes."""
        assert self.serve is not None
        return allocators.read(self.serve.pid, self.allocator_stats_file)

    # -- cleanup -------------------------------------------------------------------------------------------------

    def stop_children(self) -> None:
        """Stop the `podrun run` and kubectl processes this side started that still run."""
        for child in self.children:
            if child.poll() is None:
                # `podrun run`: Ctrl-C twice kills its pods at once and removes them; kubectl: it just exits.
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGINT)
                    time.sleep(0.5)
                    child.send_signal(signal.SIGINT)
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        self.children = [child for child in self.children if child.poll() is None]

    def cleanup(self) -> None:
        """Stop what is still running (children, then serve's pods, then serve) and remove every container and
        sandbox left on either root through a fresh runtime that adopts them."""
        self.stop_children()
        if self.serve is not None and self.serve.poll() is None:
            with contextlib.suppress(BenchError):
                self.delete_all_pods(60)
            self.serve.terminate()
            try:
                self.serve.wait(30)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                self.serve.wait()
        self._spy_stop.set()
        if self._spy is not None:
            self._spy.join()
        self.sandbox_ids |= self.sandboxes_on_disk()
        for root, run_root in ((self.serve_root, self.serve_run), (self.cli_root, self.cli_run)):
            with contextlib.suppress(Exception):
                asyncio.run(janitor(root, run_root, self.sandbox_ids))


class PodrunRun:
    """One `podrun run -f FILE` in the foreground, its transitions read from stderr as they come."""

    def __init__(self, podrun: Podrun, manifest: Path) -> None:
        self.podrun = podrun
        self.started = time.perf_counter()
        self.proc: subprocess.Popen[str] = subprocess.Popen(
            [*podrun.command, "run", "-f", str(manifest), "--root", str(podrun.cli_root), "--run-root",
             str(podrun.cli_run), "--timeout", SAFETY_TIMEOUT],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=podrun.env,
        )  # fmt: skip
        podrun.children.append(self.proc)
        self.stderr = LineReader(cast(IO[str], self.proc.stderr), "podrun-run")

    def _failed(self) -> BenchError:
        code = self.proc.wait()
        return BenchError(f"podrun run exited {code}: {' | '.join(self.stderr.seen[-5:])}")

    def wait_running(self, pods: set[str], timeout: float = 180) -> float:
        """perf_counter of the line that shows the last of `pods` Running with all its containers ready."""
        deadline = time.perf_counter() + timeout
        pending = set(pods)
        while True:
            item = self.stderr.next(deadline)
            if item is None:
                raise self._failed()
            match = TRANSITION.match(item[1])
            if match and match["status"] == "Running" and match["ready"] == match["total"]:
                pending.discard(match["pod"])
                if not pending:
                    return item[0]

    def interrupt(self, timeout: float = 60) -> float:
        """Ctrl-C, then Ctrl-C again once it says so (kill at once): seconds from the first SIGINT to its exit,
        by which it has removed every container, sandbox and volume of its pods."""
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGINT)
        deadline = started + timeout
        while True:
            item = self.stderr.next(deadline)
            if item is None:
                break
            if STOP_NOTICE in item[1]:
                self.proc.send_signal(signal.SIGINT)
        self.proc.wait(max(deadline - time.perf_counter(), 1))
        return time.perf_counter() - started

    def memory(self, pods: int) -> JSON:
        """Memory of this `podrun run` and of the conmons of its containers."""
        conmons = processes_mentioning([str(self.podrun.cli_root), str(self.podrun.cli_run)], comm="conmon")
        doc = memory_of({"podrun run": descendants(self.proc.pid), "conmon": conmons})
        doc["pods"] = pods
        return doc
