#!/usr/bin/env python3
"""podrun versus Podman's `kube play`: the same manifests under both tools, in one run, alternating.

Podman's `kube play` is what a user picks today to run a Pod manifest without a cluster; the kubelet is the
reference for semantics. This script measures both on the same machine, the same offline images (busybox, nginx
from `scripts/build-test-images`, imported into both) and the same manifests, alternating podrun and Podman runs
so machine noise hits both alike, and prints a table of medians (p90) and ratios (podrun ÷ Podman):

1. pod start: an init container `true` + an app `sleep 3600`, from the command to all containers running:
   `podrun run` (process start to its `1/1 Running` line), `podrun serve` (`kubectl apply` + `kubectl wait
   --for=condition=Ready`; serve started once, untimed) and `podman kube play` (it returns once it started them);
2. init hand-off: three init containers `true`, then the app: first init container's start to the app's start,
   from each tool's own records (podrun: the runtime's `started_at`; Podman: its `start` events, nanoseconds);
3. the seed's multi-container pod (a sidecar writes index.html, nginx serves it) until a GET through a forwarded
   port on 127.0.0.1 returns the file: for podrun `kubectl port-forward` (apply, wait Ready, port-forward, GET),
   and its published `hostIP: 127.0.0.1` hostPort (serve and `podrun run`: a relay into the pod network), for
   Podman the same hostPort (slirp4netns and its port forwarder: no bridge, no firewall rules);
4. N pods (20) of case 1 created at once (one manifest) until all are running (fewer runs: it is slow);
5. teardown of case 1's pod until its containers and sandbox are gone: `kubectl delete --grace-period=0 --force`
   (polling the runtime's records), `podrun run`'s Ctrl-C twice (to its exit, by which it removed everything), and
   `podman pod stop -t 0 && podman pod rm`;
6. memory: RSS (and PSS) of podrun's own processes (serve idle; serve with N pods, its conmons included) against
   Podman's per-pod processes (conmon of every container, the infra's catatonit); Podman has no daemon; under
   the table, serve's idle RSS against issue 12's goal (fresh and after the cases: no growth) beside the floor, an
   interpreter importing what serve must (`compare/memory_floor.py`); after the cases serve is read twice, 11 s
   and (not with --quick: every other run waits ~2 min for it) 140 s after the last, when the watch history
   of the last case has gone, and the growth is split by serve's allocators' figures (`compare/allocators.py`);
7. the scaling curve (`compare/scaling.py`): 1, 10, 50 and 100 pods of case 1 at once under `podrun serve` and
   `podman kube play`: time to all running, to all deleted, RSS at each count, and podrun's cost per extra pod
   (the least-squares slope), with its own chart `scaling-<time>.png` (`--scaling-only`: this case alone);
8. podrun's own goals, in milliseconds (`compare/own_goals.py`): `podrun run` of an init `true` + app `true` pod
   from process start to exit, and six init containers' hand-offs under serve (last log line to the next
   container's first), median and p90. Podman has neither a foreground run nor comparable logs: podrun alone.

After the cases, the floors (`compare/floors.py`): the OCI runtime's own `create` + `start` and `delete`, podrun's
CNI ADD and DEL, the interpreter with `podrun run`'s imports and kubectl's process, each measured alone in the same
run; per case their sum over what each run must do, shown beside podrun's median and issue 12's goal.

Beside the numbers, a feature table from running the same manifests under both (`compare/features.py`): native
sidecar ordering, startupProbe/readinessProbe, postStart/preStop, restartPolicy Never with a failing init
container, CrashLoopBackOff, and init containers under restartPolicy Always, each works / differs (how) /
unsupported, as the script observed it. The raw numbers go to `bench/results/compare-<time>.json` and a chart to
`compare-<time>.png` (matplotlib, installed into the virtualenv when absent; `--no-chart` skips it).

Manifests use `imagePullPolicy: IfNotPresent` and restartPolicy OnFailure: Podman 4.3 restarts an init container
forever under Always (the feature table shows it). Podman runs on its own storage under the work directory with
docker.io blocked, `--network none` except for case 3; podrun's roots have `registries.json` = `{"no_upstream":
["docker.io"]}`. No traffic leaves 127.0.0.1 or the pods' own namespaces. Podman is installed from Debian when
absent, and `/etc/containers/containers.conf` written when absent (as the platform notes require); both stay.
Everything else the run made (pods, containers, images, the serve, the work directory `/tmp/podrun-cmp-*`) is
removed at the end, also after Ctrl-C (exit 130). Timing never changes the exit status: only a crash does. A case
that fails is recorded in the table and the JSON (`failures`), its pods are removed, the other cases run, and
the exit status is 1.

    .venv/bin/python bench/compare.py [--quick] [--podrun-only] [--runs N] [--many-runs N] [--pods N]
                                      [--scaling N,N,..] [--scaling-only] [--cases N,N,..] [--results DIR]
                                      [--no-chart] [--no-features]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import yaml
from compare import floors, memory_floor, own_goals, scaling
from compare.common import JSON, BenchError, free_port, http_get, run, stop_process, to_yaml, wait_until
from compare.features import PodmanTool, PodrunTool, Tool, run_features
from compare.podman_side import Podman, ensure_configured, ensure_installed
from compare.podrun_side import Podrun, PodrunRun, podrun_command
from compare.report import (
    Case,
    Variant,
    chart,
    ensure_matplotlib,
    features_json,
    print_features,
    print_table,
    write_json,
)
from init_handoff import cgroup_pids, leftovers, wait_gone

from podrun.api import burst_end, housekeeping, store
from podrun.runtime import cgroups, linux

REPO = Path(__file__).resolve().parents[1]
SEED_MANIFEST = REPO / "examples" / "multi-container-demo.yaml"
SEED_BODY = b"Hello from sidecar!\n"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CASE_NUMBERS = (1, 2, 3, 4, 7, 8)  # `--cases`: those that run on their own (5 is measured with 1, 6 with 4)
NOTES = {"serve_apply_ms": "serve: `kubectl apply` alone, while the first pods start"}  # Case.extra keys printed


# -- manifests -------------------------------------------------------------------------------------------------


def container(name: str, *command: str) -> JSON:
    """A busybox container with a plain command, never pulled (both tools have the image)."""
    return {"name": name, "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": list(command)}


def start_pod(name: str, inits: int = 1, group: str = "start") -> JSON:
    """Case 1's pod (`inits` init containers `true`, then `sleep 3600`); restartPolicy OnFailure (see above)."""
    init = [container("init" if inits == 1 else f"init-{k}", "true") for k in range(inits)]
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"podrun-cmp": group}},
        "spec": {"restartPolicy": "OnFailure", "initContainers": init,
                 "containers": [container("app", "sleep", "3600")]},
    }  # fmt: skip


