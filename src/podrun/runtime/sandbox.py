"""Pod sandboxes: network, IPC and UTS namespaces pinned by bind mounts, plus the pod's shared files.

There is no pause process: the namespaces are created by util-linux `unshare` and pinned to files
under the run root, so they outlive every container of the pod. Per pod:

    <root>/sandboxes/<id>/sandbox.json          what the sandbox is (recovered after a restart)
    <root>/sandboxes/<id>/{hosts,resolv.conf,hostname}
    <run-root>/sandboxes/<id>/ns/{net,ipc,uts}  namespace pins
    <run-root>/sandboxes/<id>/shm               the pod's /dev/shm (tmpfs)

`podrun serve` keeps one spare: the namespaces and pod address of the next pod's sandbox, made between pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from podrun.runtime import linux
from podrun.runtime.ocispec import SandboxPaths
from podrun.runtime.protocol import PortMapping, RuntimeError_, SandboxConfig, SandboxStatus

log = logging.getLogger(__name__)

NAMESPACES = ("net", "ipc", "uts")
SPARE_HOSTNAME = "podrun-spare"  # until the pod that takes the spare names it
SPARE_WAIT_SECONDS = 0.1  # a pod arriving while the spare is being made waits this long for it at most
# The spare is made once no sandbox was made and no container started for this long (`want_spare`): not beside a
# pod's or a burst's own start (2 cores), yet before a next pod applied a few hundred ms later.
SPARE_DELAY_SECONDS = 0.2


@dataclass(frozen=True)
class _Spare:
    """A sandbox's namespaces and pod addresses, made before its pod (`Sandboxes.make_spare`)."""

    id: str
    ips: list[str]


class PodNetwork(Protocol):
    """Attaches sandboxes' network namespaces to the pod network (podrun.network.node.NodeNetwork)."""

    @property
    def netns_path(self) -> Path:
        """The node network namespace, which host-network sandboxes share."""
        ...

    @property
    def node_address(self) -> str:
        """The node's own address in that namespace (a host-network pod's address)."""
        ...

    def attach(self, sandbox_id: str, netns: Path) -> list[str]:
        """Give the namespace its pod addresses (CNI ADD) and return them."""
        ...

    def detach(self, sandbox_id: str) -> None:
        """Release the sandbox's addresses (CNI DEL from the cache); fine when its namespace is gone."""
        ...

    def reclaim(self, live_sandbox_ids: set[str]) -> None:
        """Release the addresses of every sandbox not in the set."""
        ...

    async def publish_ports(self, sandbox_id: str, target_ip: str, mappings: tuple[PortMapping, ...]) -> None:
        """Publish the sandbox's hostPorts on the host, leading to `target_ip` (all or none: raises OSError)."""
        ...

    async def unpublish_ports(self, sandbox_id: str) -> None:
        """Close the sandbox's published hostPorts (nothing when there are none)."""
        ...


