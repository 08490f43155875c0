"""`podrun run` as a user runs it: a subprocess on the test's roots, judged by its exit code and output.

Each example in `examples/` runs offline with the outcome its comments promise; exit codes, `-f -`,
`--output json`, `--quiet`, manifests refused before anything starts, and Ctrl-C (once: graceful; twice:
at once). After every run nothing may be left: no container, sandbox or pod directory under the roots,
no mount, and no process (conmon, runc, a container) naming them.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from leaks import processes_naming

from podrun.runtime import linux
from podrun.runtime.images.importer import import_archive
from podrun.runtime.images.store import ImageStore

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
PODRUN = REPO / ".venv" / "bin" / "podrun"
EXAMPLES = REPO / "examples"
# Longer than any run here takes; only reached when something is broken.
TIMEOUT = 60.0

Roots = tuple[Path, Path]


# -- running podrun ---------------------------------------------------------------------------------------------


@dataclass
class Finished:
    """A `podrun run` that exited."""

    code: int
    stdout: str
    stderr: str


@dataclass
class PodrunRun:
    """A running `podrun run`; its output lines are collected as they come."""

    process: asyncio.subprocess.Process
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def _read(self, stream: asyncio.StreamReader, lines: list[str]) -> None:
        while raw := await stream.readline():
            lines.append(raw.decode().rstrip("\n"))
            async with self.changed:
                self.changed.notify_all()

    async def wait_for_line(self, lines: list[str], text: str, timeout: float = TIMEOUT) -> None:
        """Wait until a line of `lines` (`self.stdout` or `self.stderr`) contains `text`."""
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(lambda: any(text in line for line in lines)), timeout)
            except TimeoutError:
                raise AssertionError(f"no line with {text!r}; stdout {self.stdout}, stderr {self.stderr}") from None

    def interrupt(self) -> None:
        """Ctrl-C."""
        self.process.send_signal(signal.SIGINT)

    async def finish(self, timeout: float = TIMEOUT) -> Finished:
        """Wait for the exit and the end of its output."""
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await asyncio.gather(*self.readers)
        return Finished(code, "\n".join(self.stdout), "\n".join(self.stderr))


@pytest.fixture
async def roots(runtime_dirs: Roots) -> AsyncIterator[Roots]:
    """The test's state and run roots (busybox imported, docker.io without upstream); checked clean after the test."""
    yield runtime_dirs
    assert_nothing_left(*runtime_dirs)


@pytest.fixture
def nginx_roots(roots: Roots, test_image_archives: dict[str, Path]) -> Roots:
    """`roots` with the nginx image (`nginx`, `nginx:alpine`) imported too."""
    import_archive(ImageStore(roots[0]), test_image_archives["nginx"])
    return roots


@pytest.fixture
async def started() -> AsyncIterator[list[PodrunRun]]:
    """The `podrun run` processes a test starts; any still running at the end is killed (by its PID)."""
    runs: list[PodrunRun] = []
    yield runs
    for run in runs:
        if run.process.returncode is None:
            run.process.kill()
            await run.process.wait()


