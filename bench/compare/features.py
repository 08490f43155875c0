"""The feature table: the same manifests run under podrun (serve + kubectl) and Podman (`kube play`), judged by
what each tool then shows, against what the kubelet does.

Each check starts one pod, watches it through the tool's own view (podrun: the API's pod status and the runtime's
container records; Podman: `pod inspect`, `container inspect`, `logs`), and says **works**, **differs** (how) or
**unsupported** (refused, ignored, or hung). The expectations are the kubelet's:

* native sidecar: an init container with `restartPolicy: Always` and a startupProbe starts first, the app starts
  only once the probe passed (it sees the file the probe checks), the sidecar runs beside the app, and it is stopped
  after the app ended, the pod then Succeeded;
* startupProbe / readinessProbe: the container is neither started nor ready until its startup probe passes, then
  started but not ready until its readiness probe passes, then ready;
* postStart / preStop: postStart runs right after the start; on deletion preStop runs, before the SIGTERM;
* restartPolicy Never with a failing init container: it runs once, the app never starts, the pod is Failed;
* CrashLoopBackOff: a crashing container is restarted at once the first time, then after 10 s, then 20 s
  (doubling), and shown as CrashLoopBackOff while it waits;
* init containers under restartPolicy Always (the default): each runs once, then the app runs.

Both tools run each check at the same time (threads; the pods are named alike but live in different tools).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from compare.common import JSON, BenchError, parse_time, to_yaml
from compare.podman_side import Podman
from compare.podrun_side import Podrun
from podrun.kubelet import labels

WORKS, DIFFERS, UNSUPPORTED, ERROR = "works", "differs", "unsupported", "error"


@dataclasses.dataclass
class Started:
    """How the tool took the pod: accepted (`ok`), or refused (`message`), or never returned (`hung`)."""

    ok: bool
    hung: bool = False
    message: str = ""


@dataclasses.dataclass
class Container:
    """One container as a tool shows it, normalised: state is running, terminated, waiting, created or absent."""

    state: str
    exit_code: int | None = None
    restarts: int = 0
    reason: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    started: bool | None = None  # the kubelet's `started` (startup probe); None: the tool has no such notion
    ready: bool | None = None


@dataclasses.dataclass
class PodView:
    """A pod as a tool shows it: its phase (Podman: the pod's state) and its containers by name."""

    phase: str
    containers: dict[str, Container]

    def get(self, name: str) -> Container:
        """A container, or an `absent` one."""
        return self.containers.get(name, Container("absent"))


@dataclasses.dataclass
class Verdict:
    """One cell of the feature table."""

    status: str
    how: str
    evidence: JSON = dataclasses.field(default_factory=dict)


class Tool(Protocol):
    """What a check needs from a tool."""

    name: str
    hooks_dir: Path

    def start(self, pod: JSON, timeout: float) -> Started:
        """Create and start the pod."""
        ...

    def view(self, name: str) -> PodView:
        """The pod now."""
        ...

    def logs(self, pod: str, container: str) -> str:
        """A container's output."""
        ...

    def delete(self, pod: str) -> str:
        """The user's graceful deletion; says which command it was."""
        ...

    def remove(self, pod: str) -> None:
        """Remove the pod at once, whatever its state (the end of every check)."""
        ...

    def extra(self, pod: str, container: str) -> JSON:
        """Tool-specific evidence about a container's configuration."""
        ...


# -- the tools -------------------------------------------------------------------------------------------------


class PodrunTool:
    """podrun serve through kubectl; precise times from the runtime's container records."""

    name = "podrun"

    def __init__(self, podrun: Podrun, work: Path) -> None:
        self.podrun = podrun
        self.hooks_dir = work / "hooks-podrun"
        self.hooks_dir.mkdir(exist_ok=True)
        self._times: dict[tuple[str, str], tuple[float | None, float | None]] = {}

    def start(self, pod: JSON, timeout: float) -> Started:
        """`kubectl apply -f -`."""
        try:
            self.podrun.kubectl("apply", "-f", "-", stdin=to_yaml(pod), timeout=timeout)
        except BenchError as e:
            return Started(False, message=str(e))
        return Started(True)

    def view(self, name: str) -> PodView:
        """`kubectl get pod -o json`, with start and finish times from the runtime records (sub-second) while they
        exist: the kubelet removes a finished pod's containers, so the times seen are kept, and the API's (whole
        seconds) used when none was seen."""
        pod = self.podrun.pod(name)
        if pod is None:
            return PodView("absent", {})
        status = pod.get("status") or {}
        for container, record in self.podrun.pod_records(pod["metadata"]["uid"]).items():
            key = (pod["metadata"]["uid"], container)
            seen = self._times.get(key, (None, None))
            self._times[key] = (record.get("started_at") or seen[0], record.get("finished_at") or seen[1])
        found = {}
        for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            kind = next(iter(state), "waiting")
            detail = state.get(kind) or {}
            started_at, finished_at = self._times.get((pod["metadata"]["uid"], cs["name"]), (None, None))
            if started_at is None and detail.get("startedAt"):
                started_at = parse_time(detail["startedAt"])
            if finished_at is None and detail.get("finishedAt"):
                finished_at = parse_time(detail["finishedAt"])
            found[cs["name"]] = Container(
                state=kind, exit_code=detail.get("exitCode"), restarts=cs.get("restartCount", 0),
                reason=detail.get("reason", ""), started_at=started_at, finished_at=finished_at,
                started=cs.get("started"), ready=cs.get("ready"),
            )  # fmt: skip
        return PodView(status.get("phase", ""), found)

    def logs(self, pod: str, container: str) -> str:
        """`kubectl logs POD -c CONTAINER`."""
        return self.podrun.kubectl("logs", pod, "-c", container, check=False, timeout=30)

    def delete(self, pod: str) -> str:
        """`kubectl delete pod POD` (its grace period; waits until it is gone)."""
        self.podrun.kubectl("delete", "pod", pod, "--timeout=90s", timeout=100)
        return "kubectl delete pod"

    def remove(self, pod: str) -> None:
        """Force-delete and wait until the runtime holds none of its containers."""
        self.podrun.kubectl("delete", "pod", pod, "--grace-period=0", "--force", "--ignore-not-found",
                            "--wait=false", check=False, timeout=60)  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
            r.get("labels", {}).get(labels.POD_NAME) == pod for r in self.podrun.records()
        ):
            time.sleep(0.1)

    def extra(self, pod: str, container: str) -> JSON:
        """Nothing beyond the pod status."""
        return {}