class Sandboxes:
    """Creates, finds and removes sandboxes under a state root and a run root."""

    def __init__(
        self, root: Path, run_root: Path, network: PodNetwork | None = None, *, keep_spare: bool = False
    ) -> None:
        """`keep_spare`: keep the next networked sandbox's namespaces and address made ahead (`want_spare`)."""
        self.network = network
        self.state = root / "sandboxes"
        self.run = run_root / "sandboxes"
        self.state.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        # sandbox.json never changes once written; every pod sync lists sandboxes, so keep them parsed.
        self._docs: dict[str, dict[str, Any]] = {}
        # The IDs of the complete sandboxes, read from disk at the first listing and kept up to date by `create` and
        # `remove` (one podrun owns a root): a listing then costs no look at every sandbox directory, which made
        # each pod's sync slower with every pod on the node.
        self._complete: set[str] | None = None
        self._keep_spare = keep_spare and network is not None
        self._spare_timer: asyncio.TimerHandle | None = None
        self._spare_task: asyncio.Task[None] | None = None
        self._spare: _Spare | None = None
        self._spare_being_made: asyncio.Event | None = None  # set once the spare being made is ready or failed
        self._spare_failure: str | None = None  # the last spare's failure, logged once while it repeats

    def paths(self, sandbox_id: str) -> SandboxPaths:
        """Host paths a container of this sandbox mounts or joins."""
        state, run = self.state / sandbox_id, self.run / sandbox_id
        config = self._config(sandbox_id)
        return SandboxPaths(
            netns=str(run / "ns" / "net"),
            ipcns=str(run / "ns" / "ipc"),
            utsns=str(run / "ns" / "uts"),
            hostname=config.hostname,
            hosts_file=str(state / "hosts"),
            resolv_conf=str(state / "resolv.conf"),
            hostname_file=str(state / "hostname"),
            shm=str(run / "shm"),
        )

    def _doc(self, sandbox_id: str) -> dict[str, Any]:
        doc = self._docs.get(sandbox_id)
        if doc is None:
            try:
                doc = json.loads((self.state / sandbox_id / "sandbox.json").read_text())
            except FileNotFoundError:
                raise RuntimeError_("NotFound", f"sandbox {sandbox_id} not found") from None
            self._docs[sandbox_id] = doc
        return doc

    def _config(self, sandbox_id: str) -> SandboxConfig:
        return _config_from(self._doc(sandbox_id)["config"])

    async def create(self, config: SandboxConfig) -> SandboxStatus:
        """Make the namespaces, mount /dev/shm and write /etc/hosts, resolv.conf and hostname.

        A sandbox on the pod network takes the spare (`make_spare`) when there is one: its namespaces and address
        are made already. On any failure everything made so far is removed before the error is raised.
        """
        spare = await self._take_spare() if config.network and not config.host_network else None
        sandbox_id = spare.id if spare else os.urandom(32).hex()  # secrets.token_hex, without importing secrets
        state, run = self.state / sandbox_id, self.run / sandbox_id
        try:
            state.mkdir(mode=0o750)
            (run / "ns").mkdir(parents=True, exist_ok=spare is not None)
            (state / "hosts").write_text(config.hosts_file)
            (state / "resolv.conf").write_text(config.resolv_conf)
            (state / "hostname").write_text(config.hostname + "\n")
            for name in ("hosts", "resolv.conf", "hostname"):
                os.chmod(state / name, 0o644)
            (run / "shm").mkdir()
            linux.mount(
                "shm", run / "shm", "tmpfs",
                linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
                f"mode=1777,size={config.shm_size_bytes}",
            )  # fmt: skip
            ips: list[str] = []
            if spare is not None:
                ips = spare.ips
                try:
                    await asyncio.to_thread(linux.set_hostname, run / "ns" / "uts", config.hostname)
                except OSError as e:
                    raise RuntimeError_("FailedCreatePodSandBox", f"naming the pod's host failed: {e}") from None
            elif config.host_network and self.network is not None:
                # The node's namespace, as a host-network pod on a kind node shares the node container's.
                await self._make_namespaces(run / "ns", config.hostname, share_net=self.network.netns_path)
            else:
                await self._make_namespaces(run / "ns", config.hostname)
            if config.network and spare is None:
                if self.network is None:
                    raise RuntimeError_("FailedCreatePodSandBox", "the pod network is not configured")
                network = self.network
                ips = await asyncio.to_thread(network.attach, sandbox_id, run / "ns" / "net")
            created = time.time()
            doc = {"id": sandbox_id, "config": asdict(config), "created_at": created, "ips": ips}
            tmp = state / ".sandbox.json"
            tmp.write_text(json.dumps(doc))
            tmp.rename(state / "sandbox.json")
            self._complete_ids().add(sandbox_id)
        except BaseException:
            self._destroy(sandbox_id)
            raise
        return _status(sandbox_id, config, True, created, ips)

    async def make_spare(self) -> None:
        """Make the namespaces and pod address of the next sandbox on the pod network ahead of its pod.

        `create` then only writes the pod's files and names its host: the namespaces (an `unshare` process) and CNI
        ADD (the plugins' processes), 10-15 ms of every pod's start, are out of its way. Nothing is done when a
        spare is ready or being made (a `create` meanwhile waits for it), or without a pod network. A spare is a
        sandbox without `sandbox.json`: one that a crash leaves is removed as half-made by the next start. One that
        fails leaves nothing and a warning in the log; the next `create` then makes its own and reports what fails.
        """
        if self.network is None or self._spare is not None or self._spare_being_made is not None:
            return
        spare_id = os.urandom(32).hex()
        ns_dir = self.run / spare_id / "ns"
        self._spare_being_made = made = asyncio.Event()
        try:
            ns_dir.mkdir(parents=True)
            await self._make_namespaces(ns_dir, SPARE_HOSTNAME)
            self._spare = _Spare(spare_id, await asyncio.to_thread(self.network.attach, spare_id, ns_dir / "net"))
            self._spare_failure = None
        except BaseException as e:
            self._destroy(spare_id)
            if not isinstance(e, Exception):
                raise
            # Not the pod's failure (no pod yet), but the one place the operator learns why pods start slower; a
            # spare is tried after every pod's start, so a lasting cause (no address left) is said once.
            if str(e) != self._spare_failure:
                log.warning("making the spare sandbox failed: %s", e)
            self._spare_failure = str(e)
            return
        finally:
            self._spare_being_made = None
            made.set()

    def want_spare(self) -> None:
        """(Re)schedule making the spare, `SPARE_DELAY_SECONDS` from now: call it at each sandbox made and container
        started. Nothing unless keeping one."""
        if not self._keep_spare:
            return
        if self._spare_timer is not None:
            self._spare_timer.cancel()
        self._spare_timer = asyncio.get_running_loop().call_later(SPARE_DELAY_SECONDS, self._start_making_spare)

    def _start_making_spare(self) -> None:
        # While one is being made a second would do nothing, and replacing its task would leave the one making it
        # unwaited by `stop_keeping_spare` (and held by nothing).
        if self._spare_task is None or self._spare_task.done():
            self._spare_task = asyncio.ensure_future(self.make_spare())

    async def stop_keeping_spare(self) -> None:
        """Make no more spares, wait for one being made, and remove the spare."""
        self._keep_spare = False
        if self._spare_timer is not None:
            self._spare_timer.cancel()
        if self._spare_task is not None:
            await asyncio.gather(self._spare_task, return_exceptions=True)
        await asyncio.to_thread(self.discard_spare)

    @property
    def spare_id(self) -> str | None:
        """The ID of the spare sandbox once it is ready, else None."""
        return self._spare.id if self._spare else None

    def discard_spare(self) -> None:
        """Remove the spare sandbox, if there is one (blocking)."""
        spare, self._spare = self._spare, None
        if spare is not None:
            self._destroy(spare.id)

    async def _take_spare(self) -> _Spare | None:
        if self._spare_being_made is not None:
            # Its last few ms are less than a sandbox of its own would take beside it; one that hangs (a CNI
            # plugin) holds up this pod only briefly.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._spare_being_made.wait(), SPARE_WAIT_SECONDS)
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        # A safeguard: nothing else removes the spare while its serve holds the root (the root lock keeps `podrun
        # run` and `prune` out), but a sandbox whose pins are gone must not be given to a pod.
        if all(_bind_mounted(self.run / spare.id / "ns", name) for name in NAMESPACES):
            return spare
        self._destroy(spare.id)
        return None

    async def _make_namespaces(self, ns_dir: Path, hostname: str, share_net: Path | None = None) -> None:
        for name in NAMESPACES:
            (ns_dir / name).touch()
        if share_net is not None:
            # The pin of a shared namespace is a bind mount of the node's pin: the sandbox looks the same to
            # every reader (ready check, containers joining by path), and unmounting it leaves the node's.
            linux.mount(str(share_net), ns_dir / "net", "", linux.MS_BIND, "")
            unshare = ["unshare", f"--ipc={ns_dir / 'ipc'}", f"--uts={ns_dir / 'uts'}"]
        else:
            # One short-lived process makes all three namespaces and names the host; unshare(1) bind-mounts each
            # namespace onto its file so it outlives that process. Loopback is raised from here, by an ioctl.
            unshare = ["unshare", f"--net={ns_dir / 'net'}", f"--ipc={ns_dir / 'ipc'}", f"--uts={ns_dir / 'uts'}"]
        proc = await asyncio.create_subprocess_exec(
            *unshare, "hostname", hostname,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError_(
                "FailedCreatePodSandBox",
                f"creating namespaces failed: {out.decode(errors='replace').strip()}",
            )
        if share_net is None:
            try:
                await asyncio.to_thread(linux.loopback_up, ns_dir / "net")
            except OSError as e:
                raise RuntimeError_("FailedCreatePodSandBox", f"raising the pod's loopback failed: {e}") from None

    def status(self, sandbox_id: str, mounts: set[str] | None = None) -> SandboxStatus:
        """The sandbox as it is now: ready while its namespaces are still pinned (bind-mounted).

        `mounts` (the mount points under the run root) lets a caller listing many sandboxes read
        /proc/self/mountinfo once instead of once per sandbox. Without it, each namespace file is asked whether it
        is a mount point (its device differs from its directory's): /proc/self/mountinfo holds every pod's mounts,
        so reading it for one sandbox would cost more with each pod on the node.
        """
        doc = self._doc(sandbox_id)
        ns_dir = self.run / sandbox_id / "ns"
        if mounts is None:
            ready = all(_bind_mounted(ns_dir, name) for name in NAMESPACES)
        else:
            # mountinfo's paths are resolved; resolving costs an lstat per component, so only when compared to them.
            ns_dir = ns_dir.resolve()
            ready = all(str(ns_dir / name) in mounts for name in NAMESPACES)
        return _status(sandbox_id, _config_from(doc["config"]), ready, doc["created_at"], doc.get("ips") or [])

    def list(self, pod_uid: str | None = None) -> list[SandboxStatus]:
        """Every complete sandbox on disk (one being created is not listed until it is complete), or only those of
        the pod `pod_uid` (without reading every pod's mounts)."""
        complete = sorted(self._complete_ids())
        if pod_uid is not None:
            return [
                status for i in complete if self._uid_of(i) == pod_uid and (status := self._status_if_there(i))
            ]  # fmt: skip
        mounts = set(linux.mounts_under(self.run))
        return [status for i in complete if (status := self._status_if_there(i, mounts))]

    def _uid_of(self, sandbox_id: str) -> str | None:
        try:
            return str(self._doc(sandbox_id)["config"].get("uid"))
        except RuntimeError_:
            return None  # removed since it was listed

    def _status_if_there(self, sandbox_id: str, mounts: set[str] | None = None) -> SandboxStatus | None:
        try:
            return self.status(sandbox_id, mounts)
        except RuntimeError_:
            return None  # removed since it was listed

    def remove_half_made(self) -> None:
        """Remove sandboxes a crash left half-made, and their pod addresses, and the addresses of sandboxes gone.

        Only at start-up: a sandbox being created looks the same.
        """
        for d in self.state.iterdir():
            if not (d / "sandbox.json").exists():
                self._destroy(d.name)
        for d in self.run.iterdir():
            if not (self.state / d.name / "sandbox.json").exists():
                self._destroy(d.name)
        if self.network is not None:
            self.network.reclaim({d.name for d in self.state.iterdir() if (d / "sandbox.json").exists()})

    def remove(self, sandbox_id: str, mount_table: bytes | None = None) -> None:
        """Unmount the namespaces and /dev/shm and delete every file of the sandbox (`mount_table`: see
        `linux.unmount_all_under`)."""
        self._destroy(sandbox_id, mount_table)

    def _complete_ids(self) -> set[str]:
        if self._complete is None:
            self._complete = {d.name for d in self.state.iterdir() if (d / "sandbox.json").exists()}
        return self._complete

    def _destroy(self, sandbox_id: str, mount_table: bytes | None = None) -> None:
        if self.network is not None:
            # DEL while the namespace still exists, so the plugin can remove the pod side too.
            self.network.detach(sandbox_id)
        run = self.run / sandbox_id
        if run.exists():
            linux.unmount_all_under(run, mount_table)
            shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(self.state / sandbox_id, ignore_errors=True)
        # Forgotten only now: a teardown that failed half-way is listed, and so retried, as before.
        if self._complete is not None:
            self._complete.discard(sandbox_id)
        self._docs.pop(sandbox_id, None)

    def netns_path(self, sandbox_id: str) -> Path:
        """The pinned network namespace file of a sandbox."""
        path = self.run / sandbox_id / "ns" / "net"
        if not path.exists():
            raise RuntimeError_("NotFound", f"sandbox {sandbox_id} not found")
        return path


def _bind_mounted(directory: Path, name: str) -> bool:
    """A namespace file is pinned when a namespace (nsfs, its own device) is mounted over it."""
    try:
        return os.lstat(directory / name).st_dev != os.lstat(directory).st_dev
    except OSError:
        return False


def _config_from(doc: dict[str, Any]) -> SandboxConfig:
    mappings = tuple(PortMapping(**mapping) for mapping in doc.get("port_mappings") or ())
    return SandboxConfig(**{**doc, "port_mappings": mappings})


def _status(sandbox_id: str, config: SandboxConfig, ready: bool, created: float, ips: list[str]) -> SandboxStatus:
    return SandboxStatus(sandbox_id, config, ready, created, ip=ips[0] if ips else "", ips=list(ips))
