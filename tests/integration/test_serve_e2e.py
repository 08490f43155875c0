"""What a user does with `podrun serve` and the real kubectl, end to end, with real containers.

One `podrun serve` runs for the whole module as a subprocess (`serve_harness.ServeProcess`) on fresh state and
run roots under /tmp, with the test images imported (busybox, nginx, and busybox again as `busybox:v2`) and a
`registries.json` that gives docker.io no upstream, so nothing outside the machine is ever contacted. kubectl
runs with its own kubeconfig, `--cache-dir` and HOME, in a directory holding the seed's manifests copied verbatim
from `examples/`, so the seed's commands run as written (`kubectl apply -f init-demo.yaml`).

Every test deletes its pods when it ends (`--grace-period=1`). At the end of the module the server is stopped
with SIGTERM, and no mount, process (conmon, runc, container) or cgroup of any sandbox may be left behind.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from leaks import pod_sandbox_ids
from serve_harness import (
    EXAMPLES,
    KUBECTL,
    TIMEOUT,
    ServeProcess,
    free_port,
    installed_kubectl_minors,
    next_line,
    processes_naming,
    read_lines,
    run_in_pty,
    running,
    serving,
    wait_until,
)

from podrun.json_types import JSON
from podrun.timestamps import parse_time

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

MINORS = installed_kubectl_minors()
# A container that says NAME, then idles and exits at once on SIGTERM (so deleting its pod takes no grace).
IDLE = "trap 'exit 0' TERM; echo \"{line}\"; while true; do sleep 0.2; done"


# -- the server ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def serve(test_image_archives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`podrun serve` on fresh roots with the test images; stopped, and checked for leaks, after the module."""
    archives = test_image_archives

    def add_busybox_v2(root: Path, run_root: Path) -> None:
        # A "different image" for `kubectl apply` with a changed image, made as a user would.
        subprocess.run(
            [sys.executable, "-m", "podrun.cli.main", "image", "import", "--root", str(root), "--run-root",
             str(run_root), "--name", "busybox:v2", str(archives["busybox"])],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    work = tmp_path_factory.mktemp("serve")
    for example in EXAMPLES.glob("*.yaml"):
        shutil.copy(example, work / example.name)
    with serving([archives["busybox"], archives["nginx"]], work, add_busybox_v2) as server:
        yield server


@pytest.fixture(autouse=True)
def no_pods_left(serve: ServeProcess) -> Iterator[None]:
    """After each test: its pods are deleted, and with them their containers and sandboxes."""
    yield
    if not serve.running():
        serve.start()
    serve.delete_all_pods()
    wait_until(lambda: not runtime_objects(serve), timeout=10, what="no containers or sandboxes on disk")


def runtime_objects(serve: ServeProcess) -> list[str]:
    """The containers and pod sandboxes in the server's roots (empty when no pod exists; the server's spare
    sandbox, made between pods for the next one, is no pod's)."""
    containers = [p.name for p in (serve.root / "containers").glob("*")]
    return containers + sorted(pod_sandbox_ids(serve.root, serve.run_root))


# -- helpers -------------------------------------------------------------------------------------------------


def manifest(name: str, containers: list[JSON], **spec: Any) -> str:
    """A Pod as a user writes it (YAML)."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": containers, **spec}}
    return yaml.safe_dump(pod, sort_keys=False)


def idle(name: str, line: str, image: str = "busybox") -> JSON:
    """A busybox container that prints `line`, then idles until SIGTERM."""
    return {"name": name, "image": image, "command": ["sh", "-c", IDLE.format(line=line)]}


def apply_and_wait(serve: ServeProcess, text: str, name: str) -> None:
    """`kubectl apply -f -` then `kubectl wait --for=condition=Ready`."""
    serve.kubectl("apply", "-f", "-", stdin=text)
    serve.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")


def describe_events(described: str) -> list[list[str]]:
    """The rows of the Events table of `kubectl describe`: [Type, Reason, Age, From, Message]."""
    table = described.split("\nEvents:\n", 1)[1].splitlines()
    assert table[0].split() == ["Type", "Reason", "Age", "From", "Message"], table
    return [re.split(r"\s{2,}", line.strip(), maxsplit=4) for line in table[2:] if line.strip()]


def http_get(url: str) -> tuple[int, str]:
    """Status and body of a GET (any status; connection errors raise)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def port_forward(serve: ServeProcess, target: str, local: int) -> subprocess.Popen[str]:
    """`kubectl port-forward TARGET LOCAL:80`, returned once it says it is forwarding."""
    process = serve.popen_kubectl("port-forward", target, f"{local}:80")
    assert process.stdout is not None
    line = process.stdout.readline()
    if line != f"Forwarding from 127.0.0.1:{local} -> 80\n":
        process.kill()
        raise AssertionError(line + (process.stderr.read() if process.stderr else ""))
    return process


def pod_when(serve: ServeProcess, name: str, condition: Callable[[JSON], bool], timeout: float = TIMEOUT) -> JSON:
    """The pod (`kubectl get -o json`) as soon as `condition` holds for it."""

    def matching() -> JSON | None:
        pod = serve.pod(name)
        return pod if condition(pod) else None

    return wait_until(matching, timeout, what=f"pod {name}")


def container_status(pod: JSON, name: str) -> JSON:
    """The status of container `name` (init or regular) in a pod from the API."""
    status = pod["status"]
    for s in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]:
        if s["name"] == name:
            return dict(s)
    raise AssertionError(f"no status for container {name}")