async def start_podrun(runs: list[PodrunRun], roots: Roots, *args: str, stdin: str | None = None) -> PodrunRun:
    """Start `podrun run --root R --run-root RR ARGS...`, with `stdin` as its standard input."""
    root, run_root = roots
    process = await asyncio.create_subprocess_exec(
        str(PODRUN), "run", "--root", str(root), "--run-root", str(run_root), *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    run = PodrunRun(process)
    runs.append(run)
    assert process.stdout is not None and process.stderr is not None
    run.readers = [asyncio.create_task(run._read(process.stdout, run.stdout)),
                   asyncio.create_task(run._read(process.stderr, run.stderr))]  # fmt: skip
    if stdin is not None:
        assert process.stdin is not None
        process.stdin.write(stdin.encode())
        await process.stdin.drain()
        process.stdin.close()
    return run


async def podrun_run(runs: list[PodrunRun], roots: Roots, *args: str, stdin: str | None = None) -> Finished:
    """Run `podrun run ARGS...` to its end; check that it left nothing behind."""
    finished = await (await start_podrun(runs, roots, *args, stdin=stdin)).finish()
    assert_nothing_left(*roots)
    return finished


# -- checks -----------------------------------------------------------------------------------------------------


def assert_nothing_left(root: Path, run_root: Path) -> None:
    """No container, sandbox, pod or log directory, no mount and no process of the roots is left."""
    for d in (root / "containers", root / "sandboxes", root / "pods", root / "logs" / "pods", run_root / "sandboxes"):
        assert not d.exists() or not any(d.iterdir()), f"left in {d}: {list(d.iterdir())}"
    assert linux.mounts_under(root) == [] and linux.mounts_under(run_root) == []  # the node namespace too
    ipam = root / "network" / "ipam"
    assert not ipam.exists() or not any(ipam.rglob("*")), f"addresses left allocated: {list(ipam.rglob('*'))}"
    assert processes_naming(root, run_root) == {}


def transitions(stderr: str, pod: str) -> list[str]:
    """The pod's `READY  STATUS` changes, in order, from lines like `pod/web  1/1  Running`."""
    prefix = f"pod/{pod}  "
    return ["  ".join(line[len(prefix) :].split("  ")[:2]) for line in stderr.splitlines() if line.startswith(prefix)]


def files_under(*dirs: Path) -> set[Path]:
    """Every path below `dirs`."""
    return {p for d in dirs for p in d.rglob("*")}


def manifest(tmp_path: Path, text: str) -> str:
    """Write a manifest file; its path."""
    path = tmp_path / "pod.yaml"
    path.write_text(text)
    return str(path)


# -- the examples -----------------------------------------------------------------------------------------------


async def test_init_demo_runs_the_init_container_then_the_app(roots: Roots, started: list[PodrunRun]) -> None:
    """init-demo: Init:0/1 for five seconds, then PodInitializing and 1/1 Running; Ready at the time-out: exit 0."""
    run = await podrun_run(started, roots, "-f", str(EXAMPLES / "init-demo.yaml"), "--timeout", "8s",
                           "--grace-period", "1")  # fmt: skip

    assert run.code == 0, run.stderr
    seen = transitions(run.stderr, "init-demo")
    assert seen[:3] == ["0/1  Init:0/1", "0/1  PodInitializing", "1/1  Running"], seen
    assert "[init-myservice] Waiting for service..." in run.stdout.splitlines()
    assert "[app-container] App container started!" in run.stdout.splitlines()


async def test_failing_init_fails_the_pod_with_init_error(roots: Roots, started: list[PodrunRun]) -> None:
    """failing-init: the init container exits 3 under Never; the app never runs; Init:Error and exit 1."""
    run = await podrun_run(started, roots, "-f", str(EXAMPLES / "failing-init.yaml"))

    assert run.code == 1
    assert transitions(run.stderr, "failing-init")[-1] == "0/1  Init:Error"
    assert "[check-config] config missing" in run.stderr.splitlines()
    assert "never printed" not in run.stdout


async def test_native_sidecar_completes_and_its_sidecar_stops_after_the_job(
    roots: Roots, started: list[PodrunRun]
) -> None:
    """native-sidecar: the job runs beside its sidecar; the sidecar is stopped after the job; exit 0."""
    run = await podrun_run(started, roots, "-f", str(EXAMPLES / "native-sidecar.yaml"))

    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines.index("[job] job running with its sidecar") < lines.index("[job] job done")
    assert lines.index("[job] job done") < lines.index("[log-shipper] shipper stopping")


async def test_web_app_with_db_init_migrates_then_runs_the_app(roots: Roots, started: list[PodrunRun]) -> None:
    """web-app-with-db-init: the migration waits for the database sidecar; the app sees its schema; exit 0.

    The database sidecar does not trap SIGTERM, so stopping it takes the pod's whole grace period (30 s).
    """
    run = await podrun_run(started, roots, "-f", str(EXAMPLES / "web-app-with-db-init.yaml"))

    assert run.code == 0, run.stderr
    # The app can only see the schema the migration wrote; the order of lines from two containers' logs in
    # podrun run's output is the order they were read in, which proves nothing under load.
    lines = run.stdout.splitlines()
    assert "[database-migration] migrating myapp" in lines
    assert "[web-app] web-app sees schema v1" in lines


async def test_multi_container_demo_runs_until_the_time_out(nginx_roots: Roots, started: list[PodrunRun]) -> None:
    """multi-container-demo (nginx and a busybox sidecar): 2/2 Running; Ready at the time-out: exit 0."""
    run = await podrun_run(started, nginx_roots, "-f", str(EXAMPLES / "multi-container-demo.yaml"),
                           "--timeout", "5s", "--grace-period", "1")  # fmt: skip

    assert run.code == 0, run.stderr
    assert "2/2  Running" in transitions(run.stderr, "multi-container-demo")


async def test_sidecar_pod_runs_until_the_time_out(nginx_roots: Roots, started: list[PodrunRun]) -> None:
    """sidecar-pod (nginx:alpine and a log tailer): 2/2 Running; Ready at the time-out: exit 0."""
    run = await podrun_run(started, nginx_roots, "-f", str(EXAMPLES / "sidecar-pod.yaml"),
                           "--timeout", "5s", "--grace-period", "1")  # fmt: skip

    assert run.code == 0, run.stderr
    assert "2/2  Running" in transitions(run.stderr, "web-server-with-logger")


# -- outcomes and options -------------------------------------------------------------------------------------

EXITS_3 = """\
apiVersion: v1
kind: Pod
metadata: {name: exits-3}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: busybox, command: [sh, -c, 'echo failing; exit 3']}
"""

SAYS_HELLO = """\
apiVersion: v1
kind: Pod
metadata: {name: hello}
spec:
  restartPolicy: Never
  containers:
  - {name: greeter, image: busybox, command: [sh, -c, 'echo hello from stdin']}
"""

# Prints `started`; on SIGTERM prints a line and exits (or, with IGNORE_TERM, prints a line and carries on).
ON_TERM = """\
apiVersion: v1
kind: Pod
metadata: {name: on-term}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'trap "echo got SIGTERM, cleaning up; EXIT" TERM; echo started; while true; do sleep 0.1; done']
"""
EXIT_ON_TERM = ON_TERM.replace("EXIT", "exit 0")
# An hour's grace: a run that waited for it instead of killing would outlast any test timeout.
IGNORE_TERM = ON_TERM.replace("got SIGTERM, cleaning up; EXIT", "ignoring SIGTERM").replace(
    "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 3600"
)


async def test_the_exit_code_is_the_failing_main_containers(
    roots: Roots, started: list[PodrunRun], tmp_path: Path
) -> None:
    """A main container exiting 3 under Never: the pod Fails and podrun exits 3."""
    run = await podrun_run(started, roots, "-f", manifest(tmp_path, EXITS_3))

    assert run.code == 3
    assert "[main] failing" in run.stdout.splitlines()


async def test_a_manifest_is_read_from_standard_input_with_dash(roots: Roots, started: list[PodrunRun]) -> None:
    """`-f -` reads the manifest from stdin."""
    run = await podrun_run(started, roots, "-f", "-", stdin=SAYS_HELLO)

    assert run.code == 0, run.stderr
    assert "[greeter] hello from stdin" in run.stdout.splitlines()


async def test_output_json_prints_the_final_pod(roots: Roots, started: list[PodrunRun]) -> None:
    """`-o json` prints the pod at the end, after its logs, with its final status."""
    run = await podrun_run(started, roots, "-f", "-", "--output", "json", stdin=SAYS_HELLO)

    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "[greeter] hello from stdin"
    pod = json.loads("\n".join(lines[lines.index("{") :]))
    assert (pod["kind"], pod["metadata"]["name"], pod["status"]["phase"]) == ("Pod", "hello", "Succeeded")
    [greeter] = pod["status"]["containerStatuses"]
    assert greeter["state"]["terminated"]["exitCode"] == 0


async def test_quiet_prints_nothing(roots: Roots, started: list[PodrunRun]) -> None:
    """`--quiet`: no logs, no transitions, no warnings; only the exit code."""
    run = await podrun_run(started, roots, "-f", "-", "--quiet", stdin=SAYS_HELLO)

    assert (run.code, run.stdout, run.stderr) == (0, "", "")


async def test_the_run_ends_with_a_summary_of_every_container(roots: Roots, started: list[PodrunRun]) -> None:
    """After the pods end, one row per container: its kind, restarts, last exit code and reason."""
    run = await podrun_run(started, roots, "-f", str(EXAMPLES / "failing-init.yaml"))

    rows = [line.split() for line in run.stderr.splitlines()[-3:]]
    assert rows[0] == ["POD", "CONTAINER", "KIND", "RESTARTS", "LAST", "EXIT", "REASON", "RAN", "FOR"]
    expected = [["check-config", "init", "0", "3", "Error"], ["app", "app", "0", "-", "PodInitializing"]]
    assert [row[1:6] for row in rows[1:]] == expected, run.stderr


async def test_offline_uses_the_present_image_without_a_warning(roots: Roots, started: list[PodrunRun]) -> None:
    """`--offline` asked for no registry: the image already present is used as planned, not as a fallback."""
    run = await podrun_run(started, roots, "-f", "-", "--offline", stdin=SAYS_HELLO)

    assert run.code == 0, run.stderr
    assert "Warning" not in run.stderr


async def test_events_flag_prints_normal_events_as_kubectl_get_events_watch(
    roots: Roots, started: list[PodrunRun]
) -> None:
    """`-v`/`--events`: every event, Normal ones too, under kubectl's LAST SEEN TYPE REASON OBJECT MESSAGE."""
    run = await podrun_run(started, roots, "-f", "-", "-v", stdin=SAYS_HELLO)

    assert run.code == 0, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], run.stderr
    reasons = [line.split()[1:3] for line in lines if " Normal " in line]
    assert reasons[:2] == [["Normal", "Scheduled"], ["Normal", "Pulling"]], run.stderr
    assert any(line.split()[1:4] == ["Normal", "Started", "pod/hello"] for line in lines), run.stderr


