"""The lifecycle history a real kubelet records, checked against what the containers say happened.

Each container prints `name event uptime` lines to a shared emptyDir (`/proc/uptime`: the host's clock),
so the order the containers themselves saw is compared with the order and exit codes in the history.
"""

from __future__ import annotations

import pytest
from kubelet_harness import JSON, busybox, empty_dir, mount, phase_is, pod, run_pod, run_until_term, sidecar

from podrun.kubelet.lifecycle import FILE_NAME, load
from podrun.runtime.local import LocalRuntime
from podrun.timestamps import parse_unix

pytestmark = pytest.mark.root

SHARED = [mount("shared", "/shared")]
NOW = "$(read -r up rest </proc/uptime; echo $up)"


def note(name: str, event: str) -> str:
    return f'echo "{name} {event} {NOW}" >>/shared/notes'


def runs(records: list[JSON]) -> list[tuple[str | None, str]]:
    """(container, type) of the records that mark a container's run."""
    return [(r["container"], r["type"]) for r in records if r["type"] in ("Started", "Exited", "Killing")]


async def test_init_demo_history_follows_the_order_the_containers_saw(runtime: LocalRuntime) -> None:
    init = busybox("init-myservice", f"{note('init', 'start')}; echo 'Waiting for service...'; sleep 0.3; "
                   f"{note('init', 'end')}", volumeMounts=SHARED)  # fmt: skip
    app = busybox("app-container", f"{note('app', 'start')}; echo 'App container started!'; cat /shared/notes; exit 3",
                  volumeMounts=SHARED)  # fmt: skip
    spec = pod("init-demo", [app], init_containers=[init], restart_policy="Never", volumes=[empty_dir("shared")])
    async with run_pod(runtime, spec) as p:
        await p.wait_for(phase_is("Failed"), "the pod to fail")
        records = list(p.worker.lifecycle.records)
        notes = [line.split() for line in p.log("app-container") if line.startswith(("init ", "app "))]
    assert [n[:2] for n in notes] == [["init", "start"], ["init", "end"], ["app", "start"]]
    assert runs(records) == [
        ("init-myservice", "Started"), ("init-myservice", "Exited"),
        ("app-container", "Started"), ("app-container", "Exited"),
    ]  # fmt: skip
    exits = {r["container"]: (r["exitCode"], r["reason"]) for r in records if r["type"] == "Exited"}
    assert exits == {"init-myservice": (0, "Completed"), "app-container": (3, "Error")}
    assert [r["type"] for r in records][:2] == ["VolumesReady", "SandboxReady"]
    times = [parse_unix(r["time"]) for r in records]
    assert times == sorted(times)


async def test_sidecar_history_starts_it_first_and_stops_it_after_the_app(runtime: LocalRuntime) -> None:
    pre_stop = {"preStop": {"exec": {"command": ["sh", "-c", "sleep 0.1"]}}}
    proxy = sidecar("proxy", run_until_term(note("proxy", "start")), volumeMounts=SHARED, lifecycle=pre_stop)
    app = busybox("app", f"{note('app', 'start')}; sleep 0.2; exit 0", volumeMounts=SHARED)
    spec = pod("sidecar-lifecycle", [app], init_containers=[proxy], restart_policy="Never",
               volumes=[empty_dir("shared")], terminationGracePeriodSeconds=5)  # fmt: skip
    async with run_pod(runtime, spec) as p:
        await p.wait_for(phase_is("Succeeded"), "the pod to succeed")
        await p.wait_terminated()
        records = list(p.worker.lifecycle.records)
        pod_dir = p.worker.pod_dir
    assert runs(records) == [
        ("proxy", "Started"), ("app", "Started"), ("app", "Exited"), ("proxy", "Killing"), ("proxy", "Exited"),
    ]  # fmt: skip
    exits = [(r["container"], r["exitCode"]) for r in records if r["type"] == "Exited"]
    assert exits == [("app", 0), ("proxy", 0)]
    hooks = [(r["container"], r["hook"], r["outcome"]) for r in records if r["type"] == "Hook"]
    assert hooks == [("proxy", "preStop", "success")]
    assert next(r for r in records if r["type"] == "Hook")["durationMs"] >= 100
    assert not (pod_dir / FILE_NAME).exists()


async def test_history_is_stored_in_the_pod_directory_while_the_pod_runs(runtime: LocalRuntime) -> None:
    spec = pod("lifecycle-file", [busybox("app", run_until_term())], terminationGracePeriodSeconds=5)
    async with run_pod(runtime, spec) as p:
        await p.wait_for(lambda s: any(c.get("state", {}).get("running") for c in s.get("containerStatuses") or []),
                         "the app to run")  # fmt: skip
        assert load(p.worker.pod_dir / FILE_NAME) == p.worker.lifecycle.records