# -- 1. init-demo --------------------------------------------------------------------------------------------


def test_init_demo_shows_init_then_running_with_events_and_the_init_containers_log(serve: ServeProcess) -> None:
    assert serve.kubectl("apply", "-f", "init-demo.yaml").stdout == "pod/init-demo created\n"

    # The init container sleeps 5 s: meanwhile the pod is Init:0/1; then the app runs.
    assert wait_until(lambda: serve.pod_row("init-demo")[1:4] == ["0/1", "Init:0/1", "0"])
    wait_until(lambda: serve.pod_row("init-demo")[1:4] == ["1/1", "Running", "0"], timeout=20)
    status = json.loads(serve.kubectl("get", "pod", "init-demo", "-o", "json").stdout)["status"]
    init_finished = parse_time(status["initContainerStatuses"][0]["state"]["terminated"]["finishedAt"])
    assert init_finished <= parse_time(status["containerStatuses"][0]["state"]["running"]["startedAt"])

    described = serve.kubectl("describe", "pod", "init-demo").stdout
    assert "\nInit Containers:\n  init-myservice:\n" in described
    assert "\nContainers:\n  app-container:\n" in described
    events = describe_events(described)
    reasons = [(reason, message) for _type, reason, _age, _source, message in events]
    node = serve.kubectl("get", "nodes", "-o", "name").stdout.strip().removeprefix("node/")
    assert events[0][:2] == ["Normal", "Scheduled"] and events[0][3:] == [
        "default-scheduler", f"Successfully assigned default/init-demo to {node}"
    ]  # fmt: skip
    # Both containers: pulled (a Warning here: docker.io is unreachable, the local image is used), created, started.
    assert [reason for reason, _ in reasons].count("Pulled") == 2
    init_started = reasons.index(("Started", "Started container init-myservice"))
    assert reasons.index(("Created", "Created container: init-myservice")) < init_started
    assert init_started < reasons.index(("Created", "Created container: app-container"))
    assert reasons.index(("Created", "Created container: app-container")) < reasons.index(
        ("Started", "Started container app-container")
    )

    assert serve.kubectl("logs", "init-demo", "-c", "init-myservice").stdout == "Waiting for service...\n"


# -- 2. multi-container-demo ---------------------------------------------------------------------------------


