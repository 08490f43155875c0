"""`LocalRuntime` with real containers: conmon and runc, overlayfs, namespaces and cgroups on this machine.

Each test shows one behaviour the kubelet relies on. Nothing here sleeps or polls: a test awaits the
runtime's events, the exit of a process (through a pidfd), or a condition that the container itself
waits for inside an exec (`wait_in_container`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import secrets
import signal
import stat
import sys
import tarfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from podrun.runtime import exec_fifo, linux
from podrun.runtime.images.importer import import_archive
from podrun.runtime.images.store import ImageInUse
from podrun.runtime.local import LocalRuntime
from podrun.runtime.protocol import (
    ContainerConfig,
    ContainerEvent,
    ContainerState,
    ContainerStatus,
    EventKind,
    Mount,
    Resources,
    RuntimeError_,
    SandboxConfig,
    SandboxStatus,
    SecurityConfig,
)
from podrun.runtime.sandbox import Sandboxes

OpenRuntime = Callable[[], Awaitable[LocalRuntime]]

HOSTNAME = "web-0"
HOSTS = (
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "10.88.0.7\tweb-0.web.default.svc.cluster.local\tweb-0\n"
)
POD_LABELS = {
    "io.kubernetes.pod.name": "web-0",
    "io.kubernetes.pod.namespace": "default",
    "io.kubernetes.pod.uid": "1234-abcd",
}
# How long a test waits for something that takes milliseconds; only reached when something is broken.
TIMEOUT = 10.0
MiB = 1024 * 1024

# `<RFC3339Nano timestamp> <stream> <F|P> <message>`, as the kubelet's CRI log parser reads it.
CRI_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(?:Z|[+-]\d\d:\d\d) (stdout|stderr) ([FP]) (.*)$")


# -- helpers -----------------------------------------------------------------------------------------------


def busybox(name: str, *command: str, **fields: Any) -> ContainerConfig:
    """A busybox container of the test pod running `command`; `fields` are other `ContainerConfig` fields."""
    return ContainerConfig(name=name, image="busybox", command=command, labels=POD_LABELS, **fields)


def sh(name: str, script: str, **fields: Any) -> ContainerConfig:
    """A busybox container running `sh -c script`."""
    return busybox(name, "sh", "-c", script, **fields)


async def next_event(events: AsyncIterator[ContainerEvent], container_id: str, kind: EventKind) -> ContainerEvent:
    """The next `kind` event of the container (others are skipped); fails after `TIMEOUT`."""

    async def first() -> ContainerEvent:
        async for event in events:
            if event.status.id == container_id and event.kind == kind:
                return event
        raise AssertionError("the event stream ended")

    return await asyncio.wait_for(first(), TIMEOUT)


async def start(rt: LocalRuntime, sandbox_id: str, config: ContainerConfig) -> str:
    """Create and start a container; its ID."""
    container_id = await rt.create_container(sandbox_id, config)
    await rt.start_container(container_id)
    return container_id


async def run_to_exit(rt: LocalRuntime, sandbox_id: str, config: ContainerConfig) -> ContainerStatus:
    """Create and start a container and return its status from its exit event."""
    events = rt.events()
    try:
        container_id = await start(rt, sandbox_id, config)
        return (await next_event(events, container_id, EventKind.EXITED)).status
    finally:
        events.close()


async def wait_in_container(rt: LocalRuntime, container_id: str, condition: str) -> None:
    """Wait until the shell `condition` holds inside the container (a file exists, a port listens...)."""
    script = f"until {condition}; do sleep 0.02; done"
    result = await rt.exec_sync(container_id, ["sh", "-c", script], TIMEOUT)
    assert (result.exit_code, result.timed_out) == (0, False), result


def log_lines(path: str) -> list[tuple[str, str]]:
    """(stream, message) of each line of a CRI log file, failing on a line not in CRI format."""
    lines = []
    for line in Path(path).read_text().splitlines():
        match = CRI_LOG_LINE.match(line)
        assert match, f"not a CRI log line: {line!r}"
        assert match[2] == "F", f"a partial line where a full one was written: {line!r}"
        lines.append((match[1], match[3]))
    return lines


def stdout_of(status: ContainerStatus) -> list[str]:
    """The container's stdout lines, from its log."""
    return [message for stream, message in log_lines(status.log_path) if stream == "stdout"]


def stderr_of(status: ContainerStatus) -> list[str]:
    """The container's stderr lines, from its log."""
    return [message for stream, message in log_lines(status.log_path) if stream == "stderr"]


async def read_all(chunks: AsyncIterator[bytes]) -> bytes:
    """Everything an exec stream produces until it ends."""
    return b"".join([chunk async for chunk in chunks])


async def process_exit(pid: int) -> None:
    """Wait for any process (not only a child) to exit, through a pidfd."""
    with pidfd(pid) as fd:
        await pidfd_exit(fd)


