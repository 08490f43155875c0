"""Podman, the peer: installed from Debian when absent, configured as the platform notes say, on its own storage.

* Installed with `apt-get install podman catatonit` (catatonit builds the pause image for pod infra; it is only a
  Recommends of podman, which an apt without Recommends skips).
* `/etc/containers/containers.conf` is written when absent: on these hosts root cannot raise RLIMIT_NOFILE to
  Podman's default 1048576 and crun refuses hybrid cgroups, so without it every container fails. An existing file
  is left alone (a warning says what it lacks). Both stay: they are the installation, not the benchmark's state.
* Every `podman` call of the benchmark uses its own `--root`, `--runroot` and `--tmpdir` in the work directory:
  the host's Podman images, containers and events are never seen or touched, and removing the directory removes
  everything the benchmark made (images included).
* `CONTAINERS_REGISTRIES_CONF` points at a registries.conf that blocks docker.io: a pull could never leave the
  machine, it would fail. The manifests say `imagePullPolicy: IfNotPresent` (Podman 4.3's `kube play` has no
  `--pull never`), and the images are loaded and tagged `docker.io/library/NAME:TAG` beforehand (`podman load` of
  a docker-save archive tags them `localhost/NAME:TAG`), so `busybox` names the same image in both tools.
* Pods run with `--network none` (loopback only, as podrun's sandboxes): no bridge, no firewall rules. The one
  case that needs a published port (the seed's nginx pod) uses `--network slirp4netns` with `hostIP: 127.0.0.1`,
  so the forwarded port listens on loopback only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import time
import tomllib
from collections.abc import Iterable
from pathlib import Path

from compare.common import (
    JSON,
    BenchError,
    Result,
    http_answer,
    listening,
    memory_of,
    parse_time,
    processes_mentioning,
    run,
)

CONTAINERS_CONF = Path("/etc/containers/containers.conf")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# What any podman command makes outside its --root/--runroot/--tmpdir (netavark's run directory; the blob info cache
# of `podman load`), deepest first: removed at the end when this run made them.
HOST_PATHS = [Path("/run/containers/networks"), Path("/run/containers"), Path("/var/lib/containers/cache"),
              Path("/var/lib/containers")]  # fmt: skip
BLOCKING_REGISTRIES_CONF = """\
# podrun's bench/compare.py: Podman must never pull; a pull from docker.io fails here instead of leaving the machine.
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"

