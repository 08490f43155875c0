"""The planner, as the kubelet's TestComputePodActions tables test computePodActions, plus property tests.

Each table row is (description, pod, runtime statuses, probe results) -> the expected PodActions.
The property tests drive random pods through random but reachable runtime histories (the planner's own
actions, applied by a fake executor, interleaved with exits, probe results, image updates, sandbox deaths
and deletion) and check invariants on every plan. `hypothesis` is not installed in this environment, so
they use a seeded `random.Random`; a failure names its seed.
"""

from __future__ import annotations

import copy
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from podrun.kubelet.labels import CONTAINER_HASH, CONTAINER_NAME, container_hash
from podrun.kubelet.planner import (
    REASON_LIVENESS_PROBE,
    REASON_STARTUP_PROBE,
    REASON_UNKNOWN,
    KillInfo,
    PodActions,
    ProbeResult,
    ProbeResults,
    compute_pod_actions,
    should_container_be_restarted,
)
from podrun.runtime.protocol import ContainerState, ContainerStatus, SandboxConfig, SandboxStatus

CREATED = ContainerState.CREATED
RUNNING = ContainerState.RUNNING
EXITED = ContainerState.EXITED
UNKNOWN = ContainerState.UNKNOWN

UID = "0b8e5b1e-uid"
SANDBOX_ID = "sandbox-1"
PROBE = {"exec": {"command": ["true"]}}


def ctr(name: str, image: str = "busybox:1.36", **fields: Any) -> dict[str, Any]:
    """A container spec."""
    return {"name": name, "image": image, **fields}


def sidecar(name: str, image: str = "busybox:1.36", **fields: Any) -> dict[str, Any]:
    """A native sidecar: an init container with restartPolicy Always."""
    return ctr(name, image, restartPolicy="Always", **fields)


def make_pod(
    containers: list[dict[str, Any]],
    init: list[dict[str, Any]] | None = None,
    policy: str | None = "Always",
    deleting: bool = False,
) -> dict[str, Any]:
    """A pod named web in default; `policy=None` leaves restartPolicy out."""
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "uid": UID},
        "spec": {"containers": containers},
    }
    if policy is not None:
        pod["spec"]["restartPolicy"] = policy
    if init:
        pod["spec"]["initContainers"] = init
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2025-06-01T12:00:00Z"
    return pod


def st(
    spec: dict[str, Any],
    state: ContainerState,
    *,
    exit_code: int = 0,
    reason: str = "",
    cid: str | None = None,
    created_at: float = 100.0,
    runtime_name: str | None = None,
) -> ContainerStatus:
    """A runtime status created from `spec` (its hash annotation is the spec's)."""
    name = spec["name"]
    return ContainerStatus(
        id=cid or f"id-{name}",
        sandbox_id=SANDBOX_ID,
        name=runtime_name or name,
        state=state,
        image=spec["image"],
        image_id="sha256:0",
        created_at=created_at,
        exit_code=exit_code,
        reason=reason,
        labels={CONTAINER_NAME: name},
        annotations={CONTAINER_HASH: container_hash(spec)},
    )


def sandbox(sandbox_id: str = SANDBOX_ID, ready: bool = True, created_at: float = 1.0) -> SandboxStatus:
    """A sandbox of the pod web."""
    config = SandboxConfig(
        name="web", namespace="default", uid=UID, hostname="web", hosts_file="", resolv_conf=""
    )
    return SandboxStatus(id=sandbox_id, config=config, ready=ready, created_at=created_at, ip="10.88.0.2")


def acts(**fields: Any) -> PodActions:
    """Expected actions for a pod whose sandbox SANDBOX_ID is fine."""
    return PodActions(sandbox_id=SANDBOX_ID, **fields)


def kill(spec: dict[str, Any], reason: str, message: str, cid: str | None = None) -> dict[str, KillInfo]:
    """Expected `containers_to_kill` with one entry."""
    return {
        cid or f"id-{spec['name']}": KillInfo(
            name=spec["name"], container=spec, reason=reason, message=message
        )
    }


def probes(
    startup: dict[str, ProbeResult] | None = None, liveness: dict[str, ProbeResult] | None = None
) -> ProbeResults:
    """Probe results keyed by container ID."""
    return ProbeResults(startup=startup or {}, liveness=liveness or {})


INIT_A = ctr("init-a")
INIT_B = ctr("init-b")
APP = ctr("app")
WORKER = ctr("worker")
APP_PROBED = ctr("app", livenessProbe=PROBE, startupProbe=PROBE)
LOG = sidecar("log")  # no probes
PROXY = sidecar("proxy", startupProbe=PROBE, livenessProbe=PROBE)
NEW_IMAGE = "busybox:1.37"


@dataclass
class Case:
    desc: str
    pod: dict[str, Any]
    containers: list[ContainerStatus]
    expected: PodActions
    probes: ProbeResults = field(default_factory=ProbeResults)
    sandboxes: list[SandboxStatus] = field(default_factory=lambda: [sandbox()])