def seed_pod(name: str, host_port: int) -> JSON:
    """The seed's multi-container pod, never pulling, with nginx's port published on 127.0.0.1:`host_port` (both
    tools publish it: Podman through slirp4netns' port forwarder, podrun through its relay into the pod network)."""
    doc = yaml.safe_load(SEED_MANIFEST.read_text())
    doc["metadata"]["name"] = name
    # Podman 4.3 makes an emptyDir a volume named after it, and a pod whose emptyDir has the name of a volume that
    # exists uses that one (another pod's, with its files): each pod gets a name of its own.
    volume = f"{name}-data"
    doc["spec"]["volumes"] = [{"name": volume, "emptyDir": {}}]
    for c in doc["spec"]["containers"]:
        c["imagePullPolicy"] = "IfNotPresent"
        if c.get("ports"):
            c["ports"] = [{"containerPort": 80, "hostIP": "127.0.0.1", "hostPort": host_port}]
        for mount in c.get("volumeMounts", []):
            mount["name"] = volume
    return dict(doc)


def image_archives() -> list[Path]:
    """The offline busybox and nginx archives (built by scripts/build-test-images, or found in its cache)."""
    out = run([sys.executable, str(REPO / "scripts" / "build-test-images")], timeout=900).out
    return [Path(line) for line in out.split()]


# -- the comparison --------------------------------------------------------------------------------------------