[[registry]]
location = "docker.io"
blocked = true
"""


def ensure_installed() -> bool:
    """Install Podman (and catatonit) from Debian when absent; True when this run installed something.

    catatonit is named, not left to Recommends: an apt configured without Recommends installs a Podman whose every
    `kube play` fails ("building local pause image: finding pause binary")."""
    missing = [package for package in ("podman", "catatonit") if not shutil.which(package)]
    if not missing:
        return False
    print(f"installing {' and '.join(missing)} from Debian (apt-get install, about 10 s)...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not run(["apt-get", "install", "-y", *missing], env=env, timeout=900, check=False).ok:
        run(["apt-get", "update"], env=env, timeout=900)  # a stale package list: refresh it once
        run(["apt-get", "install", "-y", *missing], env=env, timeout=900)
    return True


def ensure_configured() -> str:
    """`/etc/containers/containers.conf` as the platform notes require; says what was done."""
    if CONTAINERS_CONF.exists():
        try:
            conf = tomllib.loads(CONTAINERS_CONF.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            return f"kept {CONTAINERS_CONF} (unreadable: {e})"
        missing = []
        if not conf.get("containers", {}).get("default_ulimits"):
            missing.append("[containers] default_ulimits")
        if not conf.get("engine", {}).get("runtime"):
            missing.append("[engine] runtime")
        if missing:
            print(f"  warning: {CONTAINERS_CONF} has no {' or '.join(missing)}: Podman may fail on this host "
                  "(see the platform notes); it is left as it is", flush=True)  # fmt: skip
        return f"kept {CONTAINERS_CONF}"
    hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    hard_nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nofile = 1048576 if hard_nofile == resource.RLIM_INFINITY else hard_nofile
    nproc = 32768 if hard_nproc == resource.RLIM_INFINITY else min(32768, hard_nproc)
    CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
    CONTAINERS_CONF.write_text(
        "# Written by podrun's bench/compare.py, as the platform notes say: Podman's defaults fail on this host.\n"
        "# Root cannot raise RLIMIT_NOFILE above the hard limit (Podman asks for 1048576), and crun refuses\n"
        "# cgroups in hybrid mode, so containers get the caller's limits and runc.\n"
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )
    return f"wrote {CONTAINERS_CONF}"


class Podman:
    """`podman` on an isolated storage under `work/podman`, never pulling."""

    def __init__(self, work: Path) -> None:
        self.dir = work / "podman"
        self.storage, self.run_root, self.tmp = self.dir / "storage", self.dir / "run", self.dir / "tmp"
        self.manifests = self.dir / "manifests"
        self.registries_conf = self.dir / "registries.conf"
        self.env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=str(self.registries_conf))
        # Every pod ID seen: Podman leaves pod cgroups behind (name=systemd and unified hierarchies, here), and its
        # event log rotates (1 MB), so the IDs are noted as pods are made and before they are removed.
        self.pod_ids: set[str] = set()
        self.host_paths_before = {path for path in HOST_PATHS if path.exists()}

    def command(self, *args: str) -> list[str]:
        """A podman command line on this storage."""
        return ["podman", "--root", str(self.storage), "--runroot", str(self.run_root), "--tmpdir", str(self.tmp),
                *args]  # fmt: skip

    def __call__(self, *args: str, timeout: float = 120, check: bool = True, stdin: str | None = None) -> Result:
        """Run podman on this storage."""
        return run(self.command(*args), env=self.env, timeout=timeout, check=check, stdin=stdin)

    def version(self) -> str:
        """Podman's version, e.g. `4.3.1`."""
        return self("version", "--format", "{{.Client.Version}}").out.strip()

    def prepare(self, archives: Iterable[Path]) -> dict[str, str]:
        """The storage, registries.conf and the images loaded and tagged under docker.io; {tag: image ID}."""
        for d in (self.storage, self.run_root, self.tmp, self.manifests):
            d.mkdir(parents=True, exist_ok=True)
        self.registries_conf.write_text(BLOCKING_REGISTRIES_CONF)
        for archive in archives:
            self("load", "-i", str(archive), timeout=300)
        images = {}
        for line in self("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").out.splitlines():
            ref, image_id = line.split()
            if ref.startswith("localhost/"):
                tagged = "docker.io/library/" + ref.removeprefix("localhost/")
                self("tag", ref, tagged)
                images[tagged] = image_id[:12]
        return images

    def manifest(self, name: str, text: str) -> Path:
        """Write a manifest where `kube play` and `kube down` can read it."""
        path = self.manifests / f"{name}.yaml"
        path.write_text(text)
        return path

    def play(self, manifest: Path, network: str = "none", timeout: float = 120, check: bool = True) -> Result:
        """`podman kube play --network NETWORK FILE`: returns once it has started the pods (or gave up)."""
        result = self("kube", "play", "--network", network, str(manifest), timeout=timeout, check=check)
        self.pod_ids |= set(re.findall(r"^Pod:\n([0-9a-f]{64})$", result.out, re.MULTILINE))
        return result

    def pod(self, name: str) -> JSON | None:
        """`podman pod inspect NAME`, or None when there is no such pod."""
        result = self("pod", "inspect", name, check=False, timeout=30)
        if not result.ok:
            return None
        doc = json.loads(result.out)
        pod: JSON = doc[0] if isinstance(doc, list) else doc
        self.pod_ids.add(pod["Id"])
        return pod

    def all_running(self, name: str) -> bool:
        """Every container of the pod (its infra included) is running."""
        pod = self.pod(name)
        return bool(pod and pod.get("Containers") and all(c["State"] == "running" for c in pod["Containers"]))

    def containers(self, names: Iterable[str]) -> list[JSON]:
        """`podman container inspect` of the named containers that exist."""
        names = list(names)
        if not names:
            return []
        result = self("container", "inspect", *names, check=False, timeout=30)
        with contextlib.suppress(ValueError):
            return list(json.loads(result.out or "[]"))
        return []

    def note_pods(self) -> None:
        """Note the IDs of the pods that exist now (before they are removed)."""
        self.pod_ids |= set(self("pod", "ps", "-a", "-q", "--no-trunc", check=False, timeout=60).out.split())

    def remove_pod(self, name: str) -> None:
        """The fast teardown: `podman pod stop -t 0 P && podman pod rm P`."""
        self("pod", "stop", "-t", "0", name)
        self("pod", "rm", name)

    def diagnose(self, pod: str, port: int) -> str:
        """Why a pod's published port does not serve, in one line: what a GET gets, whether the port listens, the
        containers' states, and each container's last log line."""
        parts = [f"GET 127.0.0.1:{port}: {http_answer(port)}", f"listening: {listening(port)}"]
        doc = self.pod(pod)
        if doc is None:
            return "; ".join([*parts, f"no pod {pod}"])
        parts.append(f"pod {doc.get('State')}")
        for c in doc.get("Containers") or []:
            log = self("logs", "--tail", "1", c["Id"], check=False, timeout=30)
            last = (log.out.strip() or log.err.strip()).splitlines()[-1:]
            parts.append(f"{c['Name']} {c['State']}: {' '.join(last)[:120]}")
        return "; ".join(parts)

    def start_times(self, pod: str, since: float) -> dict[str, float]:
        """{container name in the pod: Unix time of its last `start` event} since `since` (Unix seconds)."""
        out = self("events", "--stream=false", "--since", str(int(since) - 1), "--filter", "event=start",
                   "--format", "json", timeout=60).out  # fmt: skip
        found = {}
        for line in out.splitlines():
            with contextlib.suppress(ValueError, KeyError):
                event = json.loads(line)
                if event.get("Type") == "container" and event["Name"].startswith(f"{pod}-"):
                    found[event["Name"].removeprefix(f"{pod}-")] = parse_time(event["Time"])
        return found

    def memory(self, pods: int) -> JSON:
        """Memory of Podman's per-pod processes: every container's conmon, and each pod's infra (catatonit)."""
        ids = self("ps", "-q", "--no-trunc").out.split()
        conmons, infra = [], []
        for container in self.containers(ids):
            state = container.get("State", {})
            if state.get("ConmonPid"):
                conmons.append(int(state["ConmonPid"]))
            if container.get("IsInfra") and state.get("Pid"):
                infra.append(int(state["Pid"]))
        doc = memory_of({"conmon": conmons, "infra (catatonit)": infra})
        doc["pods"] = pods
        return doc

    def settle(self, timeout: float = 10) -> None:
        """Wait for the `podman container cleanup` processes conmon starts after exits (they would disturb the next
        timed run); they mention this storage."""
        deadline = time.monotonic() + timeout
        while processes_mentioning([str(self.storage)], comm="podman") and time.monotonic() < deadline:
            time.sleep(0.05)

    def remove_all_pods(self) -> None:
        """Every pod and container on this storage stopped at once and removed (their IDs noted for the cgroup
        sweep); images and volumes stay."""
        self.note_pods()
        for args in (("pod", "stop", "-a", "-t", "0"), ("pod", "rm", "-a", "-f"), ("rm", "-a", "-f", "-t", "0")):
            with contextlib.suppress(BenchError):
                self(*args, check=False, timeout=120)
        self.settle()

    def cleanup(self) -> None:
        """Remove every pod, container, volume and image on this storage (the directory goes afterwards), and the
        pods' cgroups Podman leaves behind (in the name=systemd and unified hierarchies, here)."""
        if not self.storage.exists() or shutil.which("podman") is None:
            return
        self.remove_all_pods()
        for args in (("volume", "rm", "-a", "-f"), ("rmi", "-a", "-f")):
            with contextlib.suppress(BenchError):
                self(*args, check=False, timeout=120)
        self.settle()
        for pod_id in self.pod_ids:
            for pod_cgroup in CGROUP_ROOT.glob(f"*/libpod_parent/{pod_id}"):
                for directory, _, _ in os.walk(pod_cgroup, topdown=False):
                    with contextlib.suppress(OSError):
                        os.rmdir(directory)
        for path in HOST_PATHS:
            if path in self.host_paths_before or not path.is_dir():
                continue
            if path.name == "cache":  # only the blob info cache of this run's `podman load`s
                shutil.rmtree(path, ignore_errors=True)
            with contextlib.suppress(OSError):
                path.rmdir()  # only when empty