def test_multi_container_demo_serves_the_sidecars_page_through_port_forward(serve: ServeProcess) -> None:
    assert serve.kubectl("apply", "-f", "multi-container-demo.yaml").stdout == "pod/multi-container-demo created\n"
    serve.kubectl("wait", "--for=condition=Ready", "pod/multi-container-demo", "--timeout=30s")
    local = free_port()

    with running(port_forward(serve, "pod/multi-container-demo", local)):
        # The sidecar writes index.html as it starts: at most a moment after Ready, nginx serves it.
        page = wait_until(lambda: (answer := http_get(f"http://localhost:{local}"))[0] == 200 and answer[1])

    assert page == "Hello from sidecar!\n"


# -- 3. sidecar-pod ------------------------------------------------------------------------------------------


def test_sidecar_pod_tails_the_access_log_of_requests_through_port_forward(serve: ServeProcess) -> None:
    assert serve.kubectl("apply", "-f", "sidecar-pod.yaml").stdout == "pod/web-server-with-logger created\n"
    wait_until(lambda: serve.pod_row("web-server-with-logger")[1:4] == ["2/2", "Running", "0"])
    local = free_port()

    with running(port_forward(serve, "web-server-with-logger", local)):
        assert http_get(f"http://localhost:{local}")[0] == 200
        assert http_get(f"http://localhost:{local}/test")[0] == 404

    # busybox tail -f looks at the file once a second.
    def tailed() -> list[str]:
        lines = serve.kubectl("logs", "web-server-with-logger", "-c", "log-tailer").stdout.splitlines()
        return lines if len(lines) >= 2 else []

    first, second = wait_until(tailed, timeout=10)
    entry = r'^127\.0\.0\.1 - - \[[^]]+\] "GET {path} HTTP/1\.1" {code} \d+ "-" "Python-urllib/3\.\d+"$'
    assert re.match(entry.format(path="/", code=200), first), first
    assert re.match(entry.format(path="/test", code=404), second), second
    assert serve.kubectl("logs", "web-server-with-logger", "-c", "web-server").returncode == 0


# -- 4. a failing init container -----------------------------------------------------------------------------


def test_failing_init_container_crash_loops_under_restart_policy_always(serve: ServeProcess) -> None:
    always = (serve.work / "failing-init.yaml").read_text().replace("restartPolicy: Never", "restartPolicy: Always")
    always = always.replace("name: failing-init\n", "name: failing-init-always\n")

    with running(serve.popen_kubectl("get", "pods", "-w")) as watch:
        assert watch.stdout is not None
        lines = read_lines(watch.stdout)
        serve.kubectl("apply", "-f", "-", stdin=always)
        assert next_line(lines).split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        statuses: list[str] = []
        while "Init:CrashLoopBackOff" not in statuses:
            row = next_line(lines).split()
            assert row[0] == "failing-init-always"
            statuses.append(row[2])

    assert "Init:Error" in statuses and statuses.index("Init:Error") < statuses.index("Init:CrashLoopBackOff")
    assert set(statuses) <= {"Pending", "Init:0/1", "Init:Error", "Init:CrashLoopBackOff"}, statuses
    check = container_status(serve.pod("failing-init-always"), "check-config")
    assert check["restartCount"] >= 1
    assert check["lastState"]["terminated"]["exitCode"] == 3


