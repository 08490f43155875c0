"""`LocalRuntime`: the `Runtime` protocol on this machine, with overlayfs, conmon and runc/crun.

A container is a directory `<root>/containers/<id>/` holding `container.json` (its record),
the OCI bundle (`config.json`), and the overlay's `upper`, `work` and `rootfs`. conmon runs the
OCI runtime's `create`, then monitors the container: it writes the CRI log and, on exit, the exit
code to `<run-root>/exits/<id>` and exits itself. podrun watches conmon through a pidfd, so an
exit is an event on the asyncio loop within milliseconds, and conmon keeps the container alive
if podrun goes away. On start, `recover()` adopts what is still running and records what exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import time
from collections.abc import Awaitable, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any

from podrun.runtime import cgroups, exec_fifo, linux, oci_exec, ocispec, processes
from podrun.runtime.conmon_create import ConmonPaths, conmon_create
from podrun.runtime.container_record import ContainerRecord
from podrun.runtime.images.store import ImageStore
from podrun.runtime.oci_runtime import OCIRuntime, choose_runtime, find_conmon, runc_error_message
from podrun.runtime.protocol import (
    ContainerConfig,
    ContainerEvent,
    ContainerState,
    ContainerStatus,
    EventKind,
    ExecResult,
    ExecStreams,
    RuntimeError_,
    SandboxConfig,
    SandboxStatus,
)
from podrun.runtime.sandbox import PodNetwork, Sandboxes
from podrun.runtime.users import UserError, resolve_user, verify_run_as_non_root

log = logging.getLogger(__name__)

# Exit code and reason containerd reports for a container whose process could not be started.
START_ERROR_EXIT_CODE = 128
CONMON_EXIT_TIMEOUT_SECONDS = 5.0
# An exited container's bookkeeping (its record on disk, the OCI runtime's `delete`, the rootfs unmount) waits
# while a container of its pod is created and not yet started (the next init container): it would take the CPU,
# the disk and the event loop from that start. At most this long, should that start never come.
EXIT_CLEANUP_HOLD_SECONDS = 2.0
ORPHAN_COMMAND_TIMEOUT_SECONDS = 10.0
CGROUP_RACE_ATTEMPTS = 3
_CGROUP_RACE = re.compile(r"unable to apply cgroup configuration: mkdir .*: no such file or directory")


async def _all(aws: Iterable[Awaitable[None]]) -> None:
    """Await every one of `aws` concurrently, all to their end; then raise the first failure, if any."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def parse_signal(name: str) -> signal.Signals:
    """`SIGQUIT`, `QUIT` or `3` as a signal; unknown names fall back to SIGTERM."""
    name = name.strip().upper()
    if name.isdigit():
        return signal.Signals(int(name))
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return signal.Signals[name]
    except KeyError:
        return signal.SIGTERM


class EventSubscription:
    """An async iterator of container events; subscribed when made, unsubscribed by `close()`."""

    def __init__(self, subscribers: set[asyncio.Queue[ContainerEvent]]) -> None:
        self._subscribers = subscribers
        self._queue: asyncio.Queue[ContainerEvent] = asyncio.Queue()
        subscribers.add(self._queue)

    def __aiter__(self) -> EventSubscription:
        return self

    async def __anext__(self) -> ContainerEvent:
        return await self._queue.get()

    def close(self) -> None:
        """Stop receiving events."""
        self._subscribers.discard(self._queue)