SANDBOX_CASES = [
    Case(
        "new pod: no sandbox yet; create one and start the first init container",
        make_pod([APP], init=[INIT_A, INIT_B]),
        [],
        PodActions(kill_pod=True, create_sandbox=True, init_containers_to_start=[0]),
        sandboxes=[],
    ),
    Case(
        "new pod without init containers: create the sandbox and start every container",
        make_pod([APP, WORKER]),
        [],
        PodActions(kill_pod=True, create_sandbox=True, containers_to_start=[0, 1]),
        sandboxes=[],
    ),
    Case(
        "sandbox died: kill the pod, create a new sandbox and run the init chain again",
        make_pod([APP], init=[INIT_A]),
        [st(INIT_A, EXITED), st(APP, RUNNING)],
        acts(kill_pod=True, create_sandbox=True, attempt=1, init_containers_to_start=[0]),
        sandboxes=[sandbox(ready=False)],
    ),
    Case(
        "sandbox died, no init containers: start every container in the new sandbox",
        make_pod([APP, WORKER]),
        [st(APP, EXITED, exit_code=137), st(WORKER, EXITED)],
        acts(kill_pod=True, create_sandbox=True, attempt=1, containers_to_start=[0, 1]),
        sandboxes=[sandbox(ready=False)],
    ),
    Case(
        "sandbox died under Never after containers ran: kill the pod, create no sandbox",
        make_pod([APP], init=[INIT_A], policy="Never"),
        [st(INIT_A, EXITED), st(APP, EXITED, exit_code=1)],
        acts(kill_pod=True, attempt=1),
        sandboxes=[sandbox(ready=False)],
    ),
    Case(
        "sandbox died under Never before any container existed: try the sandbox again",
        make_pod([APP], init=[INIT_A], policy="Never"),
        [],
        acts(kill_pod=True, create_sandbox=True, attempt=1, init_containers_to_start=[0]),
        sandboxes=[sandbox(ready=False)],
    ),
    Case(
        "sandbox died under OnFailure with every container succeeded: the pod is finished",
        make_pod([APP, WORKER], policy="OnFailure"),
        [st(APP, EXITED), st(WORKER, EXITED)],
        acts(kill_pod=True, attempt=1),
        sandboxes=[sandbox(ready=False)],
    ),
    Case(
        "sandbox died under OnFailure: the new sandbox runs only the containers that failed",
        make_pod([APP, WORKER], policy="OnFailure"),
        [st(APP, EXITED), st(WORKER, EXITED, exit_code=1)],
        acts(kill_pod=True, create_sandbox=True, attempt=1, containers_to_start=[1]),
        sandboxes=[sandbox(ready=False)],
    ),
    Case(
        "sandbox died under Never with a sidecar: kill the pod only",
        make_pod([APP], init=[LOG], policy="Never"),
        [st(LOG, EXITED, exit_code=137), st(APP, RUNNING)],
        acts(kill_pod=True, attempt=1),
        sandboxes=[sandbox(ready=False)],
    ),
    Case(
        "two ready sandboxes: replace them with a new one",
        make_pod([APP]),
        [st(APP, RUNNING)],
        PodActions(kill_pod=True, create_sandbox=True, sandbox_id="new", attempt=2, containers_to_start=[0]),
        sandboxes=[sandbox("old", created_at=1.0), sandbox("new", created_at=2.0)],
    ),
    Case(
        "the newest sandbox is ready and an older one is not: nothing to do",
        make_pod([APP]),
        [st(APP, RUNNING)],
        PodActions(sandbox_id="new", attempt=1),
        sandboxes=[sandbox("old", ready=False, created_at=1.0), sandbox("new", created_at=2.0)],
    ),
]

DELETION_CASES = [
    Case(
        "deleting pod: kill it and start nothing, whatever has exited",
        make_pod([APP, WORKER], init=[LOG], deleting=True),
        [st(LOG, EXITED, exit_code=1), st(APP, RUNNING), st(WORKER, EXITED, exit_code=1)],
        acts(kill_pod=True),
    ),
    Case(
        "deleting pod during initialization: kill it, start no init container",
        make_pod([APP], init=[INIT_A, INIT_B], deleting=True),
        [st(INIT_A, EXITED)],
        acts(kill_pod=True),
    ),
    Case(
        "deleting pod whose sandbox died: kill it, create no sandbox",
        make_pod([APP], deleting=True),
        [st(APP, EXITED)],
        acts(kill_pod=True, attempt=1),
        sandboxes=[sandbox(ready=False)],
    ),
]