class Comparison:
    """One run: the work directory, both tools, the cases, and the cleanup."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="podrun-cmp-", dir="/tmp"))
        self.podrun = Podrun(self.work)
        self.podman = None if args.podrun_only else Podman(self.work)
        self.podman_version: str | None = None
        self.cases: list[Case] = []
        self.memory: JSON = {}
        self.features: JSON = {}
        self.scaling: JSON = {}
        self.floors: JSON = {}
        self.floor_sampler: floors.FloorSampler | None = None
        self.setup: JSON = {}
        self.failures: dict[str, str] = {}  # case title → why it failed
        self.libpod_cgroups_before = set(CGROUP_ROOT.glob("*/libpod_parent"))

    def write(self, name: str, text: str) -> Path:
        """A manifest file in the work directory."""
        path = self.work / "manifests" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return path

    # -- setup ---------------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Podman installed and configured, the images in both tools, podrun serve listening."""
        if self.podman is not None:
            self.setup["podman_installed_now"] = ensure_installed()
            self.setup["containers_conf"] = ensure_configured()
            self.podman_version = self.podman.version()
        archives = image_archives()
        print(f"images: {', '.join(a.name for a in archives)}", flush=True)
        self.setup["podrun_images"] = self.podrun.prepare(archives)
        if self.podman is not None:
            self.setup["podman_images"] = self.podman.prepare(archives)
            same = {ref: image_id for ref, image_id in self.setup["podrun_images"].items()
                    if self.setup["podman_images"].get(ref) == image_id}  # fmt: skip
            print(f"same image IDs in both tools: {same}", flush=True)
            if not same:
                raise BenchError(f"podrun and Podman hold different images: {self.setup}")
        self.podrun.start_serve()
        match = re.search(r"OCI runtime (\w+)", self.podrun.serve_log.read_text())
        self.setup["podrun_oci_runtime"] = match.group(1) if match else "?"
        self.floor_sampler = floors.FloorSampler(self.work, shutil.which(self.setup["podrun_oci_runtime"]) or "runc",
                                                 self.podrun.cli_root, self.podrun.env, self.podrun.kubectl_command())
        time.sleep(1)  # let serve settle (its first node update, the store) before its idle memory is read
        self.memory["idle"] = self.idle_reading("6 memory, idle")

    def alternate(
        self, runs: int, variants: dict[str, Callable[[int], None]], case: str, warm_up: bool = True
    ) -> None:
        """Run each variant `runs` times, podrun and Podman alternating (the order flips every round), after one
        untimed warm-up of each (page cache, binaries, Podman's pause image); each round ends with a sample of
        the floors' components, noted under `case`."""
        if warm_up:
            for name, variant in variants.items():
                variant(0)
                print(f"    warm-up {name}: done", flush=True)
        for index in range(1, runs + 1):
            order = list(variants) if index % 2 else list(variants)[::-1]
            for name in order:
                variants[name](index)
            if self.floor_sampler is not None:
                self.floor_sampler.sample(case)
        print(f"    {runs} rounds done", flush=True)

    # -- cases 1 and 5: pod start and teardown -------------------------------------------------------------------

    def case_start(self, runs: int) -> None:
        """Case 1's pod under each front end, timed to running, then torn down, timed (case 5)."""
        start = Case("start", "1 pod start", runs, "init `true` + app `sleep 3600`, command to all running", {
            "run": Variant("podrun", "`podrun run` → 1/1 Running line"),
            "serve": Variant("podrun", "serve: kubectl apply + wait Ready"),
            "podman": Variant("podman", "kube play (returns when started)"),
        })  # fmt: skip
        teardown = Case("teardown", "5 teardown", runs, "case 1's pod, until its containers and sandbox are gone", {
            "run": Variant("podrun", "`podrun run`: Ctrl-C twice → exit"),
            "serve": Variant("podrun", "kubectl delete --grace-period=0 --force"),
            "podman": Variant("podman", "pod stop -t 0 && pod rm"),
        })  # fmt: skip

        def record(key: str, index: int, started: float, removed: float) -> None:
            if index:
                start.variants[key].samples_ms.append(started * 1000)
                teardown.variants[key].samples_ms.append(removed * 1000)

        def with_run(index: int) -> None:
            name = f"start-run-{index}"
            proc = PodrunRun(self.podrun, self.write(name, to_yaml(start_pod(name))))
            running = proc.wait_running({name}) - proc.started
            record("run", index, running, proc.interrupt())

        def with_serve(index: int) -> None:
            name = f"start-serve-{index}"
            began = time.perf_counter()
            self.podrun.kubectl("apply", "-f", "-", stdin=to_yaml(start_pod(name)))
            self.podrun.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=120s")
            running = time.perf_counter() - began
            record("serve", index, running, self.podrun.force_delete(name))

        def with_podman(index: int) -> None:
            assert self.podman is not None
            name = f"start-podman-{index}"
            manifest = self.podman.manifest(name, to_yaml(start_pod(name)))
            began = time.perf_counter()
            self.podman.play(manifest)
            ended = time.perf_counter()
            if not self.podman.all_running(name):  # kube play returned before all ran: poll, timed
                ended = wait_until(lambda: self.podman is not None and self.podman.all_running(name), 60,
                                   interval=0.02, what=f"podman pod {name} running")  # fmt: skip
            began_teardown = time.perf_counter()
            self.podman.remove_pod(name)
            record("podman", index, ended - began, time.perf_counter() - began_teardown)
            self.podman.settle()

        variants: dict[str, Callable[[int], None]] = {"podrun run": with_run, "podrun serve": with_serve}
        if self.podman is not None:
            variants["podman"] = with_podman
        print("case 1 + 5: pod start and teardown", flush=True)
        self.alternate(runs, variants, "start")
        if self.podman is None:
            del start.variants["podman"], teardown.variants["podman"]
        self.cases += [start, teardown]

    # -- case 2: init hand-off -----------------------------------------------------------------------------------

    def case_handoff(self, runs: int) -> None:
        """Three init containers `true` then the app: first init start to app start, from each tool's records."""
        case = Case("handoff", "2 init hand-off", runs, "3 init `true` then app: init-0 start → app start", {
            "serve": Variant("podrun", "runtime records (started_at)"),
            "podman": Variant("podman", "kube play, `start` events"),
        })  # fmt: skip

        def with_serve(index: int) -> None:
            name = f"handoff-serve-{index}"
            self.podrun.kubectl("apply", "-f", "-", stdin=to_yaml(start_pod(name, inits=3)))
            self.podrun.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=120s")
            pod = self.podrun.pod(name)
            assert pod is not None
            records = self.podrun.pod_records(pod["metadata"]["uid"])
            if index:
                gap = records["app"]["started_at"] - records["init-0"]["started_at"]
                case.variants["serve"].samples_ms.append(gap * 1000)
            self.podrun.force_delete(name)

        def with_podman(index: int) -> None:
            assert self.podman is not None
            name = f"handoff-podman-{index}"
            since = time.time()
            self.podman.play(self.podman.manifest(name, to_yaml(start_pod(name, inits=3))))
            starts = self.podman.start_times(name, since)
            if index:
                if "app" not in starts or "init-0" not in starts:
                    raise BenchError(f"podman events lack starts of {name}: {starts}")
                case.variants["podman"].samples_ms.append((starts["app"] - starts["init-0"]) * 1000)
            self.podman.remove_pod(name)
            self.podman.settle()

        variants: dict[str, Callable[[int], None]] = {"podrun serve": with_serve}
        if self.podman is not None:
            variants["podman"] = with_podman
        else:
            del case.variants["podman"]
        print("case 2: init hand-off", flush=True)
        self.alternate(runs, variants, "handoff")
        self.cases.append(case)

    # -- case 3: the seed's multi-container pod through a forwarded port ----------------------------------------

    def case_seed(self, runs: int) -> None:
        """Until `GET /` through a forwarded port on 127.0.0.1 returns what the sidecar wrote."""
        case = Case("seed", "3 seed multi-container, HTTP", runs, "sidecar writes index.html, nginx serves it", {
            "serve": Variant("podrun", "serve: apply, wait, port-forward, GET"),
            "hostport": Variant("podrun", "serve: apply, GET via hostPort"),
            "run": Variant("podrun", "`podrun run`, GET via hostPort"),
            "podman": Variant("podman", "kube play (slirp4netns, hostPort), GET"),
        })  # fmt: skip

        def with_serve(index: int) -> None:
            name = f"seed-serve-{index}"
            began = time.perf_counter()
            self.podrun.kubectl("apply", "-f", "-", stdin=to_yaml(seed_pod(name, free_port())))
            self.podrun.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=120s")
            ended = self.get_through_port_forward(name)
            if index:
                case.variants["serve"].samples_ms.append((ended - began) * 1000)
            self.podrun.force_delete(name)

        def with_hostport(index: int) -> None:
            name, port = f"seed-hostport-{index}", free_port()
            began = time.perf_counter()
            self.podrun.kubectl("apply", "-f", "-", stdin=to_yaml(seed_pod(name, port)))
            ended = wait_until(lambda: http_get(port) == SEED_BODY, 60, interval=0.01, what=f"{name} serving")
            if index:
                case.variants["hostport"].samples_ms.append((ended - began) * 1000)
            self.podrun.force_delete(name)

        def with_run(index: int) -> None:
            name, port = f"seed-run-{index}", free_port()
            proc = PodrunRun(self.podrun, self.write(name, to_yaml(seed_pod(name, port))))
            ended = wait_until(lambda: proc.proc.poll() is not None or http_get(port) == SEED_BODY, 60,
                               interval=0.01, what=f"{name} serving")  # fmt: skip
            if proc.proc.poll() is not None:
                raise BenchError(f"podrun run of {name} exited {proc.proc.returncode}: {proc.stderr.seen[-3:]}")
            if index:
                case.variants["run"].samples_ms.append((ended - proc.started) * 1000)
            proc.interrupt()

        def with_podman(index: int) -> None:
            assert self.podman is not None
            name = f"seed-podman-{index}"
            port = free_port()
            manifest = self.podman.manifest(name, to_yaml(seed_pod(name, port)))
            began = time.perf_counter()
            self.podman.play(manifest, network="slirp4netns")
            try:
                ended = wait_until(lambda: http_get(port) == SEED_BODY, 60, interval=0.01, what=f"{name} serving")
            except BenchError as e:
                raise BenchError(f"{e}: {self.podman.diagnose(name, port)}") from e
            if index:
                case.variants["podman"].samples_ms.append((ended - began) * 1000)
            self.podman.remove_pod(name)
            self.podman.settle()

        variants: dict[str, Callable[[int], None]] = {
            "podrun serve": with_serve, "podrun serve, hostPort": with_hostport, "podrun run": with_run,
        }  # fmt: skip
        if self.podman is not None:
            variants["podman"] = with_podman
        else:
            del case.variants["podman"]
        print("case 3: the seed's multi-container pod, GET through a forwarded port", flush=True)
        self.alternate(runs, variants, "seed")
        self.cases.append(case)

    def get_through_port_forward(self, name: str, timeout: float = 60) -> float:
        """`kubectl port-forward` to nginx's port 80, GET until the sidecar's file comes back; when it did.

        nginx may not listen yet when the pod is Ready (no readiness probe): kubectl then reports the refused
        connection, and some versions exit; a new port-forward is started then."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            proc, port = self.podrun.port_forward(name, 80)
            try:
                while proc.poll() is None and time.perf_counter() < deadline:
                    if http_get(port) == SEED_BODY:
                        return time.perf_counter()
                    time.sleep(0.01)
            finally:
                stop_process(proc)
        raise BenchError(f"{name}: no {SEED_BODY!r} through kubectl port-forward within {timeout:.0f} s")

    # -- case 4 (and 6): N pods at once --------------------------------------------------------------------------

    def case_many(self, runs: int, pods: int) -> None:
        """N pods of case 1 in one manifest, until all run; memory sampled then (case 6)."""
        case = Case("many", f"4 {pods} pods at once", runs, f"{pods} x case 1's pod in one manifest, to all running", {
            "run": Variant("podrun", "`podrun run` → all 1/1 Running"),
            "serve": Variant("podrun", "serve: kubectl apply, get until Ready"),
            "podman": Variant("podman", "kube play (returns when started)"),
        })  # fmt: skip
        samples: dict[str, list[JSON]] = {"podrun serve": [], "podrun run": [], "podman": []}
        apply_ms: list[float] = []  # of the serve variant: `kubectl apply` alone (the API answers slowly meanwhile)

        def manifest(tag: str, index: int) -> tuple[str, list[str]]:
            names = [f"many-{tag}-{index}-{k}" for k in range(pods)]
            return to_yaml(*(start_pod(n, group=f"many-{tag}-{index}") for n in names)), names

        def with_run(index: int) -> None:
            text, names = manifest("run", index)
            proc = PodrunRun(self.podrun, self.write(f"many-run-{index}", text))
            running = proc.wait_running(set(names), timeout=300) - proc.started
            if index:
                case.variants["run"].samples_ms.append(running * 1000)
                samples["podrun run"].append(proc.memory(pods))
            proc.interrupt(timeout=180)

        def with_serve(index: int) -> None:
            # Not `kubectl wait`: it waits for the pods one after another (+1.6 s for 20 here); `kubectl get` polls.
            text, _ = manifest("serve", index)
            selector = f"podrun-cmp=many-serve-{index}"
            began = time.perf_counter()
            self.podrun.kubectl("apply", "-f", "-", stdin=text)
            applied = time.perf_counter()
            ended = wait_until(lambda: self.podrun.all_ready(selector, pods), 300, interval=0.02,
                               what=f"{pods} serve pods Ready")  # fmt: skip
            if index:
                case.variants["serve"].samples_ms.append((ended - began) * 1000)
                apply_ms.append((applied - began) * 1000)
                samples["podrun serve"].append(self.podrun.memory(pods))
            self.podrun.sandbox_ids |= self.podrun.sandboxes_on_disk()
            self.podrun.delete_all_pods()

        def with_podman(index: int) -> None:
            assert self.podman is not None
            text, names = manifest("podman", index)
            path = self.podman.manifest(f"many-podman-{index}", text)
            began = time.perf_counter()
            self.podman.play(path, timeout=600)
            ended = time.perf_counter()
            if not all(self.podman.all_running(n) for n in names):
                ended = wait_until(lambda: self.podman is not None and all(self.podman.all_running(n) for n in names),
                                   120, interval=0.05, what="podman pods running")  # fmt: skip
            if index:
                case.variants["podman"].samples_ms.append((ended - began) * 1000)
                samples["podman"].append(self.podman.memory(pods))
            self.podman.note_pods()
            self.podman("pod", "stop", "-a", "-t", "0", timeout=300)
            self.podman("pod", "rm", "-a", timeout=300)
            self.podman.settle()

        variants: dict[str, Callable[[int], None]] = {"podrun run": with_run, "podrun serve": with_serve}
        if self.podman is not None:
            variants["podman"] = with_podman
        else:
            del case.variants["podman"]
        print(f"case 4 + 6: {pods} pods at once (and their memory)", flush=True)
        self.alternate(runs, variants, "many", warm_up=False)  # case 1 warmed everything up
        self.cases.append(case)
        case.extra["serve_apply_ms"] = apply_ms
        median = {tool: sorted(s, key=lambda d: d["rss_mib"])[len(s) // 2] for tool, s in samples.items() if s}
        self.memory["many"] = {"pods": pods, **{k: median[k] for k in ("podrun serve", "podman") if k in median},
                               "samples": {k: samples[k] for k in ("podrun serve", "podman")}}  # fmt: skip
        self.memory["many_run"] = {"pods": pods, **{k: median[k] for k in ("podrun run", "podman") if k in median},
                                   "samples": {k: samples[k] for k in ("podrun run",)}}  # fmt: skip

    # -- case 7: the scaling curve ------------------------------------------------------------------------------

    def case_scaling(self, counts: list[int]) -> None:
        """N pods of case 1 at once for each N in `counts` (see compare/scaling.py)."""
        print(f"case 7: scaling, {', '.join(map(str, counts))} pods at once", flush=True)

        def pod(name: str, group: str) -> JSON:
            return start_pod(name, group=group)

        self.scaling = scaling.measure(self.podrun, self.podman, counts, pod)

    # -- case 8: podrun's own goals ------------------------------------------------------------------------------

    def case_own(self, runs: int, measured: tuple[Case, Callable[[int], None]]) -> None:
        """One of podrun's own goals (compare/own_goals.py): its case and the podrun variant that samples it."""
        case, variant = measured
        print(f"case {case.title}", flush=True)
        self.alternate(runs, {case.variants[next(iter(case.variants))].label: variant}, case.key)
        self.cases.append(case)

    # -- features ------------------------------------------------------------------------------------------------

    def case_features(self) -> None:
        """The feature table (both tools side by side, see compare/features.py)."""
        print("features: the same manifests under both tools", flush=True)
        tools: list[Tool] = [PodrunTool(self.podrun, self.work)]
        if self.podman is not None:
            tools.append(PodmanTool(self.podman, self.work))
        self.features = run_features(tools, self.args.quick)

    # -- the whole run -------------------------------------------------------------------------------------------

    def measure(self) -> None:
        """Every case, in order."""
        quick = self.args.quick
        runs, many_runs, pods = (2, 1, 3) if quick else (self.args.runs, self.args.many_runs, self.args.pods)
        self.prepare()
        self.setup.update(self.environment())  # now: the podrun CLI writes bytecode into the work directory
        counts = self.args.scaling or list(scaling.QUICK_COUNTS if quick else scaling.COUNTS)
        if self.args.scaling_only:
            self.attempt(("7 scaling",), lambda: self.case_scaling(counts))
            self.judge_memory()
            return
        chosen = set(self.args.cases or CASE_NUMBERS)
        if 1 in chosen:
            self.attempt(("1 pod start", "5 teardown"), lambda: self.case_start(runs))
        if 2 in chosen:
            self.attempt(("2 init hand-off",), lambda: self.case_handoff(runs))
        if 3 in chosen:
            self.attempt(("3 seed multi-container, HTTP",), lambda: self.case_seed(runs))
        if 4 in chosen:
            self.attempt((f"4 {pods} pods at once",), lambda: self.case_many(many_runs, pods))
        if 7 in chosen:
            self.attempt(("7 scaling",), lambda: self.case_scaling(counts))
        if 8 in chosen:
            own = own_goals.OwnGoals(self.podrun, self.write)
            self.attempt(("8 podrun run to exit",), lambda: self.case_own(runs, own.run_to_exit(runs)))
            self.attempt((f"8 init hand-off, {own_goals.INITS} inits",), lambda: self.case_own(runs, own.handoff(runs)))
        self.judge_memory()
        self.judge_goals(pods)
        if not self.args.no_features and not self.args.cases:
            self.case_features()

    def judge_memory(self) -> None:
        """serve's idle memory after the cases, the floor under it and the goal's verdict (compare/memory_floor.py).

        "After the work" is serve left idle, not serve still busy with the last case's teardown: the first reading
        waits out the burst-end look that compacts the store and trims the heap once a burst of pods has gone
        (`podrun.api.burst_end`: the pod count is looked at every few seconds, the end seen on the second look).
        The second (not with --quick) waits until the watch history of the last case's changes is gone too (kept
        `HISTORY_AGE` seconds, as a watch cache keeps them, and dropped by the sweep after that, at most
        `MAX_INTERVAL` later).
        """
        ended = time.monotonic()
        time.sleep(2 * burst_end.CHECK_INTERVAL + 1)
        self.memory["idle_after"] = self.idle_reading("6 memory, idle after the run")
        if not self.args.quick:
            wait = max(0.0, ended + store.HISTORY_AGE + housekeeping.MAX_INTERVAL + 5 - time.monotonic())
            print(f"waiting {wait:.0f} s more for serve's watch history to go", flush=True)
            time.sleep(wait)
            self.memory["idle_settled"] = self.idle_reading("6 memory, idle, watch history gone")
        self.memory["floor"] = memory_floor.floor(self.podrun.env)
        self.memory["verdict"] = memory_floor.verdict(self.memory)

    def idle_reading(self, title: str) -> JSON:
        """serve's memory with no pod, and its allocators' figures (`compare/allocators.py`); a reading of those
        that fails is recorded under `title` and left out, the RSS stays."""
        reading: JSON = {"podrun serve": self.podrun.memory(0), "pods": 0}
        try:
            reading["allocators"] = self.podrun.allocator_stats()
        except BenchError as e:
            self.failures[title] = str(e)
        return reading

    def judge_goals(self, pods: int) -> None:
        """The floors sampled during the cases (compare/floors.py), and each goal beside podrun's median and floor."""
        if self.floor_sampler is None:
            return
        self.floors = self.floor_sampler.document()
        cases = [{"key": case.key, **case.to_json()} for case in self.cases]
        self.floors["goals"] = floors.goals(cases, self.floors, pods, os.cpu_count() or 1)

    def attempt(self, titles: tuple[str, ...], case: Callable[[], None]) -> None:
        """Run one case. A failure is recorded under the case's titles (for the table and the JSON), the pods the
        case left under both tools are removed, and the run goes on with the next case."""
        try:
            case()
        except (BenchError, subprocess.SubprocessError, OSError) as e:
            for title in titles:
                self.failures[title] = str(e)
            print(f"    FAILED: {e}; removing what the case left and going on", flush=True)
            self.clean_after_failure()

    def clean_after_failure(self) -> None:
        """Every pod of both tools removed (`podrun run` children stopped, serve's pods deleted, Podman's pods
        removed); serve and the images stay for the next case."""
        with contextlib.suppress(Exception):
            self.podrun.stop_children()
        with contextlib.suppress(Exception):
            self.podrun.delete_all_pods(60)
        if self.podman is not None:
            with contextlib.suppress(Exception):
                self.podman.remove_all_pods()

    def cleanup(self) -> JSON:
        """Remove everything both tools made; return what was still there for the sweep (for the record)."""
        if self.floor_sampler is not None:
            with contextlib.suppress(Exception):
                self.floor_sampler.close()
        with contextlib.suppress(Exception):
            self.podrun.cleanup()
        if self.podman is not None:
            with contextlib.suppress(Exception):
                self.podman.cleanup()
        self.podrun.sandbox_ids |= self.podrun.sandboxes_on_disk()
        left = leftovers(self.work, self.podrun.sandbox_ids)
        if self.podman is not None:
            ids = self.podman.pod_ids
            left["podman_cgroups"] = [str(p) for i in ids for p in CGROUP_ROOT.glob(f"*/libpod_parent/{i}")]
        pids = {int(p) for p in left["processes"]} | cgroup_pids(self.podrun.sandbox_ids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        wait_gone(pids, 5)
        for sandbox_id in self.podrun.sandbox_ids:
            cgroups.remove_sandbox_cgroups(sandbox_id)
        # Podman makes /sys/fs/cgroup/*/libpod_parent for its pods; remove it when this run made it and it is empty.
        for made in set(CGROUP_ROOT.glob("*/libpod_parent")) - self.libpod_cgroups_before:
            with contextlib.suppress(OSError):
                made.rmdir()
        linux.unmount_all_under(self.work)
        if not linux.mounts_under(self.work):  # never rm -rf through a mount
            shutil.rmtree(self.work, ignore_errors=True)
        return left

    def environment(self) -> JSON:
        """What ran where."""
        runc = run(["runc", "--version"], check=False).out.splitlines()
        return {
            "podrun": run([*podrun_command(), "--version"], check=False, env=self.podrun.env).out.strip(),
            "podman": self.podman_version, "runc": runc[0] if runc else None, "kernel": platform.release(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
        }  # fmt: skip

    def document(self, left: JSON, load_before: tuple[float, ...], started: datetime) -> JSON:
        """The raw numbers."""
        return {
            "benchmark": "compare", "started": started.isoformat(timespec="seconds"), "quick": self.args.quick,
            "environment": self.setup, "load_before": load_before, "load_after": os.getloadavg(),
            "cases": {case.key: case.to_json() for case in self.cases}, "memory": self.memory,
            "scaling": self.scaling, "floors": self.floors,
            "features": features_json(self.features), "failures": self.failures, "work_dir": str(self.work),
            "sandbox_ids": sorted(self.podrun.sandbox_ids), "leftovers": left,
        }  # fmt: skip


def case_numbers(text: str) -> list[int]:
    """`--cases 1,3`: case numbers that run on their own (5 comes with 1, 6 with 4)."""
    numbers = [int(n) for n in text.split(",")]
    if not set(numbers) <= set(CASE_NUMBERS):
        raise argparse.ArgumentTypeError(f"cases are {', '.join(map(str, CASE_NUMBERS))} (5 runs with 1, 6 with 4)")
    return numbers


def main() -> int:
    """Command line; see the module's docstring."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs of cases 1, 2, 3, 5 per variant (10)")
    parser.add_argument("--many-runs", type=int, default=5, help="timed runs of case 4 per variant (5)")
    parser.add_argument("--pods", type=int, default=20, help="pods of case 4 (20)")
    parser.add_argument(
        "--scaling",
        type=lambda text: [int(n) for n in text.split(",")],
        help="pod counts of the scaling curve (1,10,50,100; --quick: 1,3)",
    )
    parser.add_argument("--scaling-only", action="store_true", help="only the scaling curve (case 7)")
    parser.add_argument(
        "--cases",
        type=case_numbers,
        help="only these cases, e.g. 1,3 (1 includes 5, 4 includes 6; no feature table)",
    )
    parser.add_argument("--quick", action="store_true", help="2 runs, 3 pods, short CrashLoop window: checks it works")
    parser.add_argument("--podrun-only", action="store_true", help="podrun alone: no Podman (installed or run)")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results", help="where JSON and PNG go")
    parser.add_argument("--no-chart", action="store_true", help="no PNG (and no matplotlib install)")
    parser.add_argument("--no-features", action="store_true", help="numbers only, no feature table")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (podrun and Podman run containers: namespaces, mounts, cgroups)")
    missing = [tool for tool in ("kubectl", "conmon", "runc") if shutil.which(tool) is None]
    if missing:
        parser.error(f"missing on PATH: {', '.join(missing)} (scripts/test installs what podrun needs)")

    started, load_before = datetime.now(), os.getloadavg()
    comparison = Comparison(args)
    print(f"work directory: {comparison.work}", flush=True)
    interrupted = False
    failure: BaseException | None = None
    try:
        comparison.measure()
    except KeyboardInterrupt:
        interrupted = True
    except (BenchError, subprocess.SubprocessError, OSError) as e:
        failure = e
    finally:
        print("cleaning up: every pod, container, image and directory this run made ...", flush=True)
        left = comparison.cleanup()
    comparison.cases.sort(key=lambda case: case.title)  # 1 pod start, 2 init hand-off, ... 5 teardown
    if any(left.values()):
        print(f"  warning: left behind after the run, removed by the sweep: {left}", file=sys.stderr)
    if interrupted:
        print("interrupted: everything removed", file=sys.stderr)
        return 130
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    status = 1 if comparison.failures else 0  # after the table and the JSON, which say which case failed

    print()
    print(f"podrun vs Podman {comparison.podman_version or '(not run: --podrun-only)'} on {os.cpu_count()} CPUs, "
          f"load {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after; medians (p90)")  # fmt: skip
    print_table(comparison.cases, comparison.memory, comparison.podman_version, comparison.failures)
    memory_floor.print_verdict(comparison.memory)
    for case in comparison.cases:
        for key, values in case.extra.items():
            if values and key in NOTES:
                print(f"  ({case.title}, {NOTES[key]}: median {statistics.median(values):.0f} ms of {len(values)})")
    if comparison.floors:
        print()
        print("floors: what the parts cost alone (medians), and each goal beside podrun's median and its floor")
        floors.print_floors(comparison.floors, comparison.floors.get("goals", []))
    if comparison.scaling:
        print()
        print("7 scaling: N pods at once (serve + kubectl vs kube play), podrun / Podman (ratio)")
        scaling.print_scaling(comparison.scaling)
    if comparison.features:
        print()
        print("features (the same manifests, observed):")
        print_features(comparison.features)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    doc = comparison.document(left, load_before, started)
    json_path = args.results / f"compare-{stamp}.json"
    write_json(json_path, doc)
    print()
    print(f"raw numbers: {json_path}")
    if args.no_chart:
        return status
    if ensure_matplotlib(install=not args.quick):
        png = args.results / f"compare-{stamp}.png"
        if comparison.cases:
            chart(png, comparison.cases, comparison.memory, comparison.podman_version)
            print(f"chart: {png}")
        if comparison.scaling:
            curve = args.results / f"scaling-{stamp}.png"
            scaling.chart(curve, comparison.scaling, comparison.podman_version)
            print(f"scaling chart: {curve}")
    else:
        print("chart: skipped (matplotlib is not installed: `.venv/bin/pip install matplotlib`)")
    return status


if __name__ == "__main__":
    sys.exit(main())