def test_failing_init_container_fails_the_pod_under_restart_policy_never(serve: ServeProcess) -> None:
    assert serve.kubectl("apply", "-f", "failing-init.yaml").stdout == "pod/failing-init created\n"

    wait_until(lambda: serve.pod_row("failing-init")[1:4] == ["0/1", "Init:Error", "0"])
    pod = pod_when(serve, "failing-init", lambda pod: pod["status"]["phase"] == "Failed")
    assert container_status(pod, "check-config")["state"]["terminated"]["exitCode"] == 3
    assert container_status(pod, "app")["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert serve.kubectl("logs", "failing-init", "-c", "check-config").stdout == "config missing\n"


# -- 5. the everyday commands --------------------------------------------------------------------------------


def test_get_pods_wide_shows_the_node(serve: ServeProcess) -> None:
    apply_and_wait(serve, manifest("wide", [idle("c", "hi")]), "wide")
    node = serve.kubectl("get", "nodes", "-o", "name").stdout.strip().removeprefix("node/")

    lines = serve.kubectl("get", "pods", "-o", "wide").stdout.splitlines()

    assert re.split(r"\s{2,}", lines[0].strip()) == [
        "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"
    ]  # fmt: skip
    cells = re.split(r"\s{2,}", lines[1].strip())
    assert cells[:4] == ["wide", "1/1", "Running", "0"] and cells[6:] == [node, "<none>", "<none>"]


def test_get_pod_yaml_and_json_are_the_same_object(serve: ServeProcess) -> None:
    apply_and_wait(serve, manifest("formats", [idle("c", "hi")]), "formats")

    as_yaml = yaml.safe_load(serve.kubectl("get", "pod", "formats", "-o", "yaml").stdout)
    as_json = json.loads(serve.kubectl("get", "pod", "formats", "-o", "json").stdout)

    assert as_yaml == as_json
    assert as_json["status"]["phase"] == "Running"
    assert container_status(as_json, "c")["state"]["running"]["startedAt"]
    assert as_json["spec"]["containers"][0]["imagePullPolicy"] == "Always"  # defaulted for a :latest image


def test_get_pods_watch_follows_a_pod_through_its_start(serve: ServeProcess) -> None:
    pod = manifest(
        "watched", [idle("app", "up")],
        initContainers=[{"name": "init", "image": "busybox", "command": ["sleep", "0.5"]}],
    )  # fmt: skip
    with running(serve.popen_kubectl("get", "pods", "-w")) as watch:
        assert watch.stdout is not None
        lines = read_lines(watch.stdout)
        serve.kubectl("apply", "-f", "-", stdin=pod)
        assert next_line(lines).split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        rows = [next_line(lines).split()]
        while rows[-1][1:3] != ["1/1", "Running"]:
            rows.append(next_line(lines).split())

    statuses = [row[2] for row in rows]
    assert "Init:0/1" in statuses and statuses.index("Init:0/1") < len(statuses) - 1, statuses
    assert all(row[0] == "watched" and row[3] == "0" for row in rows)


def test_get_events_lists_what_the_scheduler_and_kubelet_did(serve: ServeProcess) -> None:
    apply_and_wait(serve, manifest("eventful", [idle("c", "hi")]), "eventful")

    lines = serve.kubectl("get", "events").stdout.splitlines()

    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    ours = [re.split(r"\s{2,}", line.strip(), maxsplit=4) for line in lines[1:] if " pod/eventful " in line]
    assert [cells[2] for cells in ours] == ["Scheduled", "Pulling", "Pulled", "Created", "Started"], ours
    assert ours[-1][4] == "Started container c"


def test_exec_returns_the_commands_output_and_exit_code(serve: ServeProcess) -> None:
    apply_and_wait(serve, manifest("exec-me", [idle("a", "a"), idle("b", "b")]), "exec-me")

    result = serve.kubectl("exec", "exec-me", "-c", "b", "--", "sh", "-c", "echo hi; exit 3", check=False)

    assert (result.returncode, result.stdout) == (3, "hi\n")
    assert result.stderr.strip() == "command terminated with exit code 3"


def test_exec_it_runs_an_interactive_shell(serve: ServeProcess) -> None:
    apply_and_wait(serve, manifest("shell", [idle("c", "hi")]), "shell")

    shown = run_in_pty(
        serve.kubectl_command("exec", "-it", "shell", "--", "sh"), serve.env(),
        keys=b"echo $((6*7)); exit\r", prompt=b"/ # ",
    )  # fmt: skip

    assert "echo $((6*7)); exit\r\n42\r\n" in shown, shown


def test_wait_for_ready_returns_once_the_pod_is_ready(serve: ServeProcess) -> None:
    # Ready about 2 s after the apply: an init container sleeps 1 s, then the app's readiness probe waits 1 s more.
    app = {
        "name": "app", "image": "busybox",
        "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /tmp/ready; while true; do sleep 0.2; done"],
        "readinessProbe": {"exec": {"command": ["test", "-e", "/tmp/ready"]}, "periodSeconds": 1},
    }  # fmt: skip
    init = {"name": "init", "image": "busybox", "command": ["sleep", "1"]}
    serve.kubectl("apply", "-f", "-", stdin=manifest("slow-ready", [app], initContainers=[init]))
    assert serve.pod_row("slow-ready")[1] == "0/1"

    result = serve.kubectl("wait", "--for=condition=Ready", "pod/slow-ready", "--timeout=30s")

    assert result.stdout == "pod/slow-ready condition met\n"
    assert serve.pod_row("slow-ready")[1:3] == ["1/1", "Running"]