INIT_CASES = [
    Case(
        "sandbox ready and no init container has run: start the first",
        make_pod([APP], init=[INIT_A, INIT_B]),
        [],
        acts(init_containers_to_start=[0]),
    ),
    Case(
        "an init container is running: wait for it",
        make_pod([APP], init=[INIT_A, INIT_B]),
        [st(INIT_A, RUNNING)],
        acts(),
    ),
    Case(
        "the first init container succeeded: start the second",
        make_pod([APP], init=[INIT_A, INIT_B]),
        [st(INIT_A, EXITED)],
        acts(init_containers_to_start=[1]),
    ),
    Case(
        "the last init container succeeded: start every regular container",
        make_pod([APP, WORKER], init=[INIT_A, INIT_B]),
        [st(INIT_A, EXITED), st(INIT_B, EXITED)],
        acts(containers_to_start=[0, 1]),
    ),
    Case(
        "completed init containers were garbage-collected but the last one remains: start the containers",
        make_pod([APP], init=[INIT_A, INIT_B]),
        [st(INIT_B, EXITED)],
        acts(containers_to_start=[0]),
    ),
    Case(
        "an init container failed under Always: run it again; later ones wait",
        make_pod([APP], init=[INIT_A, INIT_B]),
        [st(INIT_A, EXITED), st(INIT_B, EXITED, exit_code=1)],
        acts(init_containers_to_start=[1]),
    ),
    Case(
        "an init container failed under OnFailure: run it again",
        make_pod([APP], init=[INIT_A, INIT_B], policy="OnFailure"),
        [st(INIT_A, EXITED, exit_code=2)],
        acts(init_containers_to_start=[0]),
    ),
    Case(
        "an init container failed under Never: kill the pod",
        make_pod([APP], init=[INIT_A, INIT_B], policy="Never"),
        [st(INIT_A, EXITED), st(INIT_B, EXITED, exit_code=1)],
        acts(kill_pod=True),
    ),
    Case(
        "an OOM-killed init container has failed even with exit code 0",
        make_pod([APP], init=[INIT_A], policy="Never"),
        [st(INIT_A, EXITED, reason="OOMKilled")],
        acts(kill_pod=True),
    ),
    Case(
        "an init container stuck in Created: start it again",
        make_pod([APP], init=[INIT_A, INIT_B]),
        [st(INIT_A, EXITED), st(INIT_B, CREATED)],
        acts(init_containers_to_start=[1]),
    ),
    Case(
        "an init container in an unknown state under Always: kill it, then start it again",
        make_pod([APP], init=[INIT_A]),
        [st(INIT_A, UNKNOWN)],
        acts(
            init_containers_to_start=[0],
            containers_to_kill=kill(
                INIT_A, REASON_UNKNOWN, 'Init container is in "unknown" state, try killing it before restart'
            ),
        ),
    ),
    Case(
        "an init container in an unknown state under Never: kill the pod",
        make_pod([APP], init=[INIT_A], policy="Never"),
        [st(INIT_A, UNKNOWN)],
        acts(kill_pod=True),
    ),
    Case(
        "a regular container is running: init containers removed from the runtime are not run again",
        make_pod([APP], init=[INIT_A, INIT_B]),
        [st(APP, RUNNING)],
        acts(),
    ),
    Case(
        "a regular container is Created: the pod counts as initialized",
        make_pod([APP], init=[INIT_A]),
        [st(APP, CREATED)],
        acts(containers_to_start=[0]),
    ),
    Case(
        "a completed init container whose image changed is not run again after initialization",
        make_pod([APP], init=[ctr("init-a", NEW_IMAGE)]),
        [st(INIT_A, EXITED), st(APP, RUNNING)],
        acts(),
    ),
    Case(
        "a regular container failed after initialization: restart it, never the init containers",
        make_pod([APP], init=[INIT_A, INIT_B]),
        [st(INIT_A, EXITED), st(INIT_B, EXITED), st(APP, EXITED, exit_code=1)],
        acts(containers_to_start=[0]),
    ),
    Case(
        "only Exited regular containers (after a reboot) do not prove initialization: run the init chain",
        make_pod([APP], init=[INIT_A]),
        [st(APP, EXITED, exit_code=137)],
        acts(init_containers_to_start=[0]),
    ),
    Case(
        "without restartPolicy the pod restarts as under Always",
        make_pod([APP], init=[INIT_A], policy=None),
        [st(INIT_A, EXITED, exit_code=1)],
        acts(init_containers_to_start=[0]),
    ),
]

