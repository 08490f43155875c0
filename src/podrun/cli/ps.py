"""`podrun ps`: the pods on a root, as `kubectl get pods -A` lists them, plus who owns each; no server needed."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

import yaml

from podrun.cli.pods_offline import OfflineContainer, OfflinePod, offline_pods
from podrun.printers.pods import human_duration, render_table

HEADERS = ("NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "OWNER")
WIDE_HEADERS = (*HEADERS, "IP", "SANDBOX")
CONTAINER_HEADERS = ("NAMESPACE", "POD", "CONTAINER", "ID", "IMAGE", "STATE", "EXIT CODE", "AGE")


def latest_containers(pod: OfflinePod) -> list[OfflineContainer]:
    """The newest container of each container name, in the order the names first appeared."""
    latest: dict[str, OfflineContainer] = {}
    for container in pod.containers:  # oldest first: a later attempt replaces an earlier one
        latest[container.name] = container
    return list(latest.values())


def pod_status(pod: OfflinePod) -> str:
    """Running while a container runs; else Completed when every container exited 0, or its failure reason."""
    current = latest_containers(pod)
    if not current:
        return "ContainerCreating"
    if any(c.state == "running" for c in current):
        return "Running"
    failed = [c for c in current if c.state == "exited" and c.exit_code != 0]
    if failed:
        return failed[0].reason or "Error"
    if all(c.state == "exited" for c in current):
        return "Completed"
    return "ContainerCreating"


def ps_row(pod: OfflinePod, now: float, *, wide: bool = False) -> list[str]:
    """The table cells of one pod."""
    current = latest_containers(pod)
    running = sum(1 for c in current if c.state == "running")
    cells = [
        pod.namespace, pod.name, f"{running}/{len(current)}", pod_status(pod),
        str(len(pod.containers) - len(current)), human_duration(now - pod.created_at), pod.owner,
    ]  # fmt: skip
    if wide:
        cells += [pod.ips[0] if pod.ips else "<none>", pod.sandbox_id[:12]]
    return cells


def ps_table(pods: list[OfflinePod], now: float, *, wide: bool = False) -> str:
    """The `podrun ps` table (`-o wide` adds the pod IP and the sandbox ID)."""
    rows = [ps_row(pod, now, wide=wide) for pod in pods]
    return render_table(WIDE_HEADERS if wide else HEADERS, rows)


def containers_table(pods: list[OfflinePod], now: float) -> str:
    """Every runtime container of the pods, every instance (restarts included), oldest first per pod."""
    rows = [
        [pod.namespace, pod.name, c.name, c.id[:12], c.image, c.state,
         str(c.exit_code) if c.state == "exited" else "", human_duration(now - c.created_at)]
        for pod in pods
        for c in pod.containers
    ]  # fmt: skip
    return render_table(CONTAINER_HEADERS, rows)


def ps_command(args: argparse.Namespace) -> int:
    """List the root's pods as a table, JSON, YAML or names."""
    pods = offline_pods(args.root, args.run_root)
    if args.output == "json":
        print(json.dumps([asdict(pod) for pod in pods], indent=2))
    elif args.output == "yaml":
        sys.stdout.write(yaml.safe_dump([asdict(pod) for pod in pods], sort_keys=False))
    elif args.output == "name":
        sys.stdout.write("".join(f"pod/{pod.name}\n" for pod in pods))
    elif not pods:
        print(f"No resources found under {args.root}.", file=sys.stderr)
    elif args.containers:
        sys.stdout.write(containers_table(pods, time.time()))
    else:
        sys.stdout.write(ps_table(pods, time.time(), wide=args.output == "wide"))
    return 0