def test_a_readiness_gate_holds_ready_until_its_condition_is_set_through_the_status_subresource(
    serve: ServeProcess,
) -> None:
    gate = "example.com/lb-ready"
    gated = manifest("gated", [idle("app", "up")], readinessGates=[{"conditionType": gate}])
    serve.kubectl("apply", "-f", "-", stdin=gated)
    serve.kubectl("wait", "--for=condition=ContainersReady", "pod/gated", "--timeout=30s")
    held = serve.kubectl("get", "pod", "gated", "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}")

    patch = json.dumps({"status": {"conditions": [{"type": gate, "status": "True"}]}})
    serve.kubectl("patch", "pod", "gated", "--subresource=status", "-p", patch)
    result = serve.kubectl("wait", "--for=condition=Ready", "pod/gated", "--timeout=30s")

    assert held.stdout == "False"
    assert result.stdout == "pod/gated condition met\n"
    assert serve.kubectl("get", "pod", "gated", "-o", "wide").stdout.split("\n")[1].split()[-1] == "1/1"


def test_delete_returns_when_the_pod_and_its_containers_are_gone(serve: ServeProcess) -> None:
    apply_and_wait(serve, manifest("doomed", [idle("a", "a"), idle("b", "b")]), "doomed")
    assert len(list((serve.root / "containers").iterdir())) == 2
    assert pod_sandbox_ids(serve.root, serve.run_root)

    assert serve.kubectl("delete", "pod", "doomed").stdout == 'pod "doomed" deleted\n'

    assert serve.kubectl("get", "pod", "doomed", "--ignore-not-found").stdout == ""
    assert runtime_objects(serve) == []


def test_apply_with_a_changed_image_restarts_only_that_container(serve: ServeProcess) -> None:
    before = manifest("upgrade", [idle("keep", "keep"), idle("bump", "bump")], terminationGracePeriodSeconds=1)
    apply_and_wait(serve, before, "upgrade")
    after = manifest(
        "upgrade", [idle("keep", "keep"), idle("bump", "bump", image="busybox:v2")], terminationGracePeriodSeconds=1
    )  # fmt: skip

    assert serve.kubectl("apply", "-f", "-", stdin=after).stdout == "pod/upgrade configured\n"

    wait_until(lambda: serve.pod_row("upgrade")[1:4] == ["2/2", "Running", "1"])
    pod = serve.pod("upgrade")
    assert container_status(pod, "keep")["restartCount"] == 0
    assert container_status(pod, "bump")["image"] == "busybox:v2"
    described = serve.kubectl("describe", "pod", "upgrade").stdout
    assert "Container bump definition changed, will be restarted" in described


def test_logs_follow_streams_lines_as_the_container_prints_them(serve: ServeProcess) -> None:
    script = "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"
    ticker = {"name": "ticker", "image": "busybox", "command": ["sh", "-c", script]}
    apply_and_wait(serve, manifest("ticker", [ticker]), "ticker")
    printed = serve.kubectl("logs", "ticker").stdout.splitlines()
    last = int(printed[-1].split()[1])

    with running(serve.popen_kubectl("logs", "-f", "ticker")) as follow:
        assert follow.stdout is not None
        lines = read_lines(follow.stdout)
        seen = [next_line(lines, timeout=5)]
        while int(seen[-1].split()[1]) <= last:
            seen.append(next_line(lines, timeout=5))

    counts = [int(line.split()[1]) for line in seen]
    assert counts == list(range(counts[0], counts[-1] + 1)), "lines are missing or repeated"
    assert counts[-1] > last