SIDECAR_CASES = [
    Case(
        "a sidecar without startup probe is running: start the next init container",
        make_pod([APP], init=[LOG, INIT_A]),
        [st(LOG, RUNNING)],
        acts(init_containers_to_start=[1]),
    ),
    Case(
        "a sidecar's startup probe has no result yet: wait",
        make_pod([APP], init=[PROXY, INIT_A]),
        [st(PROXY, RUNNING)],
        acts(),
    ),
    Case(
        "a sidecar's startup probe succeeded: start the next init container",
        make_pod([APP], init=[PROXY, INIT_A]),
        [st(PROXY, RUNNING)],
        acts(init_containers_to_start=[1]),
        probes=probes(startup={"id-proxy": "success"}),
    ),
    Case(
        "a sidecar's startup probe failed: kill it and start it again, the next one waits",
        make_pod([APP], init=[PROXY, INIT_A]),
        [st(PROXY, RUNNING)],
        acts(
            init_containers_to_start=[0],
            containers_to_kill=kill(PROXY, REASON_STARTUP_PROBE, "Init container proxy failed startup probe"),
        ),
        probes=probes(startup={"id-proxy": "failure"}),
    ),
    Case(
        "the last init container is a started sidecar: the pod has initialized",
        make_pod([APP, WORKER], init=[INIT_A, LOG]),
        [st(INIT_A, EXITED), st(LOG, RUNNING)],
        acts(containers_to_start=[0, 1]),
    ),
    Case(
        "the last sidecar has not passed its startup probe: regular containers wait",
        make_pod([APP], init=[INIT_A, PROXY]),
        [st(INIT_A, EXITED), st(PROXY, RUNNING)],
        acts(),
    ),
    Case(
        "a sidecar exited under Never: restart it, the pod's policy does not apply",
        make_pod([APP], init=[LOG], policy="Never"),
        [st(LOG, EXITED), st(APP, RUNNING)],
        acts(init_containers_to_start=[0]),
    ),
    Case(
        "a sidecar failed while the next init container runs: restart the sidecar, wait for the other",
        make_pod([APP], init=[LOG, INIT_A]),
        [st(LOG, EXITED, exit_code=1), st(INIT_A, RUNNING)],
        acts(init_containers_to_start=[0]),
    ),
    Case(
        "a sidecar failed and the next init container succeeded: restart the sidecar and start the one after",
        make_pod([APP], init=[LOG, INIT_A, INIT_B], policy="Never"),
        [st(LOG, EXITED, exit_code=1), st(INIT_A, EXITED)],
        acts(init_containers_to_start=[0, 2]),
    ),
    Case(
        "a sidecar's liveness probe failed: kill and restart only the sidecar",
        make_pod([APP], init=[PROXY]),
        [st(PROXY, RUNNING), st(APP, RUNNING)],
        acts(
            init_containers_to_start=[0],
            containers_to_kill=kill(
                PROXY, REASON_LIVENESS_PROBE, "Init container proxy failed liveness probe"
            ),
        ),
        probes=probes(startup={"id-proxy": "success"}, liveness={"id-proxy": "failure"}),
    ),
    Case(
        "a sidecar's liveness failure does not hold back the next init container",
        make_pod([APP], init=[PROXY, INIT_A]),
        [st(PROXY, RUNNING)],
        acts(
            init_containers_to_start=[0, 1],
            containers_to_kill=kill(
                PROXY, REASON_LIVENESS_PROBE, "Init container proxy failed liveness probe"
            ),
        ),
        probes=probes(startup={"id-proxy": "success"}, liveness={"id-proxy": "failure"}),
    ),
    Case(
        "a sidecar's image changed: kill and restart it",
        make_pod([APP], init=[sidecar("log", NEW_IMAGE)]),
        [st(LOG, RUNNING), st(APP, RUNNING)],
        acts(
            init_containers_to_start=[0],
            containers_to_kill=kill(sidecar("log", NEW_IMAGE), "", "Init container log definition changed"),
        ),
    ),
    Case(
        "after initialization a running sidecar does not start the next init container again",
        make_pod([APP], init=[LOG, INIT_A]),
        [st(LOG, RUNNING), st(APP, RUNNING)],
        acts(),
    ),
    Case(
        "a sidecar's record is gone after initialization: start it again",
        make_pod([APP], init=[LOG]),
        [st(APP, RUNNING)],
        acts(init_containers_to_start=[0]),
    ),
    Case(
        "a sidecar in an unknown state under Never: kill it and start it again",
        make_pod([APP], init=[LOG], policy="Never"),
        [st(LOG, UNKNOWN), st(APP, RUNNING)],
        acts(
            init_containers_to_start=[0],
            containers_to_kill=kill(
                LOG, REASON_UNKNOWN, 'Init container is in "unknown" state, try killing it before restart'
            ),
        ),
    ),
]