@contextlib.contextmanager
def pidfd(pid: int) -> Iterator[int]:
    """A pidfd of the process, closed on leaving: it names that process even after it exited."""
    fd = os.pidfd_open(pid)
    try:
        yield fd
    finally:
        os.close(fd)


async def pidfd_exit(fd: int) -> None:
    """Wait until the pidfd's process has exited (at most TIMEOUT)."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await asyncio.wait_for(exited, TIMEOUT)
    finally:
        loop.remove_reader(fd)


def start_time(pid: int) -> int:
    """A process's start time (clock ticks after boot), from /proc/PID/stat: a PID reused later differs."""
    fields_after_comm = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields_after_comm[19])  # field 22, starttime


# -- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture
async def sandbox(runtime: LocalRuntime) -> SandboxStatus:
    """The test pod's sandbox: hostname `web-0`, a Kubernetes-style /etc/hosts."""
    config = SandboxConfig(
        name="web-0", namespace="default", uid="1234-abcd", hostname=HOSTNAME, hosts_file=HOSTS,
        resolv_conf="nameserver 127.0.0.1\n", labels=dict(POD_LABELS),
    )  # fmt: skip
    return await runtime.create_sandbox(config)


@pytest.fixture
async def sleeper(runtime: LocalRuntime, sandbox: SandboxStatus) -> str:
    """A running busybox container that just sleeps: a target for exec."""
    return await start(runtime, sandbox.id, busybox("sleeper", "sleep", "3600"))


@pytest.fixture
def www_data_image(runtime: LocalRuntime, test_image_archives: dict[str, Path], tmp_path: Path) -> str:
    """`busybox-www:1`: the busybox files with `USER www-data` (UID and GID 33) in the image config."""
    rootfs = tmp_path / "busybox-rootfs.tar"
    with tarfile.open(test_image_archives["busybox"]) as archive:
        layer = next(m for m in archive.getmembers() if m.name.endswith("/layer.tar"))
        data = archive.extractfile(layer)
        assert data is not None
        rootfs.write_bytes(data.read())
    import_archive(runtime.images, rootfs, name="busybox-www:1", changes=["USER www-data"])
    return "busybox-www:1"


# -- exits and events --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "reason"), [(0, "Completed"), (3, "Error")])
async def test_exit_code_and_reason_arrive_as_an_event_within_a_second(
    runtime: LocalRuntime, sandbox: SandboxStatus, code: int, reason: str
) -> None:
    events = runtime.events()
    container_id = await start(runtime, sandbox.id, sh("app", f"exit {code}"))
    started = asyncio.get_running_loop().time()

    event = await next_event(events, container_id, EventKind.EXITED)

    assert asyncio.get_running_loop().time() - started < 1.0
    assert (event.status.state, event.status.exit_code, event.status.reason) == (ContainerState.EXITED, code, reason)


