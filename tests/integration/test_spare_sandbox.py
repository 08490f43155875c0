"""The spare sandbox `podrun serve` keeps: the next pod's namespaces and address, made before its pod."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from test_network_node import allocations, assert_nothing_left, sandbox_config

from podrun.network.cni import CniError
from podrun.network.config import NetworkConfig
from podrun.network.node import NodeNetwork
from podrun.runtime import linux
from podrun.runtime import sandbox as sandbox_module
from podrun.runtime.local import LocalRuntime
from podrun.runtime.sandbox import Sandboxes


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[NodeNetwork]:
    config = NetworkConfig.for_roots(tmp_path / "root", tmp_path / "run")
    network = NodeNetwork(config)
    await network.start(set())
    yield network
    await network.stop(remove=True)
    assert_nothing_left(config)


@pytest.fixture
def sandboxes(tmp_path: Path, network: NodeNetwork) -> Iterator[Sandboxes]:
    made = Sandboxes(tmp_path / "root", tmp_path / "run", network)
    yield made
    for left in made.list():
        made.remove(left.id)
    made.discard_spare()


def hostname_of(sandboxes: Sandboxes, sandbox_id: str) -> str:
    uts = sandboxes.run / sandbox_id / "ns" / "uts"
    return subprocess.run(["nsenter", f"--uts={uts}", "hostname"], capture_output=True, text=True, check=True).stdout


def half_made(sandboxes: Sandboxes) -> list[str]:
    """Sandbox directories of the run root without a `sandbox.json`: the spare, to anyone reading the disk."""
    described = {d.name for d in sandboxes.state.iterdir() if (d / "sandbox.json").exists()}
    return [d.name for d in sandboxes.run.iterdir() if d.name not in described]


async def test_a_pod_on_the_network_takes_the_spare_with_its_address_and_gets_its_own_hostname(
    sandboxes: Sandboxes, network: NodeNetwork
) -> None:  # fmt: skip
    await sandboxes.make_spare()
    [spare_id] = half_made(sandboxes)
    [address] = allocations(network.config)

    sandbox = await sandboxes.create(sandbox_config("web"))

    assert (sandbox.id, sandbox.ips) == (spare_id, [address])
    assert [s.id for s in sandboxes.list()] == [sandbox.id] and sandboxes.status(sandbox.id).ready
    assert hostname_of(sandboxes, sandbox.id) == "web\n"


async def test_the_next_pod_makes_its_own_sandbox_once_the_spare_is_taken(sandboxes: Sandboxes) -> None:
    await sandboxes.make_spare()

    first = await sandboxes.create(sandbox_config("first"))
    second = await sandboxes.create(sandbox_config("second"))

    assert first.id != second.id and first.ip != second.ip
    assert hostname_of(sandboxes, second.id) == "second\n"


async def test_a_pod_arriving_while_the_spare_is_being_made_waits_for_it_and_takes_it(
    sandboxes: Sandboxes, network: NodeNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    # However slow the machine (an emulated one takes longer than the 0.1 s a pod waits for the spare).
    monkeypatch.setattr(sandbox_module, "SPARE_WAIT_SECONDS", 60.0)
    making = asyncio.create_task(sandboxes.make_spare())
    await asyncio.sleep(0)  # one turn of the loop: the spare's making has begun

    sandbox = await sandboxes.create(sandbox_config("web"))
    await making

    assert half_made(sandboxes) == []  # the spare is this pod's sandbox
    assert allocations(network.config) == [sandbox.ip]


async def test_a_spare_whose_pins_are_gone_is_not_taken(sandboxes: Sandboxes, network: NodeNetwork) -> None:
    await sandboxes.make_spare()
    [spare_id] = half_made(sandboxes)
    linux.unmount_all_under(sandboxes.run / spare_id)  # by hand, say

    sandbox = await sandboxes.create(sandbox_config("web"))

    assert sandbox.id != spare_id and sandboxes.status(sandbox.id).ready
    assert allocations(network.config) == [sandbox.ip]  # the spare's address was released
    assert half_made(sandboxes) == []


NO_ADDRESS = "failed to allocate for range 0: no IP addresses available in range set"


@pytest.fixture
def no_address_left(network: NodeNetwork, monkeypatch: pytest.MonkeyPatch) -> None:
    """CNI ADD fails as host-local does once the pod range is used up."""

    def no_address(sandbox_id: str, netns: Path) -> list[str]:
        raise CniError(NO_ADDRESS)

    monkeypatch.setattr(network, "attach", no_address)


@pytest.mark.usefixtures("no_address_left")
async def test_a_spare_that_fails_leaves_nothing(sandboxes: Sandboxes) -> None:
    await sandboxes.make_spare()

    assert sandboxes.spare_id is None
    assert list(sandboxes.run.iterdir()) == [] and linux.mounts_under(sandboxes.run) == []


@pytest.mark.usefixtures("no_address_left")
async def test_a_spare_failing_again_for_the_same_reason_says_why_in_the_log_once(
    sandboxes: Sandboxes, caplog: pytest.LogCaptureFixture
) -> None:  # fmt: skip
    await sandboxes.make_spare()
    await sandboxes.make_spare()

    logged = [r.getMessage() for r in caplog.records if r.name == sandbox_module.__name__]
    assert logged == [f"making the spare sandbox failed: {NO_ADDRESS}"]


async def test_a_host_network_pod_leaves_the_spare_for_the_next_pod(sandboxes: Sandboxes) -> None:
    await sandboxes.make_spare()
    [spare_id] = half_made(sandboxes)
    config = sandbox_config("host")

    host = await sandboxes.create(type(config)(**{**vars(config), "network": False, "host_network": True}))

    assert host.id != spare_id and host.ips == []
    assert half_made(sandboxes) == [spare_id]


async def test_a_discarded_spare_leaves_no_mount_address_or_directory(
    sandboxes: Sandboxes, network: NodeNetwork
) -> None:  # fmt: skip
    await sandboxes.make_spare()

    sandboxes.discard_spare()

    assert allocations(network.config) == []
    assert list(sandboxes.run.iterdir()) == []
    assert linux.mounts_under(sandboxes.run) == []


async def test_stopping_waits_for_the_spare_being_made_when_asked_again_meanwhile(
    tmp_path: Path, network: NodeNetwork
) -> None:  # fmt: skip
    keeping = Sandboxes(tmp_path / "root", tmp_path / "run", network, keep_spare=True)
    keeping._start_making_spare()  # what `want_spare`'s timer runs
    async with asyncio.timeout(30):
        while keeping._spare_being_made is None:
            await asyncio.sleep(0)
    keeping._start_making_spare()  # the timer again, while the spare is still being made

    await keeping.stop_keeping_spare()

    assert allocations(network.config) == []
    assert list(keeping.run.iterdir()) == []


async def wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0.05)


async def test_serve_s_runtime_makes_a_spare_when_quiet_and_removes_it_on_close(
    tmp_path: Path, network: NodeNetwork
) -> None:  # fmt: skip
    runtime = LocalRuntime(tmp_path / "root", tmp_path / "run", network=network, spare_sandbox=True)
    await runtime.recover()
    try:
        await wait_for(lambda: runtime.sandboxes.spare_id is not None)
        spare_id = runtime.sandboxes.spare_id
        sandbox = await runtime.create_sandbox(sandbox_config("web"))
        try:
            assert sandbox.id == spare_id
            await wait_for(lambda: runtime.sandboxes.spare_id not in (None, spare_id))  # the next pod's
        finally:
            await runtime.remove_sandbox(sandbox.id)
    finally:
        await runtime.close()
    assert allocations(network.config) == []
    assert list((tmp_path / "run" / "sandboxes").iterdir()) == []