REGULAR_CASES = [
    Case(
        "steady state: nothing to do",
        make_pod([APP, WORKER], init=[INIT_A, LOG]),
        [st(INIT_A, EXITED), st(LOG, RUNNING), st(APP, RUNNING), st(WORKER, RUNNING)],
        acts(),
    ),
    Case(
        "a container exited under Always: restart it, even after success",
        make_pod([APP, WORKER]),
        [st(APP, EXITED), st(WORKER, RUNNING)],
        acts(containers_to_start=[0]),
    ),
    Case(
        "OnFailure: restart the failed container, not the one that succeeded",
        make_pod([APP, WORKER], policy="OnFailure"),
        [st(APP, EXITED), st(WORKER, EXITED, exit_code=1)],
        acts(containers_to_start=[1]),
    ),
    Case(
        "Never: an exited container stays down while another runs",
        make_pod([APP, WORKER], policy="Never"),
        [st(APP, EXITED, exit_code=1), st(WORKER, RUNNING)],
        acts(),
    ),
    Case(
        "Never: every regular container exited: kill the pod and do not restart its exited sidecar",
        make_pod([APP], init=[LOG, INIT_A], policy="Never"),
        [st(LOG, EXITED, exit_code=1), st(INIT_A, EXITED), st(APP, EXITED)],
        acts(kill_pod=True),
    ),
    Case(
        # computeInitContainerActions only calls the pod initialized when the last init container is a
        # *running* started sidecar, so this sync restarts it and the next one kills the pod.
        "Never: regular containers exited and the last init container is an exited sidecar: restart it first",
        make_pod([APP], init=[LOG], policy="Never"),
        [st(LOG, EXITED, exit_code=1), st(APP, EXITED)],
        acts(init_containers_to_start=[0]),
    ),
    Case(
        "Never: every regular container exited while the last sidecar runs: kill the pod",
        make_pod([APP], init=[PROXY, LOG], policy="Never"),
        [st(PROXY, EXITED, exit_code=143), st(LOG, RUNNING), st(APP, EXITED)],
        acts(kill_pod=True),
    ),
    Case(
        "OnFailure: every regular container succeeded while a sidecar runs: kill the pod",
        make_pod([APP, WORKER], init=[LOG], policy="OnFailure"),
        [st(LOG, RUNNING), st(APP, EXITED), st(WORKER, EXITED)],
        acts(kill_pod=True),
    ),
    Case(
        "an image changed: kill and restart only that container, even under Never",
        make_pod([ctr("app", NEW_IMAGE), WORKER], policy="Never"),
        [st(APP, RUNNING), st(WORKER, RUNNING)],
        acts(
            containers_to_start=[0],
            containers_to_kill=kill(
                ctr("app", NEW_IMAGE), "", "Container app definition changed, will be restarted"
            ),
        ),
    ),
    Case(
        "a status without a hash annotation counts as a changed definition",
        make_pod([APP]),
        [replace(st(APP, RUNNING), annotations={})],
        acts(
            containers_to_start=[0],
            containers_to_kill=kill(APP, "", "Container app definition changed, will be restarted"),
        ),
    ),
    Case(
        "liveness failure under Always: kill and restart",
        make_pod([APP_PROBED]),
        [st(APP_PROBED, RUNNING)],
        acts(
            containers_to_start=[0],
            containers_to_kill=kill(
                APP_PROBED, REASON_LIVENESS_PROBE, "Container app failed liveness probe, will be restarted"
            ),
        ),
        probes=probes(startup={"id-app": "success"}, liveness={"id-app": "failure"}),
    ),
    Case(
        "liveness failure under Never: kill without restart while another container runs",
        make_pod([APP_PROBED, WORKER], policy="Never"),
        [st(APP_PROBED, RUNNING), st(WORKER, RUNNING)],
        acts(
            containers_to_kill=kill(APP_PROBED, REASON_LIVENESS_PROBE, "Container app failed liveness probe")
        ),
        probes=probes(startup={"id-app": "success"}, liveness={"id-app": "failure"}),
    ),
    Case(
        "liveness failure under Never in the only container: kill it and the pod",
        make_pod([APP_PROBED], policy="Never"),
        [st(APP_PROBED, RUNNING)],
        acts(
            kill_pod=True,
            containers_to_kill=kill(APP_PROBED, REASON_LIVENESS_PROBE, "Container app failed liveness probe"),
        ),
        probes=probes(liveness={"id-app": "failure"}),
    ),
    Case(
        "startup failure under OnFailure: kill and restart",
        make_pod([APP_PROBED], policy="OnFailure"),
        [st(APP_PROBED, RUNNING)],
        acts(
            containers_to_start=[0],
            containers_to_kill=kill(
                APP_PROBED, REASON_STARTUP_PROBE, "Container app failed startup probe, will be restarted"
            ),
        ),
        probes=probes(startup={"id-app": "failure"}),
    ),
    Case(
        "a changed definition wins over a failed probe",
        make_pod([ctr("app", NEW_IMAGE, livenessProbe=PROBE)], policy="Never"),
        [st(ctr("app", livenessProbe=PROBE), RUNNING)],
        acts(
            containers_to_start=[0],
            containers_to_kill=kill(
                ctr("app", NEW_IMAGE, livenessProbe=PROBE),
                "",
                "Container app definition changed, will be restarted",
            ),
        ),
        probes=probes(liveness={"id-app": "failure"}),
    ),
    Case(
        "a container in an unknown state: kill it, then start it again",
        make_pod([APP], policy="Never"),
        [st(APP, UNKNOWN)],
        acts(
            containers_to_start=[0],
            containers_to_kill=kill(
                APP, REASON_UNKNOWN, 'Container is in "unknown" state, try killing it before restart'
            ),
        ),
    ),
    Case(
        "a container stuck in Created: start it again, even under Never",
        make_pod([APP], policy="Never"),
        [st(APP, CREATED)],
        acts(containers_to_start=[0]),
    ),
    Case(
        "the newest instance decides: an older failed run does not matter while a newer one runs",
        make_pod([APP]),
        [
            st(APP, RUNNING, cid="new", created_at=200.0),
            st(APP, EXITED, exit_code=1, cid="old", created_at=100.0),
        ],
        acts(),
    ),
    Case(
        "the newest instance decides under OnFailure: the latest run succeeded, so no restart",
        make_pod([APP, WORKER], policy="OnFailure"),
        [
            st(APP, EXITED, exit_code=1, cid="old", created_at=100.0),
            st(APP, EXITED, cid="new", created_at=200.0),
            st(WORKER, RUNNING),
        ],
        acts(),
    ),
    Case(
        "a container is known by its name label, not by its runtime name",
        make_pod([APP]),
        [st(APP, RUNNING, runtime_name="k8s_app_web_default_0")],
        acts(),
    ),
]