def test_logs_previous_shows_the_instance_before_a_restart(serve: ServeProcess) -> None:
    # The first run fails; the kubelet restarts it at once (no back-off before the first restart).
    script = (
        "n=$(cat /state/runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/runs; echo run $n; "
        '[ $n = 1 ] && exit 1; trap "exit 0" TERM; while true; do sleep 0.2; done'
    )
    container = {"name": "flaky", "image": "busybox", "command": ["sh", "-c", script],
                 "volumeMounts": [{"name": "state", "mountPath": "/state"}]}  # fmt: skip
    serve.kubectl("apply", "-f", "-", stdin=manifest("flaky", [container], volumes=[{"name": "state", "emptyDir": {}}]))
    wait_until(lambda: serve.pod_row("flaky")[1:4] == ["1/1", "Running", "1"])

    assert serve.kubectl("logs", "flaky", "--previous").stdout == "run 1\n"
    assert serve.kubectl("logs", "flaky").stdout == "run 2\n"


def test_in_back_off_logs_and_logs_previous_both_show_the_last_terminated_run(serve: ServeProcess) -> None:
    script = "n=$(cat /state/runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/runs; echo run $n; exit 1"
    container = {"name": "crashing", "image": "busybox", "command": ["sh", "-c", script],
                 "terminationMessagePolicy": "FallbackToLogsOnError",
                 "volumeMounts": [{"name": "state", "mountPath": "/state"}]}  # fmt: skip
    volumes = [{"name": "state", "emptyDir": {}}]
    serve.kubectl("apply", "-f", "-", stdin=manifest("crashing", [container], volumes=volumes))

    def in_back_off_after_a_restart(pod: JSON) -> bool:
        status = (pod["status"].get("containerStatuses") or [{}])[0]
        waiting = status.get("state", {}).get("waiting", {})
        return waiting.get("reason") == "CrashLoopBackOff" and status.get("restartCount", 0) >= 1

    pod = pod_when(serve, "crashing", in_back_off_after_a_restart)
    last_run = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"].strip()

    # The kubelet's validateContainerLogStatus: a waiting container's log is its last terminated instance's.
    assert serve.kubectl("logs", "crashing").stdout == f"{last_run}\n"
    assert serve.kubectl("logs", "crashing", "--previous").stdout == f"{last_run}\n"
    assert last_run != "run 1"


def test_logs_all_containers_prints_every_containers_output(serve: ServeProcess) -> None:
    apply_and_wait(serve, manifest("chatty", [idle("first", "from first"), idle("second", "from second")]), "chatty")

    output = serve.kubectl("logs", "chatty", "--all-containers").stdout

    assert sorted(output.splitlines()) == ["from first", "from second"]


# -- 6. restart safety ---------------------------------------------------------------------------------------


def test_a_killed_server_restarts_and_adopts_its_running_pods(serve: ServeProcess) -> None:
    apply_and_wait(serve, manifest("survivor", [idle("c", "still here")]), "survivor")
    before = container_status(serve.pod("survivor"), "c")

    serve.kill(signal.SIGKILL)
    conmons = [cmd for cmd in processes_naming(serve.root, serve.run_root).values() if "conmon" in cmd]
    assert len(conmons) == 1, "the container's conmon keeps it running without the server"
    serve.start()

    assert serve.pod_row("survivor")[:4] == ["survivor", "1/1", "Running", "0"]
    after = container_status(serve.pod("survivor"), "c")
    assert after["containerID"] == before["containerID"]
    assert after["state"]["running"]["startedAt"] == before["state"]["running"]["startedAt"]
    assert after["restartCount"] == 0
    # It still reacts: exec reaches the adopted container, and delete stops it.
    assert serve.kubectl("exec", "survivor", "--", "echo", "adopted").stdout == "adopted\n"
    assert serve.kubectl("delete", "pod", "survivor").stdout == 'pod "survivor" deleted\n'
    assert runtime_objects(serve) == []