async def test_an_invalid_pod_is_refused_with_the_api_servers_message_and_nothing_is_made(
    roots: Roots, started: list[PodrunRun]
) -> None:
    """A container without an image: the API server's error, exit 1, and nothing created under the roots."""
    before = files_under(*roots)
    invalid = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - name: c\n"
    run = await podrun_run(started, roots, "-f", "-", stdin=invalid)

    assert run.code == 1
    assert run.stderr == 'error: <stdin>: Pod "bad" is invalid: spec.containers[0].image: Required value'
    assert files_under(*roots) == before


async def test_a_field_of_the_wrong_type_is_refused_with_the_decoders_message_and_nothing_is_made(
    roots: Roots, started: list[PodrunRun]
) -> None:
    """`command: [true]`: the error serve gives (the decoder's field path), exit 1, before anything starts."""
    before = files_under(*roots)
    mistyped = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: [{name: c, command: [true]}]}\n"
    run = await podrun_run(started, roots, "-f", "-", stdin=mistyped)

    assert run.code == 1
    assert run.stderr == (
        'error: <stdin>: document 1: Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal bool '
        "into Go struct field Container.spec.containers.command of type string"
    )
    assert files_under(*roots) == before


async def test_a_deployment_is_refused_by_name(roots: Roots, started: list[PodrunRun]) -> None:
    """Kinds podrun cannot run are refused before anything starts, naming the kind."""
    before = files_under(*roots)
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n"
    run = await podrun_run(started, roots, "-f", "-", stdin=deployment)

    assert run.code == 1
    assert 'kind "Deployment" (apps/v1) is not supported by podrun' in run.stderr
    assert files_under(*roots) == before