def _cases(cases: list[Case]) -> Any:
    return pytest.mark.parametrize("case", cases, ids=[case.desc for case in cases])


@_cases(SANDBOX_CASES)
def test_sandbox(case: Case) -> None:
    assert compute_pod_actions(case.pod, case.sandboxes, case.containers, case.probes) == case.expected


@_cases(DELETION_CASES)
def test_deletion(case: Case) -> None:
    assert compute_pod_actions(case.pod, case.sandboxes, case.containers, case.probes) == case.expected


@_cases(INIT_CASES)
def test_init_containers(case: Case) -> None:
    assert compute_pod_actions(case.pod, case.sandboxes, case.containers, case.probes) == case.expected


@_cases(SIDECAR_CASES)
def test_sidecars(case: Case) -> None:
    assert compute_pod_actions(case.pod, case.sandboxes, case.containers, case.probes) == case.expected


@_cases(REGULAR_CASES)
def test_regular_containers(case: Case) -> None:
    assert compute_pod_actions(case.pod, case.sandboxes, case.containers, case.probes) == case.expected


@pytest.mark.parametrize(
    ("desc", "policy", "statuses", "deleting", "expected"),
    [
        ("never ran", "Never", [], False, True),
        ("running", "Always", [st(APP, RUNNING)], False, False),
        ("created", "Never", [st(APP, CREATED)], False, True),
        ("unknown", "Never", [st(APP, UNKNOWN)], False, True),
        ("exited 0 under Always", "Always", [st(APP, EXITED)], False, True),
        ("exited 0 under OnFailure", "OnFailure", [st(APP, EXITED)], False, False),
        ("exited 1 under OnFailure", "OnFailure", [st(APP, EXITED, exit_code=1)], False, True),
        ("exited 1 under Never", "Never", [st(APP, EXITED, exit_code=1)], False, False),
        ("deleting", "Always", [st(APP, EXITED, exit_code=1)], True, False),
        (
            "newest instance",
            "OnFailure",
            [st(APP, EXITED, cid="b", created_at=2.0), st(APP, EXITED, exit_code=1, cid="a", created_at=1.0)],
            False,
            False,
        ),
        ("other containers ignored", "Never", [st(WORKER, EXITED)], False, True),
    ],
)
def test_should_container_be_restarted(
    desc: str, policy: str, statuses: list[ContainerStatus], deleting: bool, expected: bool
) -> None:
    pod = make_pod([APP, WORKER], policy=policy, deleting=deleting)
    assert should_container_be_restarted(APP, pod, statuses) is expected, desc


def test_container_hash_covers_name_and_image_only() -> None:
    # HashContainer (v1.31+) hashes pickFieldsToHash: name and image.
    assert container_hash(APP) == container_hash(ctr("app", env=[{"name": "A", "value": "1"}], resources={}))
    assert container_hash(APP) != container_hash(ctr("app", NEW_IMAGE))
    assert container_hash(APP) != container_hash(ctr("app2"))
    assert int(container_hash(APP), 16) < 2**32


def test_planner_leaves_its_inputs_alone() -> None:
    pod = make_pod([APP_PROBED, WORKER], init=[INIT_A, PROXY])
    statuses = [st(INIT_A, EXITED), st(PROXY, RUNNING), st(APP_PROBED, RUNNING)]
    results = probes(startup={"id-proxy": "success"}, liveness={"id-app": "failure"})
    before = copy.deepcopy(pod)
    first = compute_pod_actions(pod, [sandbox()], statuses, results)
    assert pod == before
    assert compute_pod_actions(pod, [sandbox()], statuses, results) == first


# --- Property tests: random pods through random, reachable runtime histories -------------------------

ACTIVE = (CREATED, RUNNING, UNKNOWN)


def random_pod(rng: random.Random) -> dict[str, Any]:
    """A pod with 0-3 init containers (some sidecars), 1-3 regular containers, maybe probes."""
    init = []
    for index in range(rng.randint(0, 3)):
        if rng.random() < 0.45:
            spec = sidecar(f"side-{index}")
            if rng.random() < 0.5:
                spec["startupProbe"] = PROBE
            if rng.random() < 0.5:
                spec["livenessProbe"] = PROBE
        else:
            spec = ctr(f"init-{index}")  # regular init containers cannot have probes
        init.append(spec)
    containers = []
    for index in range(rng.randint(1, 3)):
        spec = ctr(f"app-{index}")
        if rng.random() < 0.3:
            spec["startupProbe"] = PROBE
        if rng.random() < 0.3:
            spec["livenessProbe"] = PROBE
        containers.append(spec)
    return make_pod(containers, init=init, policy=rng.choice(["Always", "OnFailure", "Never"]))


