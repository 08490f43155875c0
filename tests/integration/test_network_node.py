"""NodeNetwork with real sandboxes: addresses on creation, DNS from the pod, nothing left after stop or a crash."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import subprocess
from pathlib import Path

from test_network_dns import ask_udp

from podrun.network.config import NetworkConfig
from podrun.network.dns import DnsRecords, ServiceRecord
from podrun.network.node import NodeNetwork
from podrun.runtime import linux
from podrun.runtime.protocol import SandboxConfig
from podrun.runtime.sandbox import Sandboxes


def sandbox_config(name: str) -> SandboxConfig:
    return SandboxConfig(name, "default", f"uid-{name}", name, "", "", network=True)


def allocations(config: NetworkConfig) -> list[str]:
    store = config.ipam_dir / "podrun"
    return sorted(p.name for p in store.iterdir() if p.name[0].isdigit()) if store.is_dir() else []


def assert_nothing_left(config: NetworkConfig) -> None:
    assert not config.node_netns_path.exists()
    assert allocations(config) == []
    assert linux.mounts_under(config.run_dir) == []
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    assert "podrun" not in tables  # the table lived only in the node namespace


async def test_a_networked_sandbox_gets_an_address_and_resolves_services(tmp_path: Path) -> None:
    config = NetworkConfig.for_roots(tmp_path / "root", tmp_path / "run")
    network = NodeNetwork(config)
    await network.start(set())
    sandboxes = Sandboxes(tmp_path / "root", tmp_path / "run", network)
    try:
        sandbox = await sandboxes.create(sandbox_config("web"))
        assert ipaddress.ip_address(sandbox.ip) in ipaddress.ip_network(config.node_pod_cidr)
        assert sandboxes.status(sandbox.id).ips == [sandbox.ip]
        await network.sync_services([], DnsRecords([ServiceRecord("default", "web", "10.96.0.20")]))
        reply = await asyncio.to_thread(ask_udp, sandboxes.netns_path(sandbox.id), "web.default.svc.cluster.local")
        assert [str(rr.rdata) for rr in reply.rr] == ["10.96.0.20"]
        sandboxes.remove(sandbox.id)
        assert allocations(config) == []
    finally:
        for left in sandboxes.list():
            sandboxes.remove(left.id)
        await network.stop(remove=True)
    assert_nothing_left(config)


async def test_a_sandbox_without_network_keeps_loopback_only(tmp_path: Path) -> None:
    sandboxes = Sandboxes(tmp_path / "root", tmp_path / "run")
    sandbox = await sandboxes.create(SandboxConfig("a", "default", "uid-a", "a", "", ""))
    try:
        assert sandbox.ips == []
    finally:
        sandboxes.remove(sandbox.id)


async def test_after_a_crash_the_next_start_reclaims_and_stop_leaves_nothing(tmp_path: Path) -> None:
    config = NetworkConfig.for_roots(tmp_path / "root", tmp_path / "run")
    crashed = NodeNetwork(config)
    await crashed.start(set())
    sandbox = await Sandboxes(tmp_path / "root", tmp_path / "run", crashed).create(sandbox_config("gone"))
    await crashed.stop(remove=False)  # the process dies: its sockets close, everything on disk stays
    linux.unmount_all_under(tmp_path / "run" / "sandboxes" / sandbox.id)
    shutil.rmtree(tmp_path / "root" / "sandboxes" / sandbox.id)  # the sandbox vanished meanwhile

    restarted = NodeNetwork(config)
    sandboxes = Sandboxes(tmp_path / "root", tmp_path / "run", restarted)
    await restarted.start({s.id for s in sandboxes.list()})
    try:
        sandboxes.remove_half_made()
        assert allocations(config) == []
    finally:
        await restarted.stop(remove=True)
    assert_nothing_left(config)


async def test_a_deferred_detach_keeps_the_address_until_stop_which_releases_it_when_the_network_stays(
    tmp_path: Path,
) -> None:
    config = NetworkConfig.for_roots(tmp_path / "root", tmp_path / "run")
    network = NodeNetwork(config)
    await network.start(set())
    network.defer_detach()
    sandboxes = Sandboxes(tmp_path / "root", tmp_path / "run", network)
    try:
        sandbox = await sandboxes.create(sandbox_config("kept-addr"))
        sandboxes.remove(sandbox.id)
        assert allocations(config) == [sandbox.ip]
    finally:
        await network.stop(remove=False)  # another pod still uses the network: the noted DEL runs now

    assert allocations(config) == []
    await network.start(set())
    await network.stop(remove=True)
    assert_nothing_left(config)


async def test_removing_the_network_needs_no_del_for_the_deferred_detachments(tmp_path: Path) -> None:
    config = NetworkConfig.for_roots(tmp_path / "root", tmp_path / "run")
    network = NodeNetwork(config)
    await network.start(set())
    network.defer_detach()
    sandboxes = Sandboxes(tmp_path / "root", tmp_path / "run", network)
    try:
        for name in ("one", "two"):
            sandboxes.remove((await sandboxes.create(sandbox_config(name))).id)
    finally:
        await network.stop(remove=True)

    assert_nothing_left(config)
    assert not config.ipam_dir.exists() and not network.cni.results.exists()
