"""`podrun rm POD...` and `podrun prune`: remove pods a killed run left or a `--keep` run kept, without a server.

Both take the root's lock first (cli/root_lock.py), so they never touch the pods of a live `podrun run` or
`podrun serve`: those are refused with the holder named. A stopped serve's pods are refused too: they are in its
store, and the next `podrun serve` adopts them (delete them with kubectl then). A pod goes as the kubelet's garbage
collection removes one: its containers killed and removed, its sandbox (namespaces, address, cgroup), its volumes
and its logs; the node network goes too when no sandbox is left on the root. `prune` also removes the volumes and
logs of pods that are gone (no sandbox, in no store), as the kubelet's housekeeping removes orphaned pod directories.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from podrun.cli.pods_offline import OfflinePod, gone_pod_dirs, offline_pods, root_holder, select_pods
from podrun.cli.root_lock import RootInUse, exclusive_root
from podrun.kubelet import labels, volumes
from podrun.kubelet.node_facts import PodPaths
from podrun.network import netns
from podrun.network.config import NetworkConfig
from podrun.network.node import NetworkError, NodeNetwork, has_sandboxes
from podrun.runtime.local import LocalRuntime
from podrun.runtime.oci_runtime import MissingTool
from podrun.runtime.sandbox import Sandboxes

RUN_RECORD = "run-pods.json"


async def remove_pods(
    root: Path, run_root: Path, oci_runtime: str, pods: list[OfflinePod], gone_uids: Sequence[str] = ()
) -> None:
    """Kill and remove the pods' containers, sandboxes, volumes and logs, and the volumes and logs of the gone
    pods' uids; then the node network if unused."""
    if pods:
        await _remove_sandboxes(root, run_root, oci_runtime, pods)
    paths = PodPaths.under(root)
    for uid in [*(pod.uid for pod in pods), *gone_uids]:
        if paths.pod_dir(uid).exists():
            await asyncio.to_thread(volumes.teardown_pod_volumes, paths.pod_dir(uid))
        for log_dir in paths.logs_dir.glob(f"*_{uid}") if paths.logs_dir.is_dir() else ():
            shutil.rmtree(log_dir, ignore_errors=True)
    if not has_sandboxes(root):
        (root / RUN_RECORD).unlink(missing_ok=True)  # every pod the killed run had is gone
        if idle_node_network(root, run_root):
            # A killed serve's spare sandbox (the next pod's namespaces, made ahead) has no pod: its pins go too,
            # its address with the network.
            await asyncio.to_thread(Sandboxes(root, run_root).remove_half_made)
            await NodeNetwork(NetworkConfig.for_roots(root, run_root)).stop(remove=True)


def idle_node_network(root: Path, run_root: Path) -> bool:
    """A node network that no sandbox uses: what a stopped serve keeps for its next start."""
    return not has_sandboxes(root) and netns.exists(NetworkConfig.for_roots(root, run_root).node_netns_path)


async def _remove_sandboxes(root: Path, run_root: Path, oci_runtime: str, pods: list[OfflinePod]) -> None:
    """Kill and remove the pods' containers and sandboxes; then the node network if no sandbox is left."""
    uids = {pod.uid for pod in pods}
    network = NodeNetwork(NetworkConfig.for_roots(root, run_root))
    await network.start()
    try:
        runtime = LocalRuntime(root, run_root, oci_runtime, network=network)
        try:
            await runtime.recover()
            for container in await runtime.list_containers():
                if container.labels.get(labels.POD_UID) in uids or container.sandbox_id in {p.sandbox_id for p in pods}:
                    await runtime.stop_container(container.id, 0)
                    await runtime.remove_container(container.id)
            for pod in pods:
                await runtime.remove_sandbox(pod.sandbox_id)
        finally:
            await runtime.close()
    finally:
        await network.stop(remove=not has_sandboxes(root))


SERVE_OWNED = "stopped serve"
SERVE_REFUSAL = "it belongs to a stopped podrun serve, whose next start adopts it: delete it with kubectl then"


def _describe(pod: OfflinePod) -> str:
    return f"pod/{pod.namespace}/{pod.name} ({pod.owner})"


def _refuse_live_root(run_root: Path, what: str) -> int | None:
    holder = root_holder(run_root)
    if holder is None:
        return None
    print(
        f"error: refusing to {what}: {holder.command} (pid {holder.pid}) is using {run_root} and owns its pods; "
        f"stop it first",
        file=sys.stderr,
    )
    return 1


def _remove(args: argparse.Namespace, pods: list[OfflinePod], what: str, gone_uids: Sequence[str] = ()) -> int:
    try:
        with exclusive_root(args.run_root, f"podrun {what}"):
            asyncio.run(remove_pods(args.root, args.run_root, args.oci_runtime, pods, gone_uids))
    except RootInUse as e:
        print(f"error: refusing to {what}: {e}", file=sys.stderr)
        return 1
    except (MissingTool, NetworkError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for pod in pods:
        print(f'pod "{pod.name}" deleted from {pod.namespace} namespace')
    for uid in gone_uids:
        print(f"removed the volumes and logs of gone pod {uid}")
    return 0


def rm_command(args: argparse.Namespace) -> int:
    """`podrun rm POD...`: remove the named pods; one with a running container only with `-f`."""
    refused = _refuse_live_root(args.run_root, "remove pods")
    if refused is not None:
        return refused
    pods, missing = select_pods(offline_pods(args.root, args.run_root), args.pods, args.namespace)
    for name in missing:
        print(f'Error from server (NotFound): pods "{name.rpartition("/")[2]}" not found', file=sys.stderr)
    for pod in pods:
        if pod.owner == SERVE_OWNED:
            print(f"error: refusing to remove {_describe(pod)}: {SERVE_REFUSAL}", file=sys.stderr)
    if any(pod.owner == SERVE_OWNED for pod in pods):
        return 1
    running = [p for p in pods if any(c.state == "running" for c in p.containers)]
    if running and not args.force:
        for pod in running:
            print(f"error: {_describe(pod)} has running containers: use -f to kill them", file=sys.stderr)
        return 1
    if missing:
        return 1
    return _remove(args, pods, "remove pods") if pods else 0


def prune_command(args: argparse.Namespace) -> int:
    """`podrun prune`: remove every pod a killed run left and every kept pod; `--dry-run` only lists them."""
    refused = _refuse_live_root(args.run_root, "prune")
    if refused is not None:
        return refused
    pods = []
    every_pod = offline_pods(args.root, args.run_root)
    for pod in every_pod:
        if pod.owner == SERVE_OWNED:
            print(f"leaving {_describe(pod)}: {SERVE_REFUSAL}", file=sys.stderr)
        else:
            pods.append(pod)
    gone = gone_pod_dirs(args.root, every_pod)
    network = idle_node_network(args.root, args.run_root)
    if args.dry_run:
        for pod in pods:
            print(f"would remove {_describe(pod)}")
        for uid in gone:
            print(f"would remove the volumes and logs of gone pod {uid}")
        if network:
            print("would remove the node network, which no pod uses")
        return 0
    if not pods and not gone and not network:
        print(f"nothing to prune under {args.root}", file=sys.stderr)
        return 0
    code = _remove(args, pods, "prune", gone)
    if code == 0 and network:
        print("removed the node network, which no pod used")
    return code