class World:
    """A fake runtime plus executor: applies plans as SyncPod does, and makes things happen to containers."""

    def __init__(self, rng: random.Random, pod: dict[str, Any]) -> None:
        self.rng = rng
        self.pod = pod
        self.sandboxes: list[SandboxStatus] = []
        self.containers: dict[str, ContainerStatus] = {}
        self.startup: dict[str, ProbeResult] = {}
        self.liveness: dict[str, ProbeResult] = {}
        self.ran: set[str] = set()  # IDs of container instances that reached Running
        self.now = 1000.0
        self.ids = itertools.count()

    # Views.

    @property
    def init_specs(self) -> list[dict[str, Any]]:
        return self.pod["spec"].get("initContainers", [])

    @property
    def regular_specs(self) -> list[dict[str, Any]]:
        return self.pod["spec"]["containers"]

    def ready_sandbox(self) -> SandboxStatus | None:
        ready = [s for s in self.sandboxes if s.ready]
        return max(ready, key=lambda s: s.created_at) if ready else None

    def latest(self, name: str) -> ContainerStatus | None:
        same = [s for s in self.containers.values() if s.labels[CONTAINER_NAME] == name]
        return max(same, key=lambda s: s.created_at) if same else None

    def initialized_in(self, sandbox_id: str) -> bool:
        """Every init container did its part in this sandbox: exited 0, or (sidecar) was started."""
        here = [s for s in self.containers.values() if s.sandbox_id == sandbox_id]
        for spec in self.init_specs:
            mine = [s for s in here if s.labels[CONTAINER_NAME] == spec["name"]]
            if spec.get("restartPolicy") == "Always":
                needs_probe = spec.get("startupProbe") is not None
                done = any(
                    s.id in self.ran and (not needs_probe or self.startup.get(s.id) == "success")
                    for s in mine
                )
            else:
                done = any(s.state == EXITED and s.exit_code == 0 and s.reason != "OOMKilled" for s in mine)
            if not done:
                return False
        return True

    def plan(self) -> PodActions:
        return compute_pod_actions(
            self.pod,
            list(self.sandboxes),
            list(self.containers.values()),
            ProbeResults(startup=dict(self.startup), liveness=dict(self.liveness)),
        )

    # The executor.

    def apply(self, actions: PodActions) -> None:
        if actions.kill_pod:
            for status in list(self.containers.values()):
                self.stop(status.id)
            self.sandboxes = [replace(s, ready=False) for s in self.sandboxes]
            if actions.create_sandbox:
                init_names = {spec["name"] for spec in self.init_specs}  # purgeInitContainers
                self.containers = {
                    cid: s for cid, s in self.containers.items() if s.labels[CONTAINER_NAME] not in init_names
                }
                config = sandbox().config
                self.sandboxes.append(SandboxStatus(f"sb-{next(self.ids)}", config, True, self.tick()))
        else:
            for cid in actions.containers_to_kill:
                self.stop(cid)
        for index in actions.init_containers_to_start:
            self.start(self.init_specs[index])
        for index in actions.containers_to_start:
            self.start(self.regular_specs[index])

    def start(self, spec: dict[str, Any]) -> None:
        current = self.ready_sandbox()
        assert current is not None, "a container is started without a ready sandbox"
        state = CREATED if self.rng.random() < 0.05 else RUNNING  # sometimes the start itself fails
        cid = f"c-{next(self.ids)}"
        self.containers[cid] = ContainerStatus(
            id=cid,
            sandbox_id=current.id,
            name=spec["name"],
            state=state,
            image=spec["image"],
            image_id="sha256:0",
            created_at=self.tick(),
            labels={CONTAINER_NAME: spec["name"]},
            annotations={CONTAINER_HASH: container_hash(spec)},
        )
        if state == RUNNING:
            self.ran.add(cid)

    def stop(self, cid: str, exit_code: int = 137, reason: str = "Error") -> None:
        status = self.containers[cid]
        if status.state in ACTIVE:
            self.containers[cid] = replace(
                status, state=EXITED, exit_code=exit_code, reason=reason, finished_at=self.tick()
            )

    def tick(self) -> float:
        self.now += 1.0
        return self.now

    # Things that happen between syncs.

    def random_event(self) -> None:
        running = [s for s in self.containers.values() if s.state == RUNNING]
        events = ["image", "sandbox dies", "delete"]
        weights = [1, 1, 0.1]
        if running:
            events += ["exit", "probe", "unknown"]
            weights += [8, 6, 0.5]
        event = self.rng.choices(events, weights)[0]
        if event == "exit":
            status = self.rng.choice(running)
            code = self.rng.choice([0, 0, 1, 137])
            reason = "Completed" if code == 0 else self.rng.choice(["Error", "OOMKilled"])
            self.stop(status.id, code, reason)
        elif event == "probe":
            self.publish_probe(self.rng.choice(running))
        elif event == "unknown":
            status = self.rng.choice(running)
            self.containers[status.id] = replace(status, state=UNKNOWN)
        elif event == "image":
            spec = self.rng.choice(self.init_specs + self.regular_specs)
            spec["image"] = f"busybox:{self.rng.randint(1, 99)}"
        elif event == "sandbox dies":
            self.sandboxes = [replace(s, ready=False) for s in self.sandboxes]
            if self.rng.random() < 0.5:  # a reboot takes the containers along; a dead pause does not
                for status in list(self.containers.values()):
                    self.stop(status.id)
        else:
            self.pod["metadata"]["deletionTimestamp"] = "2025-06-01T12:00:00Z"

    def publish_probe(self, status: ContainerStatus) -> None:
        spec = next(
            s for s in self.init_specs + self.regular_specs if s["name"] == status.labels[CONTAINER_NAME]
        )
        if spec.get("startupProbe") is not None and status.id not in self.startup:
            self.startup[status.id] = "success" if self.rng.random() < 0.8 else "failure"
        elif spec.get("livenessProbe") is not None:
            self.liveness[status.id] = "failure" if self.rng.random() < 0.3 else "success"