# -- 7. every installed kubectl --------------------------------------------------------------------------------


@pytest.mark.parametrize("minor", list(MINORS), ids=[f"kubectl-1.{m}" for m in MINORS])
def test_core_commands_with_each_installed_kubectl(serve: ServeProcess, minor: int) -> None:
    kubectl = MINORS[minor]
    version = json.loads(serve.kubectl("version", "-o", "json", binary=kubectl).stdout)
    assert version["clientVersion"]["gitVersion"].startswith(f"v1.{minor}.")
    assert version["serverVersion"]["gitVersion"].startswith("v1.32.")
    name = f"core-{minor}"

    pod = manifest(name, [idle("c", f"hello from 1.{minor}")])
    assert serve.kubectl("apply", "-f", "-", stdin=pod, binary=kubectl).stdout == f"pod/{name} created\n"

    def row() -> list[str]:
        return serve.kubectl("get", "pod", name, binary=kubectl).stdout.splitlines()[1].split()

    wait_until(lambda: row()[1:3] == ["1/1", "Running"])
    assert serve.kubectl("logs", name, binary=kubectl).stdout == f"hello from 1.{minor}\n"
    executed = serve.kubectl("exec", name, "--", "sh", "-c", "echo hi; exit 3", check=False, binary=kubectl)
    assert (executed.returncode, executed.stdout) == (3, "hi\n")
    assert serve.kubectl("delete", "pod", name, binary=kubectl).stdout == f'pod "{name}" deleted\n'
    assert serve.kubectl("get", "pod", name, "--ignore-not-found", binary=kubectl).stdout == ""


def test_a_container_with_a_pod_ip_reports_what_it_wrote_to_its_termination_log(serve: ServeProcess) -> None:
    writer = {"name": "c", "image": "busybox", "command": ["sh", "-c", "printf 'all done' > /dev/termination-log"]}
    serve.kubectl("apply", "-f", "-", stdin=manifest("last-words", [writer], restartPolicy="Never"))

    pod = pod_when(serve, "last-words", lambda pod: pod["status"].get("phase") == "Succeeded")

    assert pod["status"]["podIP"]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"] == "all done"


# -- 8. service accounts -------------------------------------------------------------------------------------

READ_ACCOUNT = (
    "cd /var/run/secrets/kubernetes.io/serviceaccount; echo namespace $(cat namespace); "
    "echo mode $(stat -L -c %a token); echo host $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT; "
    "echo token $(cat token); cat ca.crt"
)


def test_a_pod_reads_its_service_account_token_and_the_kubernetes_service(serve: ServeProcess) -> None:
    reader = {"name": "c", "image": "busybox", "command": ["sh", "-c", READ_ACCOUNT]}
    serve.kubectl("apply", "-f", "-", stdin=manifest("reader", [reader], restartPolicy="Never"))
    pod_when(serve, "reader", lambda pod: pod["status"].get("phase") == "Succeeded")

    output = serve.kubectl("logs", "reader").stdout
    lines = output.splitlines()
    assert lines[:3] == ["namespace default", "mode 644", "host 10.96.0.1:443"]
    published_ca = serve.kubectl("get", "configmap", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}").stdout
    assert output.split("\n", 4)[4].strip() == published_ca.strip()
    token = lines[3].removeprefix("token ")
    # While its pod exists, the token reads its namespace as system:serviceaccount:default:default, and no more.
    assert "reader" in serve.kubectl("get", "pods", "--token", token).stdout
    denied = serve.kubectl("delete", "pod", "reader", "--token", token, check=False)
    assert 'User "system:serviceaccount:default:default" cannot delete resource "pods"' in denied.stderr