# -- service accounts -------------------------------------------------------------------------------------------

READS_ITS_ACCOUNT = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: team}
---
apiVersion: v1
kind: Pod
metadata: {name: reader, namespace: team}
spec:
  serviceAccountName: robot
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    workingDir: /var/run/secrets/kubernetes.io/serviceaccount
    command: [sh, -c, 'echo "token $(wc -c < token) $(stat -L -c %a token)"; echo "namespace $(cat namespace)";
      head -1 ca.crt; echo "host=${KUBERNETES_SERVICE_HOST-unset}"']
"""


async def test_a_pod_reads_its_service_account_token_namespace_and_ca(roots: Roots, started: list[PodrunRun]) -> None:
    """The kube-api-access volume is mounted as on a cluster; with no API server there is no `kubernetes` Service."""
    run = await podrun_run(started, roots, "-f", "-", stdin=READS_ITS_ACCOUNT)

    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    token_line = next(line for line in lines if line.startswith("[c] token "))
    assert int(token_line.split()[2]) >= 32 and token_line.split()[3] == "644"
    assert "[c] namespace team" in lines
    assert "[c] -----BEGIN CERTIFICATE-----" in lines
    assert "[c] host=unset" in lines


async def test_a_pod_naming_a_missing_service_account_is_refused_before_anything_starts(
    roots: Roots, started: list[PodrunRun]
) -> None:
    """The API server's 403 message, exit 1, nothing made."""
    before = files_under(*roots)
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: lost}\n"
    pod += "spec: {serviceAccountName: ghost, containers: [{name: c, image: busybox}]}\n"
    run = await podrun_run(started, roots, "-f", "-", stdin=pod)

    assert run.code == 1
    assert run.stderr == (
        'error: pods "lost" is forbidden: '
        'error looking up service account default/ghost: serviceaccount "ghost" not found'
    )
    assert files_under(*roots) == before