def check_invariants(world: World, actions: PodActions) -> None:
    """What must hold for any plan over a reachable runtime state."""
    init_specs, regular_specs = world.init_specs, world.regular_specs
    started_inits = [init_specs[i] for i in actions.init_containers_to_start]
    regular_inits_started = [c for c in started_inits if c.get("restartPolicy") != "Always"]
    any_start = bool(actions.init_containers_to_start or actions.containers_to_start)

    # Init containers start in spec order, each at most once.
    assert actions.init_containers_to_start == sorted(set(actions.init_containers_to_start))
    # At most one regular init container per plan, and never while another one runs.
    assert len(regular_inits_started) <= 1
    if regular_inits_started and not actions.create_sandbox:
        for spec in init_specs:
            status = world.latest(spec["name"])
            if spec.get("restartPolicy") != "Always" and status is not None:
                assert status.state != RUNNING, f"{spec['name']} still runs"
    # A new sandbox starts from the beginning: init container 0, or the regular containers if none.
    if actions.create_sandbox:
        assert actions.kill_pod
        if init_specs:
            assert actions.init_containers_to_start == [0] and not actions.containers_to_start
        else:
            assert not actions.init_containers_to_start
    # No regular container before initialization, unless one already exists in this sandbox.
    elif actions.containers_to_start:
        current = world.ready_sandbox()
        assert current is not None
        regular_names = {spec["name"] for spec in regular_specs}
        exists = any(
            s.sandbox_id == current.id and s.labels[CONTAINER_NAME] in regular_names
            for s in world.containers.values()
        )
        assert exists or world.initialized_in(current.id), "regular container started before initialization"
    # Killing the pod starts nothing, unless a new sandbox is created.
    if actions.kill_pod and not actions.create_sandbox:
        assert not any_start
    # A deleting pod is killed and nothing is started.
    if world.pod["metadata"].get("deletionTimestamp"):
        assert actions.kill_pod and not actions.create_sandbox and not any_start
    # Only live containers are killed one by one.
    for cid in actions.containers_to_kill:
        assert world.containers[cid].state in (RUNNING, UNKNOWN)


def plan_kinds(actions: PodActions) -> list[str]:
    """What a plan does, in a few words, to count how varied the simulated plans are."""
    kinds = {
        "create sandbox": actions.create_sandbox,
        "recreate sandbox": actions.create_sandbox and actions.attempt > 0,
        "finish pod": actions.kill_pod and not actions.create_sandbox,
        "kill container": bool(actions.containers_to_kill),
        "start init": bool(actions.init_containers_to_start),
        "start regular": bool(actions.containers_to_start),
    }
    return [kind for kind, happened in kinds.items() if happened]


def simulate(seed: int, pods: int = 40, syncs: int = 40) -> Counter[str]:
    """Run random pods through random histories, checking every plan; count what the plans did.

    A pod's history ends after two finishing plans in a row: it is over, and stays over.
    """
    seen: Counter[str] = Counter()
    rng = random.Random(seed)
    for _ in range(pods):
        world = World(rng, random_pod(rng))
        finishing = 0
        for step in range(syncs):
            for _ in range(rng.choice([0, 1, 1, 2])):
                world.random_event()
            pod_before = copy.deepcopy(world.pod)
            actions = world.plan()
            context = f"seed={seed} step={step} pod={world.pod['spec']} actions={actions}"
            assert world.pod == pod_before, context
            try:
                check_invariants(world, actions)
            except AssertionError as error:
                raise AssertionError(f"{error}\n{context}") from error
            seen.update(plan_kinds(actions))
            world.apply(actions)
            finishing = finishing + 1 if actions.kill_pod and not actions.create_sandbox else 0
            if finishing == 2:
                break
    return seen


@pytest.mark.parametrize("seed", range(20))
def test_invariants_hold_over_random_histories(seed: int) -> None:
    simulate(seed)


def test_random_histories_reach_every_kind_of_plan() -> None:
    # Guards the generator: invariants checked only on trivial plans would prove nothing.
    seen = simulate(seed=1000)
    kinds = {"create sandbox", "recreate sandbox", "finish pod"}
    kinds |= {"kill container", "start init", "start regular"}
    assert kinds <= set(seen), kinds - set(seen)
