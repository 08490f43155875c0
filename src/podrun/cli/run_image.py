"""`podrun run --image IMG -- CMD ARGS...`: a one-off pod built as `kubectl run` builds it, then run like `-f`.

kubectl's BasicPod generator (pkg/cmd/run): the pod and its one container are named NAME, the pod is labelled
`run=NAME`, `dnsPolicy: ClusterFirst`, `restartPolicy` from `--restart` (Always by default), the words after `--`
are the container's `args` (its `command` with `--command`), `--env K=V` and `--port P` fill `env` and `ports`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

import yaml

from podrun.json_types import JSON

RESTART_POLICIES = ("Always", "OnFailure", "Never")


def add_image_flags(run: argparse.ArgumentParser) -> None:
    """The `kubectl run` flags of `podrun run`, and the command line after `--`."""
    run.add_argument("--image", help="run one pod of this image, built as kubectl run builds it, instead of -f")
    run.add_argument("--name", help="with --image: the pod's and its container's name (default: from the image)")
    run.add_argument(
        "--restart", choices=RESTART_POLICIES, default="Always", help="with --image: the pod's restartPolicy"
    )
    run.add_argument("--env", action="append", default=[], metavar="K=V", help="with --image: an environment variable")
    run.add_argument("--port", type=int, help="with --image: the port the container exposes")
    run.add_argument(
        "--command", dest="as_command", action="store_true",
        help="with --image: the words after -- are the command, not its args",
    )  # fmt: skip
    run.add_argument(
        "--dry-run", nargs="?", const="client", choices=("none", "client"), default="none",
        help="with --image: client prints the pod (as -o says) instead of running it",
    )  # fmt: skip
    run.add_argument("words", nargs="*", metavar="-- CMD ARGS", help="with --image: the container's args")


def default_name(image: str) -> str:
    """A pod name from an image reference: `docker.io/library/busybox:1.36` gives `busybox`."""
    last = image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]
    return re.sub(r"[^a-z0-9-]+", "-", last.lower()).strip("-") or "pod"


def kubectl_run_pod(
    name: str, image: str, words: list[str], *, command: bool = False, restart: str = "Always",
    env: list[str] | None = None, port: int | None = None,
) -> JSON:  # fmt: skip
    """The pod `kubectl run NAME --image IMAGE [--command] -- WORDS` creates; ValueError for an env without `=`."""
    container: JSON = {"name": name, "image": image}
    if words:
        container["command" if command else "args"] = list(words)
    if port is not None:
        container["ports"] = [{"containerPort": port}]
    if env:
        container["env"] = [_env_var(entry) for entry in env]
    container["resources"] = {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"creationTimestamp": None, "labels": {"run": name}, "name": name},
        "spec": {"containers": [container], "dnsPolicy": "ClusterFirst", "restartPolicy": restart},
        "status": {},
    }


def _env_var(entry: str) -> JSON:
    name, sep, value = entry.partition("=")
    if not sep or not name:
        raise ValueError(f"invalid env: {entry}")
    return {"name": name, "value": value}


def image_pod(args: argparse.Namespace) -> JSON:
    """The pod `podrun run --image ...` runs; ValueError for a bad `--env`."""
    return kubectl_run_pod(
        args.name or default_name(args.image), args.image, args.words, command=args.as_command,
        restart=args.restart, env=args.env, port=args.port,
    )  # fmt: skip


def image_pod_sources(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The pod of `--image` as a manifest source, so it is validated and defaulted as `-f` manifests are."""
    return [("--image", json.dumps(image_pod(args)))]


def check_image_run(args: argparse.Namespace) -> int | None:
    """None when `podrun run` should go on; else its exit code: a flag combination refused, or a dry run printed."""
    if bool(args.image) == bool(args.filename):
        return _refuse("exactly one of -f/--filename and --image is required")
    if not args.image:
        if args.words or args.name or args.env or args.port is not None or args.as_command or args.dry_run != "none":
            return _refuse("a command after --, --name, --env, --port, --command and --dry-run need --image")
        return None
    if args.as_command and not args.words:
        return _refuse("--command needs a command after --")
    if args.dry_run == "none":
        return None
    try:
        pod = image_pod(args)
    except ValueError as e:
        return _refuse(str(e))
    if args.output == "yaml":
        sys.stdout.write(yaml.safe_dump(pod, sort_keys=True))
    elif args.output == "json":
        print(json.dumps(pod, indent=4))
    else:
        print(f"pod/{pod['metadata']['name']} created (dry run)")
    return 0


def _refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1