def test_a_pod_naming_a_missing_service_account_is_forbidden(serve: ServeProcess) -> None:
    pod = manifest("orphan", [idle("c", "never")], serviceAccountName="ghost")
    refused = serve.kubectl("apply", "-f", "-", stdin=pod, check=False)
    assert refused.returncode == 1
    assert 'error looking up service account default/ghost: serviceaccount "ghost" not found' in refused.stderr


# -- known bugs ----------------------------------------------------------------------------------------------


def test_pods_applied_together_start_without_failed_syncs(serve: ServeProcess) -> None:
    """Pods created at the same moment each get their sandbox on the first try."""
    names = [f"together-{i}" for i in range(6)]
    logged = len(serve.log())

    serve.kubectl("apply", "-f", "-", stdin="---\n".join(manifest(name, [idle("c", name)]) for name in names))
    serve.kubectl("wait", "--for=condition=Ready", *[f"pod/{name}" for name in names], "--timeout=30s")

    assert "sync of pod" not in serve.log()[logged:], serve.log()[logged:]


def test_a_completed_init_container_keeps_naming_the_image_it_ran(serve: ServeProcess) -> None:
    setup = {"name": "setup", "image": "busybox", "command": ["true"]}
    apply_and_wait(serve, manifest("reimaged", [idle("app", "app")], initContainers=[setup]), "reimaged")

    serve.kubectl("set", "image", "pod/reimaged", "setup=busybox:v2", "app=busybox:v2")

    # The app container's restart shows the kubelet has seen the update; the init container is not run again.
    wait_until(lambda: container_status(serve.pod("reimaged"), "app").get("image") == "busybox:v2")
    pod = serve.pod("reimaged")
    assert pod["spec"]["initContainers"][0]["image"] == "busybox:v2"
    [init] = pod["status"]["initContainerStatuses"]
    assert init["image"] == "busybox"
    assert init["restartCount"] == 0 and init["state"]["terminated"]["reason"] == "Completed"


def test_a_pod_held_by_a_finalizer_stays_terminated_until_it_is_removed(serve: ServeProcess) -> None:
    held = yaml.safe_load(manifest("held", [idle("app", "app")], terminationGracePeriodSeconds=1))
    held["metadata"]["finalizers"] = ["example.com/keep"]
    apply_and_wait(serve, yaml.safe_dump(held), "held")

    serve.kubectl("delete", "pod", "held", "--wait=false")

    def terminated() -> JSON | None:
        pod = serve.pod("held")
        return pod if pod["metadata"].get("deletionGracePeriodSeconds") == 0 else None

    pod = wait_until(terminated, what="the kubelet's grace-0 delete")
    assert pod["metadata"]["finalizers"] == ["example.com/keep"]
    assert container_status(pod, "app")["state"]["terminated"]["exitCode"] == 0
    serve.kubectl("patch", "pod", "held", "--type=json", "-p", '[{"op": "remove", "path": "/metadata/finalizers"}]')
    assert serve.kubectl("get", "pod", "held", "--ignore-not-found").stdout == ""


def test_a_server_side_applied_pod_is_owned_by_kubectl_and_its_status_by_the_kubelet(serve: ServeProcess) -> None:
    text = manifest("owned", [idle("app", "owned")], terminationGracePeriodSeconds=1)
    serve.kubectl("apply", "--server-side", "-f", "-", stdin=text)
    serve.kubectl("wait", "--for=condition=Ready", "pod/owned", "--timeout=30s")
    assert serve.kubectl("apply", "--server-side", "-f", "-", stdin=text).stdout == "pod/owned serverside-applied\n"
    shown = json.loads(serve.kubectl("get", "pod", "owned", "-o", "json", "--show-managed-fields").stdout)
    entries = {(e["manager"], e["operation"], e.get("subresource", "")) for e in shown["metadata"]["managedFields"]}
    assert entries == {("kubectl", "Apply", ""), ("kubelet", "Update", "status")}
    serve.kubectl("delete", "pod", "owned")