class LocalRuntime:
    """Containers on this machine. Call `await recover()` once before use."""

    def __init__(
        self, root: Path, run_root: Path, oci_runtime: str = "auto", network: PodNetwork | None = None,
        *, spare_sandbox: bool = False,
    ) -> None:  # fmt: skip
        """`network` gives sandboxes created with `network=True` their pod addresses (none: loopback only).

        `spare_sandbox`: keep the next pod's namespaces and address made ahead, between pods (`podrun serve`; a
        `podrun run` starts its pods at once and would only pay for one more).
        """
        self.root, self.run_root = Path(root), Path(run_root)
        for directory in (self.root, self.run_root):
            # Container layers, volumes, tokens and the API's secrets live below: private to root, whatever the
            # umask or an older podrun made (containers never need the host path: their mounts are made as root).
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)
        self.images = ImageStore(self.root)
        self.oci: OCIRuntime = choose_runtime(oci_runtime)
        self.name = self.oci.name
        self.sandboxes = Sandboxes(self.root, self.run_root, network, keep_spare=spare_sandbox)
        self._containers_dir = self.root / "containers"
        self._oci_root = self.run_root / self.oci.name
        self._exits = self.run_root / "exits"
        self._sockets = self.run_root / "sock"
        for d in (self._containers_dir, self._oci_root, self._exits, self._sockets):
            d.mkdir(parents=True, exist_ok=True)
        self._conmon_paths = ConmonPaths(find_conmon(), self.oci.path, self._oci_root, self._exits, self._sockets)
        self._records: dict[str, ContainerRecord] = {}
        self._pidfds: dict[str, int] = {}
        self._exited: dict[str, asyncio.Event] = {}
        self._subscribers: set[asyncio.Queue[ContainerEvent]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._starting: dict[str, asyncio.Event] = {}
        self._cleaned: dict[str, asyncio.Event] = {}
        self._held: dict[str, asyncio.TimerHandle] = {}  # exited containers whose cleanup waits for a start

    # -- records --------------------------------------------------------------------------------

    def _dir(self, container_id: str) -> Path:
        return self._containers_dir / container_id

    def _save(self, rec: ContainerRecord) -> None:
        path = self._dir(rec.id) / "container.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(vars(rec)))  # flat but for two str maps: `asdict`'s deep copy is not needed
        tmp.rename(path)

    def _get(self, container_id: str) -> ContainerRecord:
        try:
            return self._records[container_id]
        except KeyError:
            raise RuntimeError_("NotFound", f"container {container_id} not found") from None

    def _emit(self, kind: EventKind, rec: ContainerRecord) -> None:
        event = ContainerEvent(kind, rec.status())
        for q in self._subscribers:
            q.put_nowait(event)

    # -- recovery -------------------------------------------------------------------------------

    async def recover(self) -> None:
        """Load every container from disk: adopt the running ones, record the ones that exited.

        Nothing is started or restarted here; half-made containers and sandboxes are removed.
        """
        # A killed podrun's last `create`, `start` or `delete` may still be running: its outcome is the truth.
        await processes.wait_for_exit(processes.oci_commands_under(self._oci_root), ORPHAN_COMMAND_TIMEOUT_SECONDS)
        self.sandboxes.remove_half_made()
        for sandbox in self.sandboxes.list():
            if sandbox.ready:
                with contextlib.suppress(OSError):  # taken meanwhile: the pod runs on without it, as after a restart
                    await self._publish_ports(sandbox)
        for d in sorted(self._containers_dir.iterdir()):
            try:
                rec = ContainerRecord(**json.loads((d / "container.json").read_text()))
            except (FileNotFoundError, json.JSONDecodeError, TypeError):
                await asyncio.to_thread(self._destroy_dir, d.name)
                continue
            if rec.state == ContainerState.CREATED and not await self._reconcile_created(rec):
                continue
            self._records[rec.id] = rec
            self._exited[rec.id] = asyncio.Event()
            if rec.state == ContainerState.RUNNING:
                pid = self._live_conmon_pid(rec.id)
                if pid is None:
                    await self._finalize(rec.id)
                else:
                    self._watch(rec.id, pid)
            elif rec.state == ContainerState.EXITED:
                self._exited[rec.id].set()
                await self._clean_up_exited(rec.id)
        self.sandboxes.want_spare()

    async def _reconcile_created(self, rec: ContainerRecord) -> bool:
        """Settle a container recorded `created` by what the OCI runtime says; False when it was removed.

        A killed podrun may have run `start` without recording it: a container the runtime reports as
        running or stopped (or that left an exit file) has run, and is adopted as running, so that its exit
        is recorded and it is never started a second time. One the runtime still holds as `created` (or
        never made) has not run its process: it is removed, with its conmon, and the kubelet starts it anew.
        """
        state = await self._oci_state(rec.id)
        if state in ("running", "stopped", "paused") or (self._exits / rec.id).exists():
            rec.state = ContainerState.RUNNING.value
            rec.started_at = rec.started_at or rec.created_at
            self._save(rec)
            return True
        conmon = self._live_conmon_pid(rec.id)
        if state:
            await self._run_oci("delete", "--force", rec.id)  # conmon follows its container out
        elif conmon is not None:
            with contextlib.suppress(ProcessLookupError):  # killed before its runtime's `create` ran
                os.kill(conmon, signal.SIGKILL)
        if conmon is not None:
            await processes.wait_for_exit([conmon], CONMON_EXIT_TIMEOUT_SECONDS)
        await asyncio.to_thread(self._destroy_dir, rec.id)
        return False

    async def _oci_state(self, container_id: str) -> str:
        """The OCI runtime's `state` of the container (`created`, `running`, `stopped`), "" when it has none."""
        code, out = await self._run_oci("state", container_id)
        if code != 0:
            return ""
        try:
            return str(json.loads(out).get("status", ""))
        except (json.JSONDecodeError, AttributeError):
            return ""

    def _live_conmon_pid(self, container_id: str) -> int | None:
        try:
            pid = int((self._dir(container_id) / "conmon.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        ok = cmdline and cmdline[0].endswith(b"conmon") and container_id.encode() in cmdline
        return pid if ok else None

    # -- images ---------------------------------------------------------------------------------

    async def ensure_image(self, image: str) -> str:
        """The image's ID, if it is in the store."""
        record = self.images.resolve(image)
        if record is None:
            raise RuntimeError_("ImageNotFound", f"image {image!r} not found in the local store")
        return record.id

    def image_in_use(self, image_id: str) -> bool:
        """True when a container (running or not) was made from this image."""
        return any(r.image_id == image_id for r in self._records.values())

    # -- sandboxes ------------------------------------------------------------------------------

    async def create_sandbox(self, config: SandboxConfig) -> SandboxStatus:
        """Make the pod's namespaces and files, and publish its hostPorts (a taken port fails the sandbox)."""
        try:
            sandbox = await self.sandboxes.create(config)
        finally:
            self.sandboxes.want_spare()
        try:
            await self._publish_ports(sandbox)
        except OSError as e:
            await asyncio.to_thread(self.sandboxes.remove, sandbox.id)
            raise RuntimeError_("FailedCreatePodSandBox", f"cannot publish the pod's hostPorts: {e}") from None
        return sandbox

    async def _publish_ports(self, sandbox: SandboxStatus) -> None:
        network = self.sandboxes.network
        config = sandbox.config
        if network is None or not config.port_mappings:
            return
        target = sandbox.ips[0] if sandbox.ips else network.node_address if config.host_network else ""
        if target:
            await network.publish_ports(sandbox.id, target, config.port_mappings)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Kill and remove what is left of the pod's containers, then the sandbox and its cgroups."""
        try:
            ids = [r.id for r in self._records.values() if r.sandbox_id == sandbox_id]
            await _all(self.stop_container(container_id, 0) for container_id in ids)
            if self.sandboxes.network is not None:
                await self.sandboxes.network.unpublish_ports(sandbox_id)
            # Nothing runs in the sandbox any more: its containers' files and the sandbox itself (CNI DEL, the
            # namespaces) go at the same time, all unmounted after one read of the node's mount table.
            table = await asyncio.to_thread(linux.read_mount_table)
            await _all([
                *(self._remove_container(container_id, table) for container_id in ids),
                asyncio.to_thread(self.sandboxes.remove, sandbox_id, table),
            ])  # fmt: skip
        finally:
            # Also when cancelled half-way: the cgroup directories are never listed again otherwise (a thread goes on
            # even if this await is cancelled too). Off the loop: ~20 rmdirs, ~2.6 ms per pod in a teardown of 100.
            await asyncio.to_thread(cgroups.remove_sandbox_cgroups, sandbox_id)

    async def list_sandboxes(self, pod_uid: str | None = None) -> list[SandboxStatus]:
        """Every sandbox on disk, or only those of the pod `pod_uid`."""
        return self.sandboxes.list(pod_uid)

    # -- containers -----------------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        """Mount the rootfs and write the OCI bundle. The OCI runtime is first called at start."""
        image = self.images.resolve(config.image)
        if image is None:
            raise RuntimeError_(
                "CreateContainerError", f"image {config.image!r} not found in the local store"
            )
        paths = self.sandboxes.paths(sandbox_id)
        pid_namespace = self._pid_namespace_of(config.target_container_id) if config.target_container_id else ""
        container_id = os.urandom(32).hex()  # secrets.token_hex, without importing secrets (and hmac)
        d = self._dir(container_id)
        try:
            rootfs = await asyncio.to_thread(self._mount_rootfs, d, self.images.layer_dirs(image))
            image_config = self.images.config(image)
            security = config.security
            pod = "{}_{}({})".format(
                config.labels.get("io.kubernetes.pod.name", ""),
                config.labels.get("io.kubernetes.pod.namespace", ""),
                config.labels.get("io.kubernetes.pod.uid", ""),
            )
            verify_run_as_non_root(security, security.run_as_non_root, image_config.user, pod, config.name)
            user = resolve_user(image_config.user, security, rootfs)
            cgroups_path = cgroups.container_path(sandbox_id, container_id)
            spec = ocispec.generate(
                config, image_config, rootfs=str(rootfs), user=user, sandbox=paths, cgroups_path=cgroups_path,
                cgroup_mode=self.oci.cgroup_mode, pid_namespace=pid_namespace,
            )
            (d / "config.json").write_text(json.dumps(spec))
            log_path = config.log_path or str(d / "container.log")
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        except (UserError, ocispec.ConfigError) as e:
            await asyncio.to_thread(self._destroy_dir, container_id)
            raise RuntimeError_("CreateContainerConfigError", str(e)) from None
        except BaseException:
            await asyncio.to_thread(self._destroy_dir, container_id)
            raise
        rec = ContainerRecord(
            id=container_id, sandbox_id=sandbox_id, name=config.name, image=config.image, image_id=image.id,
            created_at=time.time(), log_path=log_path, cgroups_path=cgroups_path,
            stop_signal=image_config.stop_signal or "SIGTERM", stdin=config.stdin, stdin_once=config.stdin_once,
            tty=config.tty, labels=dict(config.labels), annotations=dict(config.annotations),
        )  # fmt: skip
        self._records[container_id] = rec
        self._exited[container_id] = asyncio.Event()
        self._save(rec)
        return container_id

    def _pid_namespace_of(self, container_id: str) -> str:
        """The PID namespace of a running container, as a path the OCI runtime can join (containerd's
        `/proc/<pid>/ns/pid` of the target's task)."""
        rec = self._records.get(container_id)
        try:
            if rec is None or rec.state != ContainerState.RUNNING.value:
                raise FileNotFoundError
            pid = int((self._dir(container_id) / "container.pid").read_text())
            path = Path(f"/proc/{pid}/ns/pid")
            path.stat()
        except (OSError, ValueError):
            raise RuntimeError_(
                "CreateContainerError", f"target container {container_id} is not running: no PID namespace to share"
            ) from None
        return str(path)

    def _mount_rootfs(self, d: Path, layers: list[Path]) -> Path:
        for sub in ("upper", "work", "rootfs"):
            (d / sub).mkdir(parents=True)
        # overlayfs lists the lower layers top first.
        lower = ":".join(str(p) for p in reversed(layers))
        linux.mount(
            "overlay",
            d / "rootfs",
            "overlay",
            0,
            f"lowerdir={lower},upperdir={d / 'upper'},workdir={d / 'work'}",
        )
        return d / "rootfs"

    def _destroy_dir(self, container_id: str, mount_table: bytes | None = None) -> None:
        d = self._dir(container_id)
        if d.exists():
            linux.unmount_all_under(d, mount_table)
            shutil.rmtree(d, ignore_errors=True)
        (self._exits / container_id).unlink(missing_ok=True)
        (self._sockets / container_id[:32]).unlink(missing_ok=True)  # conmon's link to the bundle

    async def prepare_container(self, container_id: str) -> None:
        """Do the slow half of a start ahead of time: conmon runs the OCI runtime's `create`.

        The container stays `created` until `start_container`, which then only has to run the
        runtime's `start`. A process that cannot be started fails here, as it would at start.
        """
        rec = self._get(container_id)
        if rec.state != ContainerState.CREATED:
            raise RuntimeError_("RunContainerError", f"container {container_id} is {rec.state}, not created")
        if container_id not in self._pidfds:
            await self._oci_create(rec)

    async def start_container(self, container_id: str, *, hand_off: bool = False) -> None:
        """conmon runs the OCI runtime's `create` (unless prepared); then `start` runs the process.

        Only a `hand_off` (a regular init container after the one before it exited) is started through runc's
        exec fifo: app containers and sidecars come up beside others, and a cluster's kubelet gives each of those
        tens of ms before the next starts (it creates the next only then); manifests rely on it (the seed's
        log-tailer tails a file nginx makes as it starts: started ~1 ms after nginx's exec it found none and
        restarted). The OCI runtime's own `start` keeps their gaps at what they were.

        A process that cannot be started leaves the container exited with code 128 and reason
        `StartError`, as containerd reports it, and raises `RunContainerError`.
        """
        rec = self._get(container_id)
        try:
            await self.prepare_container(container_id)
        except BaseException:
            self._release_held(rec.sandbox_id)  # no start is coming: the exits it held need not wait 2 s
            raise
        self._starting[container_id] = asyncio.Event()
        try:
            rec.started_at = time.time()
            error = await self._oci_start(rec, through_fifo=hand_off)
            if error is not None:
                await self._run_oci("kill", container_id, "KILL")
                await self._fail_start(rec, runc_error_message(error))
            rec.state = ContainerState.RUNNING.value
            self._save(rec)
            self._emit(EventKind.STARTED, rec)
        finally:
            # An exit noticed while `start` ran is recorded only after the start is.
            self._starting.pop(container_id).set()
            self._release_held(rec.sandbox_id)
            self.sandboxes.want_spare()  # the spare waits until this pod has come up

    async def _oci_start(self, rec: ContainerRecord, *, through_fifo: bool) -> str | None:
        """The OCI runtime's `start`: None once the process runs, else the runtime's error output.

        runc's is done in-process through the exec fifo when it can be (`exec_fifo`); otherwise, and whenever
        that does not release the container, the runtime's own `start` runs and says why.
        """
        conmon = self._pidfds.get(rec.id)
        # With NOTIFY_SOCKET set, `runc start` also waits for the container's READY=1: runc's own job.
        if through_fifo and self.oci.name == "runc" and conmon is not None and "NOTIFY_SOCKET" not in os.environ:
            try:
                if await exec_fifo.start(self._oci_root / rec.id, conmon):
                    return None
            except OSError as e:  # as `runc start` fails when it cannot remove the fifo
                return f"exec fifo: {e}"
        started = await asyncio.create_subprocess_exec(
            self.oci.path, f"--root={self._oci_root}", "start", rec.id,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        # Saved while `start` runs, not before it: a podrun killed in between recovers the container as
        # running with its creation time as its start.
        self._save(rec)
        _, err = await started.communicate()
        return None if started.returncode == 0 else err.decode(errors="replace")

    async def _oci_create(self, rec: ContainerRecord) -> None:
        for attempt in range(CGROUP_RACE_ATTEMPTS):
            message = await conmon_create(self._conmon_paths, rec, self._dir(rec.id))
            if message is None:
                self._watch(rec.id, int((self._dir(rec.id) / "conmon.pid").read_text()))
                return
            # Another podrun may have removed the shared, empty `/podrun` cgroup parent while the OCI
            # runtime was making a path below it: that create is simply tried again.
            if not _CGROUP_RACE.search(message) or attempt == CGROUP_RACE_ATTEMPTS - 1:
                await self._fail_start(rec, runc_error_message(message))
            await self._run_oci("delete", "--force", rec.id)

    async def _fail_start(self, rec: ContainerRecord, message: str) -> None:
        await self._run_oci("delete", "--force", rec.id)
        await asyncio.to_thread(linux.unmount_all_under, self._dir(rec.id) / "rootfs")
        rec.state = ContainerState.EXITED.value
        rec.exit_code, rec.reason, rec.message = START_ERROR_EXIT_CODE, "StartError", message
        rec.finished_at = time.time()
        self._save(rec)
        self._exited[rec.id].set()
        self._emit(EventKind.EXITED, rec)
        raise RuntimeError_("RunContainerError", message)

    async def _run_oci(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            self.oci.path, f"--root={self._oci_root}", *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace")

    def _watch(self, container_id: str, conmon_pid: int) -> None:
        try:
            fd = os.pidfd_open(conmon_pid)
        except ProcessLookupError:
            self._spawn(self._finalize(container_id))
            return
        self._pidfds[container_id] = fd
        asyncio.get_running_loop().add_reader(fd, self._conmon_exited, container_id)

    def _conmon_exited(self, container_id: str) -> None:
        fd = self._pidfds.pop(container_id, None)
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
        self._spawn(self._finalize(container_id))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finalize(self, container_id: str) -> None:
        """Record an exit: code from conmon's exit file, OOM from the cgroup, then delete."""
        starting = self._starting.get(container_id)
        if starting is not None:
            await starting.wait()
        rec = self._records.get(container_id)
        if rec is None or rec.state == ContainerState.EXITED:
            return
        exit_file = self._exits / container_id
        try:
            code = int(exit_file.read_text().strip() or "137")
            # The file's mtime comes from the kernel's coarse clock: never before the start we recorded.
            finished = max(exit_file.stat().st_mtime, rec.started_at)
            message = ""
        except (FileNotFoundError, ValueError):
            await self._run_oci("kill", container_id, "KILL")
            code, finished, message = 137, time.time(), "conmon exited without recording the exit code"
        oom = cgroups.oom_killed(rec.cgroups_path)
        rec.state = ContainerState.EXITED.value
        rec.exit_code, rec.finished_at, rec.message = code, finished, message
        rec.reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        self._exited[container_id].set()
        # The exit is news at once (the next init container waits on it); the record on disk (until then a
        # restarted podrun finds the exit in conmon's exit file), deleting the OCI runtime's state and
        # unmounting the rootfs follow, once the pod's next start is done.
        self._emit(EventKind.EXITED, rec)
        self._cleaned[container_id] = asyncio.Event()
        if self._start_pending(rec.sandbox_id):
            loop = asyncio.get_running_loop()
            self._held[container_id] = loop.call_later(EXIT_CLEANUP_HOLD_SECONDS, self._release, container_id)
        else:
            await self._save_and_clean_up(container_id)

    def _start_pending(self, sandbox_id: str) -> bool:
        """A container of the sandbox is created (prepared) and not yet started."""
        return any(r.sandbox_id == sandbox_id and r.state == ContainerState.CREATED for r in self._records.values())

    def _release(self, container_id: str) -> None:
        """Run a held exit cleanup now."""
        timer = self._held.pop(container_id, None)
        if timer is not None:
            timer.cancel()
            self._spawn(self._save_and_clean_up(container_id))

    def _release_held(self, sandbox_id: str) -> None:
        """Run the sandbox's held exit cleanups once no start is pending in it."""
        if self._held and not self._start_pending(sandbox_id):
            for container_id in [c for c in self._held if self._records[c].sandbox_id == sandbox_id]:
                self._release(container_id)

    async def _save_and_clean_up(self, container_id: str) -> None:
        try:
            self._save(self._records[container_id])
        except OSError as e:
            # A full disk must not also leave the runc state and the rootfs behind, nor a removal waiting forever;
            # a restarted podrun still finds the exit in conmon's exit file.
            log.warning("saving the exit of container %s failed: %s", container_id, e)
        finally:
            await self._clean_up_exited(container_id)

    async def _clean_up_exited(self, container_id: str) -> None:
        """Delete an exited container's OCI state and cgroup and unmount its rootfs (idempotent)."""
        done = self._cleaned.setdefault(container_id, asyncio.Event())

        async def delete_oci_state() -> None:
            if (self._oci_root / container_id).exists():
                await self._run_oci("delete", "--force", container_id)

        try:
            # Both at once: the OCI runtime's delete of an exited container removes its state and cgroup, never
            # touching the rootfs, which is podrun's own mount (and the container's mount namespace is gone).
            await _all([
                delete_oci_state(),
                asyncio.to_thread(linux.unmount_mount_point, self._dir(container_id) / "rootfs"),
            ])  # fmt: skip
        finally:
            done.set()

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        """Send the image's STOPSIGNAL (default SIGTERM); SIGKILL once the grace period is over."""
        rec = self._get(container_id)
        if rec.state != ContainerState.RUNNING:
            return
        exited = self._exited[container_id]
        if grace_seconds > 0:
            stop_signal = parse_signal(rec.stop_signal)
            init = self._container_init(container_id)
            if init is None or not processes.signal_child(*init, stop_signal):
                await self._run_oci("kill", container_id, stop_signal.name.removeprefix("SIG"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(exited.wait(), grace_seconds)
        if not exited.is_set():
            if not self._kill_pid_namespace(container_id):
                await self._run_oci("kill", "--all", container_id, "KILL")
            await exited.wait()

    def _kill_pid_namespace(self, container_id: str) -> bool:
        """SIGKILL the container's init through a pidfd when its PID namespace is its own (killing the init kills
        the namespace); False when it shares another's, where `runc kill --all` must reach every process."""
        init = self._container_init(container_id)
        return init is not None and processes.kill_pid_namespace(*init)

    def _container_init(self, container_id: str) -> tuple[int, int] | None:
        """(the container's init, its conmon) while conmon lives; None when that cannot be known."""
        conmon_fd = self._pidfds.get(container_id)
        # A live conmon's PID cannot have been reused: a child of it named in container.pid is the container's init.
        if conmon_fd is None or processes.has_exited(conmon_fd):
            return None
        d = self._dir(container_id)
        try:
            return int((d / "container.pid").read_text()), int((d / "conmon.pid").read_text())
        except (OSError, ValueError):
            return None

    async def remove_container(self, container_id: str) -> None:
        """Delete an exited (or never started) container and its files."""
        await self._remove_container(container_id)

    async def _remove_container(self, container_id: str, mount_table: bytes | None = None) -> None:
        rec = self._get(container_id)
        if rec.state == ContainerState.RUNNING:
            raise RuntimeError_("ContainerRunning", f"container {container_id} is running; stop it first")
        self._release(container_id)
        cleaned = self._cleaned.get(container_id)
        if cleaned is not None:
            await cleaned.wait()
        if rec.state == ContainerState.CREATED:
            fd = self._pidfds.pop(container_id, None)
            if fd is not None:
                # A prepared container is discarded, not exited: no exit is recorded or announced.
                asyncio.get_running_loop().remove_reader(fd)
            await self._run_oci("delete", "--force", container_id)
            if fd is not None:
                await processes.wait_readable(fd, CONMON_EXIT_TIMEOUT_SECONDS)
                os.close(fd)
        await asyncio.to_thread(self._destroy_dir, container_id, mount_table)
        self._records.pop(container_id, None)
        self._exited.pop(container_id, None)
        self._cleaned.pop(container_id, None)
        self._release_held(rec.sandbox_id)

    async def container_status(self, container_id: str) -> ContainerStatus:
        """The container's current status."""
        return self._get(container_id).status()

    async def list_containers(self, labels: Mapping[str, str] | None = None) -> list[ContainerStatus]:
        """Every container podrun knows, or those carrying every one of `labels`, in creation order.

        The records are picked before any status is made: a status copies the record's labels and annotations,
        and every pod worker's sync lists its pod's containers (with 100 pods, 200 statuses made for 2).
        """
        records: Iterable[ContainerRecord] = self._records.values()
        if labels:
            records = [r for r in records if all(r.labels.get(k) == v for k, v in labels.items())]
        return [r.status() for r in sorted(records, key=lambda r: r.created_at)]

    def events(self) -> EventSubscription:
        """Started and exited events from this call on (the subscription starts at once)."""
        return EventSubscription(self._subscribers)

    # -- exec and networking --------------------------------------------------------------------

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: float | None) -> ExecResult:
        """Run `cmd` in the container and collect its output; kill it when `timeout` passes."""
        rec = self._get(container_id)
        if rec.state != ContainerState.RUNNING:
            raise RuntimeError_("NotRunning", f"container {container_id} is not running")
        pid_file = self._dir(container_id) / f"exec-{os.urandom(4).hex()}.pid"
        return await oci_exec.run_collected(
            [self.oci.path, f"--root={self._oci_root}", "exec"], container_id, cmd, pid_file, timeout
        )

    async def exec_stream(self, container_id: str, cmd: list[str], tty: bool, stdin: bool) -> ExecStreams:
        """Run `cmd` interactively, with a pseudo-terminal when `tty` is set."""
        rec = self._get(container_id)
        if rec.state != ContainerState.RUNNING:
            raise RuntimeError_("NotRunning", f"container {container_id} is not running")
        from podrun.runtime.ttyexec import start_exec  # only `kubectl exec` streams

        return await start_exec(
            [self.oci.path, f"--root={self._oci_root}", "exec"], container_id, cmd,
            tty=tty, stdin=stdin,
        )  # fmt: skip

    async def attach(self, container_id: str) -> ExecStreams:
        """Attach to the running container's own stdio through conmon; `kill()` detaches.

        Output from now on is streamed until the container exits; stdin reaches it if it was created with
        stdin, and a terminal's size follows `resize`. `wait()` returns the exit code (0 if detached first).
        """
        rec = self._get(container_id)
        if rec.state != ContainerState.RUNNING:
            raise RuntimeError_("NotRunning", f"container {container_id} is not running")
        exited = self._exited[container_id]

        async def exit_code() -> int:
            # conmon closes the socket as it exits; the exit is recorded moments later.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(exited.wait(), CONMON_EXIT_TIMEOUT_SECONDS)
            return rec.exit_code if exited.is_set() else 0

        from podrun.runtime.conmon_attach import attach_conmon  # only the API attaches (`kubectl attach`, `run -it`)

        try:
            return await attach_conmon(
                self._dir(container_id), stdin=rec.stdin, leave_stdin_open=not rec.stdin_once, tty=rec.tty,
                exit_code=exit_code,
            )  # fmt: skip
        except OSError as e:
            raise RuntimeError_("NotRunning", f"cannot attach to container {container_id}: {e}") from None

    async def dial(
        self, sandbox_id: str, port: int, host: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to `host:port` made inside the pod's network namespace."""
        netns = self.sandboxes.netns_path(sandbox_id)

        def connect() -> socket.socket:
            with linux.in_netns(netns):
                sock = socket.create_connection((host, port), timeout=5)
            sock.setblocking(False)
            return sock

        sock = await asyncio.to_thread(connect)
        return await asyncio.open_connection(sock=sock)

    async def close(self) -> None:
        """Stop watching conmons (their containers keep running), finish pending bookkeeping, remove the spare
        sandbox."""
        loop = asyncio.get_running_loop()
        for fd in self._pidfds.values():
            loop.remove_reader(fd)
            os.close(fd)
        self._pidfds.clear()
        for container_id in list(self._held):
            self._release(container_id)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.sandboxes.stop_keeping_spare()
