"""The `podrun` command: argument parsing and dispatch. Business logic lives in the packages."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from podrun import __version__
from podrun.cli.durations import parse_duration
from podrun.cli.run_image import add_image_flags

DEFAULT_ROOT = Path(os.environ.get("PODRUN_ROOT", "/var/lib/podrun"))
DEFAULT_RUN_ROOT = Path(os.environ.get("PODRUN_RUN_ROOT", "/run/podrun"))


EPILOG = """\
examples:
  podrun run -f pod.yaml                      run a pod in the foreground; the exit code is its outcome
  podrun run -f postgres.yaml -f app.yaml     several pods and their Services, reaching each other by name
  podrun run -f manifests/ --timeout 60s      every manifest of a directory; stop (gracefully) after 60 s
  podrun serve -d && kubectl get pods         the API server for kubectl, in the background
  docker save myimage | podrun image import - --name myimage

environment:
  PODRUN_ROOT       state directory (images, pods, the API's store), default /var/lib/podrun
  PODRUN_RUN_ROOT   runtime files (namespaces, the node network), default /run/podrun
  KUBECONFIG        where podrun serve writes its context (under sudo: the invoking user's ~/.kube/config)
"""

OFFLINE_HELP = "contact no registry (only configured mirrors): pulls fall back to images already present"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="state directory (default %(default)s)")
    parser.add_argument(
        "--run-root", type=Path, default=DEFAULT_RUN_ROOT, help="runtime files directory (default %(default)s)"
    )
    parser.add_argument(
        "--oci-runtime", choices=("auto", "crun", "runc"), default="auto",
        help="OCI runtime: crun where it works, else runc (default %(default)s)",
    )  # fmt: skip


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f'"{text}" is not a positive duration')
    return seconds


class _Refused(Exception):
    """The `run`-only command line refused the arguments: the whole one parses them again, for its own message."""


class _RunOnlyParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Refused(message)


def _top_parser(
    parser_class: type[argparse.ArgumentParser],
) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]]:
    parser = parser_class(
        prog="podrun", description="Run Kubernetes Pods on this machine.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"podrun {__version__}")
    return parser, parser.add_subparsers(dest="command", required=True)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser, sub = _top_parser(argparse.ArgumentParser)
    _add_run(sub)
    _add_the_other_commands(sub)
    return parser


def parse_command_line(argv: Sequence[str]) -> argparse.Namespace:
    """The parsed arguments of `argv` (without the program's name).

    `podrun run` first tries a command line of `run` alone: building every command's parser is ~3 ms of its
    start. Whatever that one refuses is parsed again by the whole command line, which prints the error (its usage
    names every command).
    """
    if argv[:1] == ["run"]:
        parser, sub = _top_parser(_RunOnlyParser)
        _add_run(sub)
        with contextlib.suppress(_Refused):
            return parser.parse_args(argv)
    return build_parser().parse_args(argv)


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run pods from manifests in the foreground")
    _common(run)
    run.add_argument(
        "-f", "--filename", action="append",
        help="manifest file, directory (its *.yaml, *.yml, *.json) or - for stdin; repeatable",
    )  # fmt: skip
    run.add_argument("--timeout", help="stop the pods after this long (e.g. 30s, 5m)")
    run.add_argument("--quiet", "-q", action="store_true", help="no logs or transitions, only the outcome")
    run.add_argument(
        "--events", "-v", action="store_true", help="print every event (Normal too) as `kubectl get events -w` does"
    )
    run.add_argument(
        "--output", "-o", choices=("json", "yaml", "name"), help="print the final pods, as kubectl get -o prints them"
    )
    run.add_argument(
        "--grace-period", type=int,
        help="seconds the pods get to stop when interrupted or timed out (default: terminationGracePeriodSeconds)",
    )  # fmt: skip
    run.add_argument("--keep", action="store_true", help="leave the sandbox, containers and volumes behind")
    run.add_argument("--offline", action="store_true", help=OFFLINE_HELP)
    add_image_flags(run)
    run.add_argument(
        "--strict-pull", action="store_true",
        help="fail when a pull is required and the registry is unreachable, even if the image is present",
    )  # fmt: skip
    run.add_argument("--timeline", action="store_true", help="print each pod's lifecycle as a chart when the run ends")
    run.add_argument("--timeline-file", type=Path, help="write the pods' lifecycle charts to this HTML file")


def _add_the_other_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the Kubernetes-compatible API server and the kubelet")
    stop = sub.add_parser("stop", help="stop a background podrun serve (its pods keep running)")
    kubeconfig = sub.add_parser("kubeconfig", help="print a kubeconfig for podrun serve")
    for p in (serve, kubeconfig):
        p.add_argument("--address", default="127.0.0.1", help="address to listen on (default %(default)s)")
        p.add_argument("--port", type=int, default=6443, help="port to listen on (default %(default)s)")
    serve.add_argument("--kubeconfig", type=Path, help="kubeconfig to write the 'podrun' context into")
    serve.add_argument(
        "--ui-port", type=int, help="port of the web UI (default 6444, or any free port when that one is taken)"
    )
    serve.add_argument("--detach", "-d", action="store_true", help="run in the background")
    serve.add_argument("--node-name", help="the node's name (default: this host's name)")
    serve.add_argument("--offline", action="store_true", help=OFFLINE_HELP)
    serve.add_argument(
        "--strict-pull", action="store_true",
        help="fail when a pull is required and the registry is unreachable, even if the image is present",
    )  # fmt: skip
    serve.add_argument(
        "--event-ttl", type=_duration, default="1h", metavar="DURATION",
        help="how long Events are kept after their last update, as kube-apiserver's (default %(default)s)",
    )  # fmt: skip
    for p in (serve, stop, kubeconfig):
        _common(p)

    timeline = sub.add_parser("timeline", help="show a pod's lifecycle as a chart (from podrun serve)")
    timeline.add_argument("pod")
    timeline.add_argument("--namespace", "-n", default="default", help="the pod's namespace (default %(default)s)")
    timeline.add_argument("--output", "-o", choices=("text", "json", "html"), default="text")
    timeline.add_argument("--kubeconfig", type=Path, help="kubeconfig with the 'podrun' context (default: kubectl's)")

    dashboard = sub.add_parser("dashboard", help="print (or --open) a one-time login URL of podrun serve's web UI")
    dashboard.add_argument("--open", action="store_true", help="open the URL in a browser instead of printing it")
    dashboard.add_argument("--kubeconfig", type=Path, help="kubeconfig with the 'podrun' context (default: kubectl's)")

    info = sub.add_parser("info", help="show which OCI runtime and cgroup mode podrun uses")
    _common(info)

    version = sub.add_parser("version", help="show the client, OCI runtime and conmon versions and the cgroup mode")
    version.add_argument("--output", "-o", choices=("json", "yaml"), help="print the versions as JSON or YAML")
    _common(version)
    completion = sub.add_parser("completion", help="print a shell completion script (bash or zsh)")
    completion.add_argument("shell", choices=("bash", "zsh"))
    ps = sub.add_parser("ps", help="list the pods on the root (kept, orphaned, or a live run's or serve's); no server")
    ps.add_argument("--output", "-o", choices=("wide", "json", "yaml", "name"), help="output format")
    ps.add_argument(
        "--containers", "-a", action="store_true", help="one line per container instance (restarts included)"
    )
    _common(ps)
    rm_pods = sub.add_parser("rm", help="remove pods a killed run left or --keep kept (never a live run's or serve's)")
    rm_pods.add_argument("pods", nargs="+", metavar="POD", help="NAMESPACE/NAME, or NAME in the -n namespace")
    rm_pods.add_argument(
        "--namespace", "-n", default="default", help="namespace of a POD without one (default %(default)s)"
    )
    rm_pods.add_argument("--force", "-f", action="store_true", help="kill the pod's running containers too")
    prune = sub.add_parser(
        "prune", help="remove every pod a killed run left, every kept pod, and the volumes of pods that are gone"
    )
    prune.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    logs = sub.add_parser("logs", help="print a container's log from the root, as kubectl logs prints it")
    logs.add_argument("pod", metavar="POD", help="NAMESPACE/NAME, or NAME in the -n namespace")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until the container exits")
    logs.add_argument("--previous", "-p", action="store_true", help="the container's previous instance")
    logs.add_argument("--timestamps", action="store_true", help="prefix each line with its RFC 3339 time")
    logs.add_argument("--tail", type=int, help="only the last N lines")
    exec_ = sub.add_parser("exec", help="run a command in a pod's container on the root")
    exec_.add_argument("pod", metavar="POD", help="NAMESPACE/NAME, or NAME in the -n namespace")
    exec_.add_argument("--stdin", "-i", action="store_true", help="pass standard input to the command")
    exec_.add_argument("--tty", "-t", action="store_true", help="run the command on a terminal")
    exec_.add_argument("cmd", nargs="*", metavar="-- CMD", help="the command and its arguments")
    for p in (logs, exec_):
        p.add_argument("--container", "-c", help="the container (default: the pod's only one)")
        p.add_argument(
            "--namespace", "-n", default="default", help="namespace of a POD without one (default %(default)s)"
        )
    for p in (rm_pods, prune, logs, exec_):
        _common(p)

    image = sub.add_parser("image", help="manage images")
    image_sub = image.add_subparsers(dest="image_command", required=True)
    pull = image_sub.add_parser("pull", help="pull an image from a registry")
    pull.add_argument("reference")
    imp = image_sub.add_parser("import", help="import docker-save archives, OCI layouts, or a rootfs tar")
    imp.add_argument(
        "files", metavar="FILE", nargs="+", type=Path,
        help="an archive, layout directory or rootfs tar (several: each in turn); - reads standard input",
    )  # fmt: skip
    imp.add_argument(
        "--name",
        help="the image's whole reference, nginx meaning nginx:latest (an OCI layout's own names are then not used; "
        "required for a rootfs tar)",
    )
    imp.add_argument("--change", "-c", action="append", default=[], help="Dockerfile instruction for a rootfs tar")
    load = image_sub.add_parser(
        "load", help="copy an image in from a Podman/Buildah store, a Docker daemon or an archive (needs skopeo)",
        epilog="examples:\n  podrun image load containers-storage:localhost/myapp:1\n"
        "  podrun image load docker-daemon:myapp:latest\n  podrun image load --name myapp oci-archive:myapp.tar",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    load.add_argument(
        "source",
        help="containers-storage:IMAGE, docker-daemon:IMAGE, oci-archive:PATH[:REF] or docker-archive:PATH[:REF]",
    )
    load.add_argument("--name", help="the image's whole reference (default: the source's own name)")
    ls = image_sub.add_parser("ls", help="list images")
    ls.add_argument("--quiet", "-q", action="store_true", help="only image IDs")
    ls.add_argument("--output", "-o", choices=("json",), help="every image's record, as `image inspect` shows one")
    inspect = image_sub.add_parser("inspect", help="show an image's record and config as JSON")
    inspect.add_argument("image")
    rm = image_sub.add_parser("rm", help="remove images")
    rm.add_argument("images", nargs="+")
    for p in (pull, imp, load, ls, inspect, rm):
        _common(p)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `podrun` console script."""
    args = parse_command_line(sys.argv[1:] if argv is None else list(argv))
    # conmon and the OCI runtime run in other directories: every path handed to them must be absolute.
    for name in ("root", "run_root", "kubeconfig"):
        if getattr(args, name, None) is not None:
            setattr(args, name, getattr(args, name).absolute())
    if args.command == "run":
        from podrun.cli.run_image import check_image_run

        run_command = import_run_command()
        early_exit = check_image_run(args)
        return run_command(args) if early_exit is None else early_exit
    if args.command in ("serve", "stop", "kubeconfig"):
        from podrun.cli.serve_imports import import_aiohttp

        import_aiohttp()
        from podrun.cli import serve as serve_cli

        if args.command == "serve":
            freeze_imports()
        handler = {"serve": serve_cli.serve_command, "stop": serve_cli.stop_command}.get(
            args.command, serve_cli.kubeconfig_command
        )
        return handler(args)
    if args.command == "timeline":
        from podrun.cli.timeline import timeline_command

        return timeline_command(args)
    if args.command == "dashboard":
        from podrun.cli.dashboard import dashboard_command

        return dashboard_command(args)
    if args.command == "info":
        from podrun.cli.info import info_command

        return info_command(args)
    if args.command == "version":
        from podrun.cli.version import version_command

        return version_command(args)
    if args.command == "completion":
        from podrun.cli.completion import completion_command

        return completion_command(args, build_parser())
    if args.command in ("ps", "rm", "prune", "logs", "exec"):
        return _pods_without_server(args)
    from podrun.cli.image import image_command

    return image_command(args)


def import_run_command() -> Callable[[argparse.Namespace], int]:
    """`podrun run`'s command, imported with the cyclic garbage collector paused.

    Its ~300 modules make tens of thousands of objects (classes, functions, constants) that live as long as the
    process: the collector's passes over them while they are made are 5-8% of the import time, and find nothing.
    They are frozen afterwards, so the run's own collections do not walk them either.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        from podrun.cli.run import run_command
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
    return run_command


def freeze_imports() -> None:
    """Collect the garbage the imports made, then freeze what they left, for a long-running command (`serve`).

    Its ~500 modules leave ~43,000 objects the collector tracks and that live as long as the process: a full
    collection walks them all (~33 ms of the event loop) and finds nothing among them; frozen, they are skipped.
    Unlike `import_run_command`, the collector runs during the imports: paused, the garbage they make would be
    frozen with the rest, ~0.5 MiB more of serve's idle RSS.
    """
    gc.collect()
    gc.freeze()


def _pods_without_server(args: argparse.Namespace) -> int:
    from podrun.cli.pod_access import exec_command, logs_command
    from podrun.cli.prune import prune_command, rm_command
    from podrun.cli.ps import ps_command

    handler = {"ps": ps_command, "rm": rm_command, "prune": prune_command, "logs": logs_command}
    try:
        return handler.get(args.command, exec_command)(args)
    except PermissionError as e:
        print(
            f"error: cannot read {e.filename}: permission denied (podrun's state is root's: use sudo)", file=sys.stderr
        )
        return 1


def console() -> NoReturn:
    """The `podrun` console script: `main`, then an exit that skips the interpreter's teardown.

    Freeing every object and module of a finished command costs a `podrun run` 30-50 ms and does nothing the
    operating system does not do at exit. Only when the main thread is the last one left (nothing else is
    still working) and once the standard streams and logging handlers are flushed.
    """
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    logging = sys.modules.get("logging")  # loaded by asyncio; not imported here only to be shut down
    if logging is not None:
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    console()