class PodmanTool:
    """Podman's `kube play` on the benchmark's storage, `--network none`."""

    name = "podman"

    def __init__(self, podman: Podman, work: Path) -> None:
        self.podman = podman
        self.hooks_dir = work / "hooks-podman"
        self.hooks_dir.mkdir(exist_ok=True)
        self.files: dict[str, Path] = {}

    def start(self, pod: JSON, timeout: float) -> Started:
        """`podman kube play --network none FILE`, killed when it does not return within `timeout`."""
        name = pod["metadata"]["name"]
        self.files[name] = self.podman.manifest(f"feature-{name}", to_yaml(pod))
        result = self.podman.play(self.files[name], timeout=timeout, check=False)
        if result.code is None:
            return Started(False, hung=True, message=f"kube play did not return within {timeout:.0f} s")
        if not result.ok:
            return Started(False, message=result.err.strip().splitlines()[-1] if result.err.strip() else result.why())
        return Started(True)

    def view(self, name: str) -> PodView:
        """`podman pod inspect` and `podman container inspect` of its containers (the infra as `(infra)`)."""
        pod = self.podman.pod(name)
        if pod is None:
            return PodView("absent", {})
        infra = pod.get("InfraContainerID")
        found = {}
        for doc in self.podman.containers(c["Name"] for c in pod.get("Containers") or []):
            state = doc.get("State", {})
            status = state.get("Status", "")
            kind = {"running": "running", "exited": "terminated", "stopped": "terminated"}.get(status, status)
            found["(infra)" if doc["Id"] == infra else doc["Name"].removeprefix(f"{name}-")] = Container(
                state=kind, exit_code=state.get("ExitCode") if kind == "terminated" else None,
                restarts=int(doc.get("RestartCount") or 0), reason=status,
                started_at=_podman_time(state.get("StartedAt")), finished_at=_podman_time(state.get("FinishedAt")),
            )  # fmt: skip
        return PodView(pod.get("State", ""), found)

    def logs(self, pod: str, container: str) -> str:
        """`podman logs POD-CONTAINER`."""
        result = self.podman("logs", f"{pod}-{container}", check=False, timeout=30)
        return result.out + result.err

    def delete(self, pod: str) -> str:
        """`podman kube down FILE`: what a user of `kube play` runs."""
        self.podman("kube", "down", str(self.files[pod]), timeout=120, check=False)
        return "podman kube down"

    def remove(self, pod: str) -> None:
        """`pod stop -t 0` and `pod rm -f`, ignoring a pod already gone."""
        self.podman.note_pods()
        self.podman("pod", "stop", "-t", "0", pod, check=False, timeout=60)
        self.podman("pod", "rm", "-f", pod, check=False, timeout=60)

    def extra(self, pod: str, container: str) -> JSON:
        """The health check Podman configured for the container (where it would map probes)."""
        docs = self.podman.containers([f"{pod}-{container}"])
        return {"healthcheck": docs[0].get("Config", {}).get("Healthcheck") if docs else None}