# -- the pod network --------------------------------------------------------------------------------------------

SHOWS_ITS_NETWORK = """
apiVersion: v1
kind: Pod
metadata: {name: net}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    env:
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    command: [sh, -c, 'echo "ip $POD_IP"; grep -c "^$POD_IP[[:space:]]net$" /etc/hosts; head -1 /etc/resolv.conf;
      ip route get 203.0.113.1 || echo "no route outside"']
"""


async def test_a_pod_gets_its_own_address_named_in_its_hosts_file_and_no_route_outside(
    roots: Roots, started: list[PodrunRun]
) -> None:
    """An address from the node's range, /etc/hosts naming it, ClusterFirst DNS, and no default route."""
    run = await podrun_run(started, roots, "-f", "-", "-o", "json", stdin=SHOWS_ITS_NETWORK)

    assert run.code == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("[c] ")]
    pod_ip = lines[0].removeprefix("[c] ip ")
    assert pod_ip.startswith("10.244.0.") and pod_ip != "10.244.0.1"
    assert lines[1:] == ["[c] 1", "[c] search default.svc.cluster.local svc.cluster.local cluster.local",
                         "[c] no route outside"]  # fmt: skip


SHARES_THE_NODE_NETWORK = """
apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  hostNetwork: true
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    env:
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    command: [sh, -c, 'echo "$POD_IP $HOST_IP $(hostname)"; ip -4 addr show lo | grep -c "inet $POD_IP/32"']
"""


async def test_a_host_network_pod_shares_the_node_namespace_and_its_address(
    roots: Roots, started: list[PodrunRun]
) -> None:
    """As on a kind node: podIP = hostIP = the node's address, present in the pod's namespace; the node's name."""
    run = await podrun_run(started, roots, "-f", "-", "-o", "json", stdin=SHARES_THE_NODE_NETWORK)

    assert run.code == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("[c] ")]
    pod_ip, host_ip, hostname = lines[0].removeprefix("[c] ").split()
    assert pod_ip == host_ip == "10.244.0.1" and hostname != "hostnet"
    assert lines[1] == "[c] 1"


SERVER_AND_CLIENT = """
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: listen}]
---
apiVersion: v1
kind: Pod
metadata: {name: server, labels: {app: echo}}
spec:
  restartPolicy: Never
  containers:
  - name: nc
    image: busybox
    ports: [{name: listen, containerPort: 8080}]
    command: [sh, -c, 'echo hello from the server | nc -l -p 8080']
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  restartPolicy: Never
  containers:
  - name: nc
    image: busybox
    command: [sh, -c, 'until nc -w 2 echo 80 < /dev/null; do sleep 0.2; done; echo "host=$ECHO_SERVICE_HOST"']
"""


async def test_pods_of_one_run_reach_each_other_by_service_name(roots: Roots, started: list[PodrunRun]) -> None:
    """The client resolves `echo` in cluster DNS and connects through the Service to the server's named port."""
    run = await podrun_run(started, roots, "-f", "-", stdin=SERVER_AND_CLIENT)

    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "[client/nc] hello from the server" in lines
    host = next(line for line in lines if line.startswith("[client/nc] host="))
    assert host.removeprefix("[client/nc] host=").startswith("10.96.")