async def test_started_event_comes_before_the_exited_event(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    events = runtime.events()
    container_id = await start(runtime, sandbox.id, busybox("app", "true"))

    first = await anext(events)
    second = await anext(events)

    assert [(e.kind, e.status.id) for e in (first, second)] == [
        (EventKind.STARTED, container_id),
        (EventKind.EXITED, container_id),
    ]
    assert first.status.state == ContainerState.RUNNING


async def test_a_container_never_finishes_before_it_started(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    # `true` exits while `runc start` is still returning; about one run in six showed the inversion here.
    for _ in range(40):
        status = await run_to_exit(runtime, sandbox.id, busybox("app", "true"))
        recorded = await runtime.container_status(status.id)
        assert recorded.started_at <= recorded.finished_at, recorded
        await runtime.remove_container(status.id)


async def test_output_is_logged_in_cri_format_at_the_log_path(
    runtime: LocalRuntime, sandbox: SandboxStatus, tmp_path: Path
) -> None:
    log_path = tmp_path / "pods" / "default_web-0_1234-abcd" / "app" / "0.log"  # parents do not exist yet

    status = await run_to_exit(runtime, sandbox.id, sh("app", "echo hello; echo oops >&2", log_path=str(log_path)))

    assert status.log_path == str(log_path)
    assert sorted(log_lines(str(log_path))) == [("stderr", "oops"), ("stdout", "hello")]


async def test_an_exited_containers_cleanup_waits_for_the_start_of_its_pods_prepared_container(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    # The OCI runtime's `delete` and the unmount would take the CPU from the next init container's start.
    events = runtime.events()
    following = await runtime.create_container(sandbox.id, busybox("init-1", "true"))
    await runtime.prepare_container(following)
    first = await start(runtime, sandbox.id, busybox("init-0", "true"))
    await next_event(events, first, EventKind.EXITED)
    held = first in runtime._held and (runtime._oci_root / first).exists()

    await runtime.start_container(following)
    await asyncio.wait_for(runtime._cleaned[first].wait(), TIMEOUT)

    assert held and not (runtime._oci_root / first).exists()
    assert linux.mounts_under(runtime.root / "containers" / first) == []


def test_unmounting_a_mount_point_takes_its_stacked_mounts_and_those_below(tmp_path: Path) -> None:
    target = tmp_path / "rootfs"
    target.mkdir()
    linux.mount("tmpfs", target, "tmpfs")
    linux.mount("tmpfs", target, "tmpfs")
    (target / "below").mkdir()
    linux.mount("tmpfs", target / "below", "tmpfs")

    linux.unmount_mount_point(target)

    assert linux.mounts_under(target) == []


async def test_removing_an_exited_container_whose_cleanup_waits_cleans_it_up_at_once(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    events = runtime.events()
    following = await runtime.create_container(sandbox.id, busybox("init-1", "true"))
    await runtime.prepare_container(following)
    first = await start(runtime, sandbox.id, busybox("init-0", "true"))
    await next_event(events, first, EventKind.EXITED)

    await runtime.remove_container(first)
    await runtime.remove_container(following)

    assert not (runtime._oci_root / first).exists() and not (runtime.root / "containers" / first).exists()
    assert await runtime.list_containers() == []


async def test_an_exit_that_cannot_be_saved_is_still_cleaned_up_and_removable(
    runtime: LocalRuntime, sandbox: SandboxStatus, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = runtime.events()
    first = await start(runtime, sandbox.id, busybox("app", "sleep", "3600"))

    def disk_full(rec: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runtime, "_save", disk_full)
    await runtime.stop_container(first, 0)
    await next_event(events, first, EventKind.EXITED)
    await asyncio.wait_for(runtime._cleaned[first].wait(), TIMEOUT)
    monkeypatch.undo()

    assert not (runtime._oci_root / first).exists()
    await asyncio.wait_for(runtime.remove_container(first), TIMEOUT)
    assert await runtime.list_containers() == []


async def test_containers_are_listed_by_label_without_the_other_pods(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    other_pod = {**POD_LABELS, "io.kubernetes.pod.uid": "5678-ef01"}
    mine = await runtime.create_container(sandbox.id, busybox("app", "true"))
    theirs = await runtime.create_container(sandbox.id, replace(busybox("app", "true"), labels=other_pod))

    listed = await runtime.list_containers({"io.kubernetes.pod.uid": "1234-abcd"})
    everything = await runtime.list_containers()
    for container_id in (mine, theirs):
        await runtime.remove_container(container_id)

    assert [c.id for c in listed] == [mine]
    assert [c.id for c in everything] == [mine, theirs]


# -- the pod's shared namespaces and files ---------------------------------------------------------------


async def test_containers_of_a_pod_talk_over_localhost(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    events = runtime.events()
    server = await start(runtime, sandbox.id, sh("server", "echo pong | nc -l -p 9000"))
    await wait_in_container(runtime, server, "netstat -ltn | grep -q ':9000 '")

    client = await run_to_exit(runtime, sandbox.id, sh("client", "echo ping | nc 127.0.0.1 9000"))
    server_status = (await next_event(events, server, EventKind.EXITED)).status

    assert (client.exit_code, stdout_of(client)) == (0, ["pong"])
    assert (server_status.exit_code, stdout_of(server_status)) == (0, ["ping"])


async def test_a_volume_written_by_one_container_is_read_by_another(
    runtime: LocalRuntime, sandbox: SandboxStatus, tmp_path: Path
) -> None:
    volume = tmp_path / "shared"
    volume.mkdir()
    mounts = (Mount(container_path="/data", host_path=str(volume)),)

    writer = await run_to_exit(runtime, sandbox.id, sh("writer", "echo from-writer > /data/file", mounts=mounts))
    reader = await run_to_exit(runtime, sandbox.id, busybox("reader", "cat", "/data/file", mounts=mounts))

    assert writer.exit_code == 0
    assert stdout_of(reader) == ["from-writer"]
    assert (volume / "file").read_text() == "from-writer\n"


async def test_hostname_and_etc_hosts_are_the_sandboxs(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    status = await run_to_exit(runtime, sandbox.id, sh("app", "hostname; cat /etc/hosts"))

    assert stdout_of(status) == [HOSTNAME, *HOSTS.splitlines()]


async def test_a_bind_mounted_termination_log_is_writable(
    runtime: LocalRuntime, sandbox: SandboxStatus, tmp_path: Path
) -> None:
    termination_log = tmp_path / "termination-log"
    termination_log.touch()
    termination_log.chmod(0o666)  # as the kubelet makes it, for containers not running as root
    config = sh(
        "app", "echo 'bye: disk full' > /dev/termination-log",
        mounts=(Mount("/dev/termination-log", str(termination_log)),), security=SecurityConfig(run_as_user=1000),
    )  # fmt: skip

    status = await run_to_exit(runtime, sandbox.id, config)

    assert status.exit_code == 0, stderr_of(status)
    assert termination_log.read_text() == "bye: disk full\n"


# -- resources and stopping --------------------------------------------------------------------------------


async def test_exceeding_a_20_mib_memory_limit_is_reported_oom_killed(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    grow_forever = "x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$x$x; done"
    config = sh("hog", grow_forever, resources=Resources(memory_limit_bytes=20 * MiB))

    status = await run_to_exit(runtime, sandbox.id, config)

    assert (status.exit_code, status.reason) == (137, "OOMKilled")


async def start_trapping_term(
    runtime: LocalRuntime, sandbox_id: str, name: str, exit_code: int, **fields: Any
) -> str:  # fmt: skip
    """A container whose shell exits with `exit_code` on SIGTERM, started and its trap set."""
    script = f'trap "exit {exit_code}" TERM; touch /tmp/trap-set; while true; do sleep 0.1; done'
    container_id = await start(runtime, sandbox_id, sh(name, script, **fields))
    await wait_in_container(runtime, container_id, "[ -e /tmp/trap-set ]")
    return container_id


async def test_stop_sends_sigterm_and_a_process_trapping_it_exits_through_its_trap(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    container_id = await start_trapping_term(runtime, sandbox.id, "app", 0)

    await runtime.stop_container(container_id, grace_seconds=10)

    status = await runtime.container_status(container_id)  # exit 0: the trap's, not a SIGKILL's at the grace's end
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 0, "Completed")


async def test_the_stop_signal_reaches_the_init_without_an_oci_runtime_process(
    runtime: LocalRuntime, sandbox: SandboxStatus, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    container_id = await start_trapping_term(runtime, sandbox.id, "app", 0)
    oci_commands: list[tuple[str, ...]] = []
    run_oci = runtime._run_oci

    async def recorded(*args: str) -> tuple[int, str]:
        oci_commands.append(args)
        return await run_oci(*args)

    monkeypatch.setattr(runtime, "_run_oci", recorded)

    await runtime.stop_container(container_id, grace_seconds=10)

    assert [args for args in oci_commands if args[0] == "kill"] == []  # a pidfd signal, not `runc kill` (~10 ms)
    assert (await runtime.container_status(container_id)).exit_code == 0


async def test_the_stop_signal_reaches_a_container_in_anothers_pid_namespace(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:  # fmt: skip
    target = await start(runtime, sandbox.id, busybox("target", "sleep", "1000"))
    joined = await start_trapping_term(runtime, sandbox.id, "debug", 7, target_container_id=target)

    await runtime.stop_container(joined, grace_seconds=10)

    statuses = {s.name: s.state for s in await runtime.list_containers()}
    assert statuses == {"target": ContainerState.RUNNING, "debug": ContainerState.EXITED}
    assert (await runtime.container_status(joined)).exit_code == 7
    await runtime.remove_container(joined)


async def test_stop_sigkills_a_process_ignoring_sigterm_once_the_grace_period_is_over(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    # PID 1 of a PID namespace without a TERM handler never receives SIGTERM.
    container_id = await start(runtime, sandbox.id, sh("app", "sleep 1000"))
    loop = asyncio.get_running_loop()
    asked = loop.time()

    await runtime.stop_container(container_id, grace_seconds=1)

    assert loop.time() - asked >= 1.0  # the grace period, waited out
    status = await runtime.container_status(container_id)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 137, "Error")


def forked_child(runtime: LocalRuntime, container_id: str) -> int:
    """The host PID of the one child of the container's init (its first process)."""
    init = (runtime.root / "containers" / container_id / "container.pid").read_text()
    [child] = Path(f"/proc/{init}/task/{init}/children").read_text().split()
    return int(child)


async def test_a_kill_without_grace_ends_every_process_of_the_containers_own_pid_namespace(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    container_id = await start(runtime, sandbox.id, sh("app", "sleep 1000 & touch /tmp/forked; wait"))
    await wait_in_container(runtime, container_id, "[ -e /tmp/forked ]")
    with pidfd(forked_child(runtime, container_id)) as child:
        await runtime.stop_container(container_id, grace_seconds=0)

        await pidfd_exit(child)
    status = await runtime.container_status(container_id)
    assert (status.state, status.exit_code) == (ContainerState.EXITED, 137)
    await runtime.remove_container(container_id)  # `runc delete` after a kill it did not make


async def test_a_kill_without_grace_of_a_container_in_anothers_pid_namespace_ends_all_of_it_and_only_it(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    target = await start(runtime, sandbox.id, busybox("target", "sleep", "1000"))
    script = "sleep 1000 & touch /tmp/forked; wait"
    joined = await start(runtime, sandbox.id, sh("debug", script, target_container_id=target))
    await wait_in_container(runtime, joined, "[ -e /tmp/forked ]")
    with pidfd(forked_child(runtime, joined)) as child:
        await runtime.stop_container(joined, grace_seconds=0)

        await pidfd_exit(child)  # not the namespace's init: only a kill of every process reaches it
    statuses = {s.name: s.state for s in await runtime.list_containers()}
    assert statuses == {"target": ContainerState.RUNNING, "debug": ContainerState.EXITED}
    await runtime.remove_container(joined)


async def test_stop_sends_the_images_stopsignal(nginx_runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    # The nginx image says STOPSIGNAL SIGQUIT; the exit code tells which signal arrived.
    script = 'trap "exit 3" QUIT; trap "exit 15" TERM; touch /tmp/traps-set; while true; do sleep 0.1; done'
    config = ContainerConfig(name="web", image="nginx", command=("sh", "-c", script), labels=POD_LABELS)
    container_id = await start(nginx_runtime, sandbox.id, config)
    await wait_in_container(nginx_runtime, container_id, "[ -e /tmp/traps-set ]")

    await nginx_runtime.stop_container(container_id, grace_seconds=10)

    assert (await nginx_runtime.container_status(container_id)).exit_code == 3


# -- exec --------------------------------------------------------------------------------------------------


async def test_exec_sync_returns_output_and_exit_code(runtime: LocalRuntime, sleeper: str) -> None:
    result = await runtime.exec_sync(sleeper, ["sh", "-c", "echo out; echo err >&2; exit 4"], TIMEOUT)

    assert (result.exit_code, result.stdout, result.stderr, result.timed_out) == (4, b"out\n", b"err\n", False)


async def test_exec_sync_past_its_timeout_is_killed_and_reported_timed_out(runtime: LocalRuntime, sleeper: str) -> None:
    result = await runtime.exec_sync(sleeper, ["sleep", "31"], timeout=0.5)

    assert result.timed_out
    processes = (await runtime.exec_sync(sleeper, ["ps", "-o", "stat,args"], TIMEOUT)).stdout.decode()
    still_running = [line for line in processes.splitlines() if line.split(None, 1)[1:] == ["sleep 31"]]
    assert still_running == [], processes


async def test_an_exec_timing_out_while_runc_is_starting_it_leaves_nothing_running(
    runtime: LocalRuntime, sleeper: str
) -> None:
    # Timeouts from 1 to 50 ms: some expire after runc started the process but before it wrote the pid file.
    for ms in range(1, 51):
        assert (await runtime.exec_sync(sleeper, ["sleep", "31"], timeout=ms / 1000)).timed_out

    processes = (await runtime.exec_sync(sleeper, ["ps", "-o", "stat,args"], TIMEOUT)).stdout.decode()
    still_running = [line for line in processes.splitlines() if line.split(None, 1)[1:] == ["sleep 31"]]
    assert still_running == [], processes


async def test_exec_stream_without_tty_pipes_stdin_and_stdout(runtime: LocalRuntime, sleeper: str) -> None:
    streams = await runtime.exec_stream(sleeper, ["cat"], tty=False, stdin=True)

    await streams.stdin(b"hello\nworld\n")
    await streams.close_stdin()

    assert await read_all(streams.stdout) == b"hello\nworld\n"
    assert streams.stderr is not None and await read_all(streams.stderr) == b""
    assert await streams.wait() == 0


async def test_exec_stream_with_tty_runs_on_a_pseudo_terminal(runtime: LocalRuntime, sleeper: str) -> None:
    streams = await runtime.exec_stream(sleeper, ["tty"], tty=True, stdin=True)

    output = await read_all(streams.stdout)

    assert re.fullmatch(rb"/dev/pts/\d+\r\n", output), output
    assert streams.stderr is None
    assert await streams.wait() == 0


async def test_exec_stream_resize_changes_the_terminal_size(runtime: LocalRuntime, sleeper: str) -> None:
    # runc copies the size into the container's terminal a moment after the process starts (as with
    # docker exec -t): the command polls for it, generously, instead of the test sleeping.
    script = 'read go; for i in $(seq 600); do s=$(stty size); [ "$s" = "40 100" ] && break; sleep 0.1; done; echo $s'
    streams = await runtime.exec_stream(sleeper, ["sh", "-c", script], tty=True, stdin=True)

    streams.resize(100, 40)  # width, height
    await streams.stdin(b"go\n")

    assert "40 100" in (await read_all(streams.stdout)).decode().splitlines()[-1]
    assert await streams.wait() == 0


# -- dial --------------------------------------------------------------------------------------------------


async def test_dial_reaches_a_server_inside_the_pod(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    server = await start(runtime, sandbox.id, sh("server", "echo hello-from-pod | nc -l -p 8080"))
    await wait_in_container(runtime, server, "netstat -ltn | grep -q ':8080 '")

    reader, writer = await runtime.dial(sandbox.id, 8080)
    try:
        assert await asyncio.wait_for(reader.readline(), TIMEOUT) == b"hello-from-pod\n"
    finally:
        writer.close()


async def test_dial_does_not_reach_a_server_on_the_hosts_loopback(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    connections = []
    host_server = await asyncio.start_server(lambda r, w: connections.append(w), "127.0.0.1", 0)
    port = host_server.sockets[0].getsockname()[1]
    try:
        _, host_writer = await asyncio.open_connection("127.0.0.1", port)  # the server is there, for the host
        host_writer.close()

        with pytest.raises(ConnectionRefusedError):
            await runtime.dial(sandbox.id, port)
    finally:
        host_server.close()
        for w in connections:
            w.close()
        await host_server.wait_closed()
    assert len(connections) == 1  # only the host's own connection


# -- start errors ------------------------------------------------------------------------------------------


async def test_a_command_missing_from_the_image_is_a_start_error(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    events = runtime.events()
    container_id = await runtime.create_container(sandbox.id, busybox("app", "no-such-command"))

    with pytest.raises(RuntimeError_) as raised:
        await runtime.start_container(container_id)

    assert raised.value.reason == "RunContainerError"
    # runc: 'exec: "no-such-command": executable file not found in $PATH'; crun: 'executable file `no-such-command`
    # not found in $PATH: No such file or directory'.
    assert "no-such-command" in raised.value.message and "not found in $PATH" in raised.value.message
    event = await next_event(events, container_id, EventKind.EXITED)
    for status in (event.status, await runtime.container_status(container_id)):
        assert (status.state, status.exit_code, status.reason, status.message) == (
            ContainerState.EXITED, 128, "StartError", raised.value.message,
        )  # fmt: skip


# -- runc's start through its exec fifo ------------------------------------------------------------------


def runc_only(runtime: LocalRuntime) -> None:
    if runtime.name != "runc":
        pytest.skip("podrun opens the exec fifo itself only for runc; crun runs its own `start`")


@contextlib.contextmanager
def conmon_pidfd(runtime: LocalRuntime, container_id: str) -> Iterator[int]:
    """A pidfd of the container's conmon, closed afterwards."""
    pidfd = os.pidfd_open(int((runtime.root / "containers" / container_id / "conmon.pid").read_text()))
    try:
        yield pidfd
    finally:
        os.close(pidfd)


async def prepared_sleeper(runtime: LocalRuntime, sandbox: SandboxStatus) -> str:
    """A container created and prepared (its init waits at the exec fifo), not started."""
    container_id = await runtime.create_container(sandbox.id, busybox("app", "sleep", "3600"))
    await runtime.prepare_container(container_id)
    return container_id


def kill_init(runtime: LocalRuntime, container_id: str) -> None:
    os.kill(int((runtime.root / "containers" / container_id / "container.pid").read_text()), signal.SIGKILL)


def exec_fifo_of(runtime: LocalRuntime, container_id: str) -> Path:
    return runtime.run_root / "runc" / container_id / exec_fifo.FIFO_NAME


async def test_a_runc_container_started_as_a_hand_off_has_no_exec_fifo_and_runc_says_running(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    runc_only(runtime)
    container_id = await prepared_sleeper(runtime, sandbox)
    await asyncio.wait_for(runtime.start_container(container_id, hand_off=True), TIMEOUT)

    assert not exec_fifo_of(runtime, container_id).exists()
    assert await runtime._oci_state(container_id) == "running"
    await wait_in_container(runtime, container_id, "true")


async def test_reading_the_exec_fifo_runs_a_prepared_containers_process(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    runc_only(runtime)
    container_id = await prepared_sleeper(runtime, sandbox)
    with conmon_pidfd(runtime, container_id) as pidfd:
        started = await asyncio.wait_for(exec_fifo.start(exec_fifo_of(runtime, container_id).parent, pidfd), TIMEOUT)

    assert started
    assert await runtime._oci_state(container_id) == "running"


async def test_the_exec_fifo_of_a_container_whose_init_died_releases_nothing(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    runc_only(runtime)
    container_id = await prepared_sleeper(runtime, sandbox)
    with conmon_pidfd(runtime, container_id) as pidfd:
        kill_init(runtime, container_id)
        started = await asyncio.wait_for(exec_fifo.start(exec_fifo_of(runtime, container_id).parent, pidfd), TIMEOUT)

    assert not started
    assert exec_fifo_of(runtime, container_id).exists()  # for `runc start` to judge


async def test_a_prepared_container_whose_init_died_is_a_start_error(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    container_id = await prepared_sleeper(runtime, sandbox)
    kill_init(runtime, container_id)

    with pytest.raises(RuntimeError_) as raised:
        await asyncio.wait_for(runtime.start_container(container_id, hand_off=True), TIMEOUT)

    status = await runtime.container_status(container_id)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 128, "StartError")
    assert raised.value.reason == "RunContainerError"


# -- security context --------------------------------------------------------------------------------------


async def test_run_as_user_group_and_supplemental_groups_set_the_process_ids(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    security = SecurityConfig(run_as_user=1000, run_as_group=3000, supplemental_groups=(4000, 5000))

    status = await run_to_exit(runtime, sandbox.id, sh("app", "id -u; id -g; id -G", security=security))

    uid, gid, groups = stdout_of(status)
    assert (uid, gid) == ("1000", "3000")
    assert set(groups.split()) == {"3000", "4000", "5000"}


async def test_the_images_user_is_used_without_run_as_user(
    runtime: LocalRuntime, sandbox: SandboxStatus, www_data_image: str
) -> None:
    config = ContainerConfig(name="app", image=www_data_image, command=("id", "-un"), labels=POD_LABELS)

    status = await run_to_exit(runtime, sandbox.id, config)

    assert stdout_of(status) == ["www-data"]


async def test_run_as_user_overrides_the_images_user(
    runtime: LocalRuntime, sandbox: SandboxStatus, www_data_image: str
) -> None:
    config = ContainerConfig(
        name="app", image=www_data_image, command=("id", "-u"), labels=POD_LABELS,
        security=SecurityConfig(run_as_user=1234),
    )  # fmt: skip

    status = await run_to_exit(runtime, sandbox.id, config)

    assert stdout_of(status) == ["1234"]


async def test_run_as_non_root_refuses_an_image_that_runs_as_root(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    config = busybox("app", "true", security=SecurityConfig(run_as_non_root=True))

    with pytest.raises(RuntimeError_) as raised:
        await runtime.create_container(sandbox.id, config)

    assert raised.value.reason == "CreateContainerConfigError"
    assert raised.value.message == (
        'container has runAsNonRoot and image will run as root (pod: "web-0_default(1234-abcd)", container: app)'
    )
    assert await runtime.list_containers() == []


async def test_a_read_only_root_filesystem_refuses_writes(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    config = busybox("app", "touch", "/new-file", security=SecurityConfig(readonly_rootfs=True))

    status = await run_to_exit(runtime, sandbox.id, config)

    assert status.exit_code == 1
    assert stderr_of(status) == ["touch: /new-file: Read-only file system"]


async def test_dropping_all_capabilities_denies_chown(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    config = busybox("app", "chown", "1:1", "/tmp", security=SecurityConfig(capabilities_drop=("ALL",)))

    status = await run_to_exit(runtime, sandbox.id, config)

    assert status.exit_code == 1
    assert stderr_of(status) == ["chown: /tmp: Operation not permitted"]


async def test_an_added_capability_is_the_only_one_left_after_dropping_all(
    runtime: LocalRuntime, sandbox: SandboxStatus
) -> None:
    security = SecurityConfig(capabilities_drop=("ALL",), capabilities_add=("CHOWN",))
    config = sh("app", "grep CapEff /proc/self/status; chown 1:1 /tmp", security=security)

    status = await run_to_exit(runtime, sandbox.id, config)

    assert status.exit_code == 0, stderr_of(status)
    assert stdout_of(status) == ["CapEff:\t0000000000000001"]  # bit 0 is CAP_CHOWN


# -- images ------------------------------------------------------------------------------------------------


async def test_the_state_and_run_roots_are_private_to_root(open_runtime: OpenRuntime) -> None:
    """Whatever mode they had (an older podrun, a loose umask), a runtime makes its roots 0700."""
    runtime = await open_runtime()
    for directory in (runtime.root, runtime.run_root):
        directory.chmod(0o755)

    reopened = await open_runtime()

    assert [stat.S_IMODE(d.stat().st_mode) for d in (reopened.root, reopened.run_root)] == [0o700, 0o700]


async def test_an_image_in_use_by_a_container_cannot_be_removed(runtime: LocalRuntime, sandbox: SandboxStatus) -> None:
    await runtime.create_container(sandbox.id, busybox("app", "true"))
    image = runtime.images.resolve("busybox")
    assert image is not None

    # By ID: removing one of several tags (busybox is also busybox:1.28) only untags, as `docker rmi` does.
    with pytest.raises(ImageInUse):
        runtime.images.remove(image.id, in_use=runtime.image_in_use)

    assert runtime.images.resolve("busybox") is not None


# -- recovery after podrun itself died ---------------------------------------------------------------------

# Another podrun process: makes a pod whose container waits for /trigger/exit and then exits with the code
# it finds there, prints what it made, and waits to be SIGKILLed.
CRASHING_PODRUN = """
import asyncio, json, sys
from pathlib import Path
from podrun.runtime.local import LocalRuntime
from podrun.runtime.protocol import ContainerConfig, Mount, SandboxConfig

async def main():
    root, run_root, trigger = sys.argv[1:4]
    rt = LocalRuntime(Path(root), Path(run_root))
    await rt.recover()
    sandbox = await rt.create_sandbox(SandboxConfig("web-0", "default", "1234-abcd", "web-0", "", ""))
    script = "until [ -e /trigger/exit ]; do sleep 0.02; done; exit $(cat /trigger/exit)"
    config = ContainerConfig(name="app", image="busybox", command=("sh", "-c", script),
                             mounts=(Mount("/trigger", trigger),))
    container_id = await rt.create_container(sandbox.id, config)
    await rt.start_container(container_id)
    status = await rt.container_status(container_id)
    print(json.dumps({"container_id": container_id, "started_at": status.started_at}), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@dataclass(frozen=True)
class Orphan:
    """A container whose podrun was killed: conmon still watches it."""

    container_id: str
    started_at: float
    pid: int  # the container's first process, on the host
    conmon_pid: int
    trigger: Path  # write an exit code here to make the container exit with it

    def exit_with(self, code: int) -> None:
        """Make the container exit with `code`."""
        tmp = self.trigger / ".exit"
        tmp.write_text(str(code))
        tmp.rename(self.trigger / "exit")


async def orphan_container(runtime_dirs: tuple[Path, Path], trigger: Path) -> Orphan:
    """Run a pod from another podrun process, then SIGKILL that process as a crash would."""
    root, run_root = runtime_dirs
    trigger.mkdir()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_PODRUN, str(root), str(run_root), str(trigger),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        _, err = await proc.communicate()
    assert line, f"the podrun helper failed: {err.decode(errors='replace')}"
    made = json.loads(line)
    container_dir = root / "containers" / made["container_id"]
    return Orphan(
        container_id=made["container_id"], started_at=made["started_at"],
        pid=int((container_dir / "container.pid").read_text()),
        conmon_pid=int((container_dir / "conmon.pid").read_text()), trigger=trigger,
    )  # fmt: skip


async def test_recover_adopts_a_running_container_without_restarting_it(
    runtime_dirs: tuple[Path, Path], open_runtime: OpenRuntime, tmp_path: Path
) -> None:
    orphan = await orphan_container(runtime_dirs, tmp_path / "trigger")
    started = start_time(orphan.pid)

    rt = await open_runtime()

    status = await rt.container_status(orphan.container_id)
    assert (status.state, status.started_at) == (ContainerState.RUNNING, orphan.started_at)
    assert [c.id for c in await rt.list_containers()] == [orphan.container_id]
    assert start_time(orphan.pid) == started  # the very same process, still running
    result = await rt.exec_sync(orphan.container_id, ["cat", "/proc/1/cmdline"], TIMEOUT)
    assert result.stdout.startswith(b"sh\0-c\0until")


async def test_the_exit_of_an_adopted_container_arrives_as_an_event(
    runtime_dirs: tuple[Path, Path], open_runtime: OpenRuntime, tmp_path: Path
) -> None:
    orphan = await orphan_container(runtime_dirs, tmp_path / "trigger")
    rt = await open_runtime()
    events = rt.events()

    orphan.exit_with(7)

    event = await next_event(events, orphan.container_id, EventKind.EXITED)
    assert (event.status.exit_code, event.status.reason) == (7, "Error")


async def test_recover_reports_a_container_that_exited_while_podrun_was_down(
    runtime_dirs: tuple[Path, Path], open_runtime: OpenRuntime, tmp_path: Path
) -> None:
    orphan = await orphan_container(runtime_dirs, tmp_path / "trigger")
    orphan.exit_with(3)
    await process_exit(orphan.conmon_pid)  # conmon records the exit code, then exits

    rt = await open_runtime()

    status = await rt.container_status(orphan.container_id)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 3, "Error")
    assert orphan.started_at <= status.finished_at


async def test_recover_removes_a_half_made_sandbox(runtime_dirs: tuple[Path, Path], open_runtime: OpenRuntime) -> None:
    # What a crash in the middle of create_sandbox leaves: files and a mounted /dev/shm, but no sandbox.json.
    root, run_root = runtime_dirs
    sandbox_id = secrets.token_hex(32)
    state, run = root / "sandboxes" / sandbox_id, run_root / "sandboxes" / sandbox_id
    state.mkdir(parents=True)
    (state / "hosts").write_text(HOSTS)
    (run / "shm").mkdir(parents=True)
    linux.mount("shm", run / "shm", "tmpfs", 0, "size=1m")

    rt = await open_runtime()

    assert await rt.list_sandboxes() == []
    assert not state.exists() and not run.exists()
    assert linux.mounts_under(run_root) == []


async def test_sandboxes_are_listed_from_creation_to_removal_and_found_again_on_disk(
    runtime: LocalRuntime, runtime_dirs: tuple[Path, Path]
) -> None:
    config = SandboxConfig(
        name="web-1", namespace="default", uid="5678-efgh", hostname="web-1", hosts_file=HOSTS,
        resolv_conf="nameserver 127.0.0.1\n",
    )  # fmt: skip
    made = await runtime.create_sandbox(config)
    listed = [s.id for s in await runtime.list_sandboxes("5678-efgh")]
    found_by_another = [s.id for s in Sandboxes(*runtime_dirs).list("5678-efgh")]
    await runtime.remove_sandbox(made.id)

    assert listed == found_by_another == [made.id]
    assert await runtime.list_sandboxes("5678-efgh") == []
    assert made.id not in [s.id for s in await runtime.list_sandboxes()]