def _podman_time(stamp: str | None) -> float | None:
    """A Podman time stamp, None for Go's zero time (never happened)."""
    if not stamp or stamp.startswith("0001-"):
        return None
    return parse_time(stamp)


# -- manifests -------------------------------------------------------------------------------------------------


def busybox(name: str, script: str, **extra: Any) -> JSON:
    """A busybox container running `sh -c SCRIPT`, never pulled (both tools have the image)."""
    return {"name": name, "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", script],
            **extra}  # fmt: skip


def pod(name: str, restart_policy: str, containers: list[JSON], init: list[JSON] | None = None,
        volumes: list[JSON] | None = None) -> JSON:  # fmt: skip
    """A Pod manifest."""
    spec: JSON = {"restartPolicy": restart_policy}
    if volumes:
        spec["volumes"] = volumes
    if init:
        spec["initContainers"] = init
    spec["containers"] = containers
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


SHARED = {"volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}
EMPTY_DIR = [{"name": "shared", "emptyDir": {}}]


def sidecar_pod(with_probe: bool = True) -> JSON:
    """A native sidecar gated by its startupProbe, and an app that reports whether the sidecar was ready."""
    probe = {"startupProbe": {"exec": {"command": ["cat", "/shared/ready"]}, "periodSeconds": 1}} if with_probe else {}
    sidecar = busybox("sidecar", 'sleep 1; touch /shared/ready; trap "exit 0" TERM; while true; do sleep 0.2; done',
                      restartPolicy="Always", **SHARED, **probe)  # fmt: skip
    app = busybox("app", "if test -e /shared/ready; then echo sidecar-ready; else echo sidecar-not-ready; fi; sleep 3",
                  **SHARED)  # fmt: skip
    return pod("f-sidecar", "Never", [app], init=[sidecar], volumes=EMPTY_DIR)


def probes_pod() -> JSON:
    """Started after ~2 s (startupProbe), ready after ~4 s (readinessProbe)."""
    app = busybox(
        "app",
        "sleep 2; touch /tmp/started; sleep 2; touch /tmp/ready; exec sleep 3600",
        startupProbe={"exec": {"command": ["cat", "/tmp/started"]}, "periodSeconds": 1, "failureThreshold": 30},
        readinessProbe={"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1},
    )
    return pod("f-probes", "OnFailure", [app])


def hooks_pod(directory: Path) -> JSON:
    """postStart and preStop append to a file on the host (hostPath), as does the app at start and on SIGTERM."""
    app = busybox(
        "app",
        'trap "echo term >> /out/events; exit 0" TERM; echo main >> /out/events; while true; do sleep 0.2; done',
        volumeMounts=[{"name": "out", "mountPath": "/out"}],
        lifecycle={
            "postStart": {"exec": {"command": ["sh", "-c", "echo postStart >> /out/events"]}},
            "preStop": {"exec": {"command": ["sh", "-c", "echo preStop >> /out/events"]}},
        },
    )
    volume = {"name": "out", "hostPath": {"path": str(directory), "type": "Directory"}}
    return pod("f-hooks", "OnFailure", [app], volumes=[volume])


def failing_init_pod() -> JSON:
    """examples/failing-init.yaml: an init container exits 3 under restartPolicy Never."""
    init = busybox("check-config", 'echo "config missing" >&2; exit 3')
    return pod("failing-init", "Never", [busybox("app", 'echo "never printed"')], init=[init])


def crashloop_pod() -> JSON:
    """A container that exits 1 at once, under restartPolicy Always."""
    return pod("f-crash", "Always", [busybox("app", "echo crashing; exit 1")])


def init_always_pod() -> JSON:
    """Case 1's pod under restartPolicy Always, the default."""
    return pod("f-init-always", "Always", [busybox("app", "exec sleep 3600")], init=[busybox("init", "true")])


# -- the checks ------------------------------------------------------------------------------------------------


def _watch(tool: Tool, name: str, seconds: float, until: Callable[[PodView], bool], interval: float = 0.2
           ) -> list[tuple[float, PodView]]:  # fmt: skip
    """Views of the pod every `interval` s, stamped with seconds since the call, until `until(view)` or `seconds`."""
    started = time.monotonic()
    views = []
    while True:
        view = tool.view(name)
        views.append((time.monotonic() - started, view))
        if until(view) or time.monotonic() - started > seconds:
            return views
        time.sleep(interval)


def _not_started(tool: Tool, name: str, started: Started) -> str:
    """Why a pod did not start: refused with the tool's message, or hung with what was running then."""
    if not started.hung:
        return f"refused: {started.message}"
    view = tool.view(name)
    states = ", ".join(f"{c} {s.state}" + (f" (restarts {s.restarts})" if s.restarts else "")
                       for c, s in view.containers.items())  # fmt: skip
    return f"{started.message}: {states or 'no containers'}"


def check_sidecar(tool: Tool, quick: bool) -> Verdict:
    """Native sidecar ordering (see the module's docstring)."""
    started = tool.start(sidecar_pod(), 15)
    if not started.ok:
        how = _not_started(tool, "f-sidecar", started)
        evidence: JSON = {"with_startup_probe": how}
        if not started.hung:  # characterise it: does the ordering work without the probe?
            tool.remove("f-sidecar")
            again = tool.start(sidecar_pod(with_probe=False), 12)
            evidence["without_startup_probe"] = "started" if again.ok else _not_started(tool, "f-sidecar", again)
            how += f"; without the startupProbe: {evidence['without_startup_probe']}"
        return Verdict(UNSUPPORTED, how, evidence)
    views = _watch(tool, "f-sidecar", 40, lambda v: v.phase in ("Succeeded", "Failed", "Exited", "Degraded"))
    final = views[-1][1]
    beside = [v.get("sidecar").state for _, v in views if v.get("app").state == "running"]
    app, sidecar = final.get("app"), final.get("sidecar")
    output = tool.logs("f-sidecar", "app").strip()
    problems = []
    if "sidecar-ready" not in output.split():
        problems.append(f"app said {output!r} (it started before the sidecar was ready)")
    if not beside or any(s != "running" for s in beside):
        problems.append(f"sidecar states while the app ran: {sorted(set(beside)) or 'app never seen running'}")
    if app.started_at and sidecar.started_at and app.started_at - sidecar.started_at < 0.9:
        problems.append(f"app started {app.started_at - sidecar.started_at:.2f} s after the sidecar (probe: >= 1 s)")
    # Ordered by what was seen, not by time stamps: a finished pod's records go soon, and the API's times are whole
    # seconds. The sidecar must never be seen stopped while the app has not ended, and be stopped in the end.
    early = [
        round(t, 1) for t, v in views if v.get("sidecar").state == "terminated" and v.get("app").state != "terminated"
    ]
    if early:
        problems.append(f"sidecar seen stopped before the app ended (at {early[0]} s)")
    if sidecar.state != "terminated":
        problems.append(f"sidecar {sidecar.state} after the pod ended, not stopped")
    if final.phase != "Succeeded":
        problems.append(f"pod ended {final.phase or 'without a phase'}, not Succeeded")
    evidence = {"app_output": output, "phase": final.phase, "sidecar_while_app_ran": sorted(set(beside)),
                "app": dataclasses.asdict(app), "sidecar": dataclasses.asdict(sidecar),
                "app_started_after_sidecar_s": (app.started_at - sidecar.started_at)
                if app.started_at and sidecar.started_at else None}  # fmt: skip
    if problems:
        return Verdict(DIFFERS, "; ".join(problems), evidence)
    gap = evidence["app_started_after_sidecar_s"]
    return Verdict(WORKS, f"app started {gap:.1f} s after the sidecar, once its startupProbe passed; sidecar ran "
                          "beside it and was stopped after it; pod Succeeded", evidence)  # fmt: skip


def check_probes(tool: Tool, quick: bool) -> Verdict:
    """startupProbe and readinessProbe gate `started` and `ready` (see the module's docstring)."""
    started = tool.start(probes_pod(), 15)
    if not started.ok:
        return Verdict(UNSUPPORTED, _not_started(tool, "f-probes", started))
    _watch(tool, "f-probes", 15, lambda v: v.get("app").state != "waiting")
    views = _watch(tool, "f-probes", 9, lambda v: v.get("app").ready is True or v.get("app").state != "running", 0.25)
    samples = [(round(t, 2), v.get("app").started, v.get("app").ready) for t, v in views]
    evidence: JSON = {"samples": samples, **tool.extra("f-probes", "app")}
    if all(s is None and r is None for _, s, r in samples):
        hc = evidence.get("healthcheck")
        config = f"health check configured: {hc}" if hc else "no health check configured from either probe"
        return Verdict(UNSUPPORTED, f"probes ignored: no started/ready state ({config}); the container counts as "
                                    "up at once", evidence)  # fmt: skip
    first_started = next((t for t, s, _ in samples if s), None)
    first_ready = next((t for t, _, r in samples if r), None)
    problems = []
    if first_started is None or first_started < 1.0:
        problems.append(f"started at {first_started} s (the startup probe passes after ~2 s)")
    if first_ready is None or (first_started is not None and first_ready < first_started) or first_ready < 3.0:
        problems.append(f"ready at {first_ready} s (the readiness probe passes after ~4 s, after started)")
    if problems:
        return Verdict(DIFFERS, "; ".join(problems), evidence)
    return Verdict(WORKS, f"started after {first_started:.1f} s, ready after {first_ready:.1f} s "
                          "(files appear at 2 s and 4 s; probes every 1 s)", evidence)  # fmt: skip


def check_hooks(tool: Tool, quick: bool) -> Verdict:
    """postStart at start, preStop before SIGTERM on deletion (see the module's docstring)."""
    events = tool.hooks_dir / "events"
    events.write_text("")
    started = tool.start(hooks_pod(tool.hooks_dir), 15)
    if not started.ok:
        return Verdict(UNSUPPORTED, _not_started(tool, "f-hooks", started))
    _watch(tool, "f-hooks", 15, lambda v: v.get("app").state == "running")
    time.sleep(1.0)
    at_start = events.read_text().split()
    how_deleted = tool.delete("f-hooks")
    after = events.read_text().split()
    evidence: JSON = {"after_start": at_start, "after_delete": after, "deleted_with": how_deleted}
    post, pre = "postStart" in at_start, "preStop" in after
    order = " -> ".join(after)
    if not post and not pre:
        how = f"neither hook ran (lines written: {order}; deleted with `{how_deleted}`)"
        return Verdict(UNSUPPORTED, how, evidence)
    problems = []
    if not post:
        problems.append("postStart did not run")
    if not pre:
        problems.append(f"preStop did not run on `{how_deleted}`")
    elif "term" in after and after.index("preStop") > after.index("term"):
        problems.append("preStop ran after SIGTERM")
    if problems:
        return Verdict(DIFFERS, f"{'; '.join(problems)} (lines: {order})", evidence)
    return Verdict(WORKS, f"lines written: {order} (deleted with `{how_deleted}`)", evidence)


def check_failing_init(tool: Tool, quick: bool) -> Verdict:
    """restartPolicy Never with a failing init container (see the module's docstring)."""
    started = tool.start(failing_init_pod(), 20)
    if started.hung:
        return Verdict(UNSUPPORTED, _not_started(tool, "failing-init", started))
    views = _watch(tool, "failing-init", 20, lambda v: v.phase in ("Failed", "Succeeded", "Degraded", "Exited"))
    time.sleep(2)  # would anything be retried?
    final = tool.view("failing-init")
    init, app = final.get("check-config"), final.get("app")
    evidence: JSON = {
        "phase": final.phase,
        "init": dataclasses.asdict(init),
        "app": dataclasses.asdict(app),
        "start": started.message or "accepted",
        "seen_phases": sorted({v.phase for _, v in views}),
    }
    problems, as_expected = [], []
    if init.exit_code != 3 or init.restarts:
        problems.append(f"init container: exit {init.exit_code}, restarts {init.restarts} (expected 3, 0)")
    else:
        as_expected.append("init exited 3 once")
    if app.started_at is not None or app.state in ("running", "terminated"):
        problems.append(f"the app ran ({app.state})")
    else:
        as_expected.append("app never started")
    if final.phase != "Failed":
        running = [n for n, c in final.containers.items() if c.state == "running"]
        problems.append(f"pod left {final.phase or 'without a phase'}, not Failed"
                        + (f" ({', '.join(running)} still running)" if running else ""))  # fmt: skip
    if not started.ok:
        problems.append(f"start reported {started.message!r}")
    if problems:
        expected = f" (as expected: {', '.join(as_expected)})" if as_expected else ""
        return Verdict(DIFFERS, "; ".join(problems) + expected, evidence)
    return Verdict(WORKS, "init exited 3 once, app never started, pod Failed", evidence)


def check_crashloop(tool: Tool, quick: bool) -> Verdict:
    """Restarts with doubling back-off shown as CrashLoopBackOff (see the module's docstring).

    The kubelet restarts a crashed container at once the first time (no back-off recorded yet), then after 10 s,
    20 s, 40 s...: in 34 s that is 3 restarts, in 14 s (`--quick`) 2."""
    window = 14.0 if quick else 34.0
    started = tool.start(crashloop_pod(), 15)
    if not started.ok:
        return Verdict(UNSUPPORTED, _not_started(tool, "f-crash", started))
    # Without back-off a tool restarts ~10 times a second: 40 restarts (a few seconds) say enough.
    views = _watch(tool, "f-crash", window, lambda v: v.get("app").restarts > 40, 0.5)
    restarts_at: list[float] = []
    last = 0
    reasons = set()
    for t, view in views:
        app = view.get("app")
        reasons.add(app.reason)
        if app.restarts > last:
            restarts_at += [t] * (app.restarts - last)
            last = app.restarts
    elapsed = views[-1][0]
    gaps = [b - a for a, b in itertools.pairwise(restarts_at)]
    evidence: JSON = {
        "window_s": round(elapsed, 1), "restarts": last, "restart_times_s": [round(t, 1) for t in restarts_at],
        "gaps_s": [round(g, 1) for g in gaps], "reasons": sorted(r for r in reasons if r),
    }  # fmt: skip
    if last > 6 or (last >= 3 and elapsed < 20):
        return Verdict(DIFFERS, f"restarted {last} times in {elapsed:.0f} s: no back-off, no CrashLoopBackOff state",
                       evidence)  # fmt: skip
    problems = []
    if "CrashLoopBackOff" not in reasons:
        problems.append("never shown as CrashLoopBackOff")
    if not gaps:
        problems.append(f"restarted {last} times in {elapsed:.0f} s")
    elif not 8 <= gaps[0] <= 13:
        problems.append(f"second restart {gaps[0]:.1f} s after the first (expected ~10 s)")
    if len(gaps) >= 2 and not 1.5 * gaps[0] <= gaps[1] <= 2.6 * gaps[0]:
        problems.append(f"back-off did not double: {gaps[0]:.1f} s then {gaps[1]:.1f} s")
    if problems:
        return Verdict(DIFFERS, "; ".join(problems), evidence)
    spacing = ", ".join(f"{g:.0f} s" for g in gaps)
    return Verdict(WORKS, f"CrashLoopBackOff; restarted at once, then after {spacing} (watched {elapsed:.0f} s)",
                   evidence)  # fmt: skip


def check_init_always(tool: Tool, quick: bool) -> Verdict:
    """Init containers under restartPolicy Always: run once, then the app (see the module's docstring)."""
    started = tool.start(init_always_pod(), 12)
    if not started.ok:
        return Verdict(UNSUPPORTED, _not_started(tool, "f-init-always", started))
    views = _watch(tool, "f-init-always", 15, lambda v: v.get("app").state == "running")
    time.sleep(1)
    final = tool.view("f-init-always")
    init, app = final.get("init"), final.get("app")
    evidence: JSON = {"init": dataclasses.asdict(init), "app": dataclasses.asdict(app), "polls": len(views)}
    if app.state == "running" and init.restarts == 0 and init.state in ("terminated", "absent"):
        removed = " (removed after it ran)" if init.state == "absent" else ""
        return Verdict(WORKS, f"init ran once{removed}, app running", evidence)
    return Verdict(DIFFERS, f"init {init.state} (restarts {init.restarts}), app {app.state}", evidence)


FEATURES: list[tuple[str, str, Callable[[Tool, bool], Verdict]]] = [
    ("sidecar", "native sidecar ordering", check_sidecar),
    ("probes", "startupProbe / readinessProbe", check_probes),
    ("hooks", "postStart / preStop", check_hooks),
    ("failing_init", "restartPolicy Never, failing init container", check_failing_init),
    ("crashloop", "CrashLoopBackOff", check_crashloop),
    ("init_always", "init containers under restartPolicy Always", check_init_always),
]
POD_NAMES = {"sidecar": "f-sidecar", "probes": "f-probes", "hooks": "f-hooks", "failing_init": "failing-init",
             "crashloop": "f-crash", "init_always": "f-init-always"}  # fmt: skip


def _guarded(check: Callable[[Tool, bool], Verdict], key: str, tool: Tool, quick: bool) -> Verdict:
    """Run one check; a crash of the check becomes an `error` cell (the table still prints); the pod is removed."""
    try:
        return check(tool, quick)
    except Exception as e:
        return Verdict(ERROR, f"the check failed: {e}")
    finally:
        try:
            tool.remove(POD_NAMES[key])
        except Exception as e:
            print(f"  warning: removing {tool.name}'s pod {POD_NAMES[key]} failed: {e}", flush=True)


def run_features(tools: list[Tool], quick: bool) -> dict[str, dict[str, Verdict]]:
    """Every check under every tool (the tools side by side); {feature key: {tool name: verdict}}."""
    table: dict[str, dict[str, Verdict]] = {}
    with ThreadPoolExecutor(max_workers=len(tools)) as pool:
        for key, label, check in FEATURES:
            print(f"  feature: {label} ...", flush=True)
            futures = {tool.name: pool.submit(_guarded, check, key, tool, quick) for tool in tools}
            table[key] = {name: future.result() for name, future in futures.items()}
    return table