async def test_services_asking_for_the_same_cluster_ip_are_refused_before_anything_starts(
    roots: Roots, started: list[PodrunRun]
) -> None:
    """The API server's 422 for the second Service; exit 1, nothing made."""
    before = files_under(*roots)
    service = "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\n"
    service += "spec: {{clusterIP: 10.96.0.50, ports: [{{port: 80}}]}}\n---\n"
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n"
    run = await podrun_run(
        started, roots, "-f", "-", stdin=service.format(name="one") + service.format(name="two") + pod
    )

    assert run.code == 1
    assert run.stderr == (
        'error: Service "two" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.50"}: '
        "failed to allocate IP 10.96.0.50: provided IP is already allocated"
    )
    assert files_under(*roots) == before


async def test_the_next_run_removes_what_a_killed_run_left_of_the_network(
    roots: Roots, started: list[PodrunRun]
) -> None:
    """SIGKILL leaves the node namespace, the pod's address and its container; the next run on the root ends them."""
    root, run_root = roots
    killed = await start_podrun(started, roots, "-f", "-", stdin=SERVER_AND_CLIENT.split("---", 1)[1])
    await killed.wait_for_line(killed.stderr, "pod/server  1/1  Running")
    killed.process.kill()
    await killed.finish()
    assert run_root / "network" / "netns" in {Path(m) for m in linux.mounts_under(run_root)}
    assert any((root / "network" / "ipam").rglob("*"))

    finished = await podrun_run(started, roots, "-f", "-", stdin=SHOWS_ITS_NETWORK)

    assert finished.code == 0, finished.stderr
    assert "Removing what a killed podrun run left on this root: server" in finished.stderr


async def test_a_second_podrun_on_the_same_root_is_refused(roots: Roots, started: list[PodrunRun]) -> None:
    """The node network (its DNS server, its ports) belongs to one podrun per root."""
    first = await start_podrun(
        started, roots, "--grace-period", "1", "-f", "-", stdin=SERVER_AND_CLIENT.split("---", 1)[1]
    )
    await first.wait_for_line(first.stderr, "pod/server  1/1  Running")

    second = await start_podrun(started, roots, "-f", "-", stdin=SHOWS_ITS_NETWORK)
    refused = await second.finish()
    first.interrupt()
    await first.finish()

    assert refused.code == 1
    assert refused.stderr == (
        f"error: podrun run (pid {first.process.pid}) is using {roots[1]}: one podrun run or serve per root at a time"
    )


# -- Ctrl-C -----------------------------------------------------------------------------------------------------


async def test_ctrl_c_stops_the_pod_gracefully_and_exits_130(roots: Roots, started: list[PodrunRun]) -> None:
    """Ctrl-C deletes the pod: its container gets SIGTERM, prints its last line and exits; podrun exits 130."""
    run = await start_podrun(started, roots, "-f", "-", stdin=EXIT_ON_TERM)
    await run.wait_for_line(run.stdout, "[app] started")
    run.interrupt()
    finished = await run.finish()

    assert finished.code == 130
    assert "[app] got SIGTERM, cleaning up" in finished.stdout.splitlines()
    assert "Stopping the pods gracefully" in finished.stderr
    assert_nothing_left(*roots)


async def test_a_second_ctrl_c_kills_the_pod_at_once(roots: Roots, started: list[PodrunRun]) -> None:
    """The container ignores SIGTERM (grace period an hour); the second Ctrl-C kills it at once."""
    run = await start_podrun(started, roots, "-f", "-", stdin=IGNORE_TERM)
    await run.wait_for_line(run.stdout, "[app] started")
    run.interrupt()
    await run.wait_for_line(run.stdout, "[app] ignoring SIGTERM")
    run.interrupt()
    finished = await run.finish()  # within TIMEOUT, far below the grace period: killed, not waited for

    assert finished.code == 130
    assert "Killing the pods" in finished.stderr
    assert_nothing_left(*roots)
