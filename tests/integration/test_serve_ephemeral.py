"""`kubectl debug` with ephemeral containers against `podrun serve` and real containers.

The debug container runs in the pod's sandbox (its network namespace) and, with `--target`, in the target
container's PID namespace, so `ps` lists the target's processes. It runs once, is never restarted, and its
status appears in `ephemeralContainerStatuses`; `kubectl logs -c` and `kubectl debug -i` (attach) reach it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from serve_harness import (
    KUBECTL,
    ServeProcess,
    next_line,
    read_lines,
    run_in_pty,
    running,
    serving,
    wait_until,
)

JSON = dict[str, Any]

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

# A process only the target runs, easy to find in `ps`.
TARGET_COMMAND = ["sh", "-c", "exec sleep 424242"]
# What the debugger reports: its namespaces, then the processes it can see.
NAMESPACES = "readlink /proc/self/ns/net; readlink /proc/self/ns/pid"
PROBE = f"{NAMESPACES}; ps -o pid,args"


@pytest.fixture(scope="module")
def serve(test_image_archives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`podrun serve` on fresh roots with busybox; stopped, and checked for leaks, after the module."""
    with serving([test_image_archives["busybox"]], tmp_path_factory.mktemp("serve")) as server:
        yield server


@pytest.fixture(autouse=True)
def no_pods_left(serve: ServeProcess) -> Iterator[None]:
    yield
    serve.delete_all_pods()


def start_target(serve: ServeProcess, name: str) -> None:
    """A pod with one busybox container `app` running a recognisable `sleep`, Ready."""
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
            {"name": "app", "image": "busybox", "command": TARGET_COMMAND}
        ]},
    }  # fmt: skip
    serve.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(pod, sort_keys=False))
    serve.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")


def debug(serve: ServeProcess, pod: str, *args: str) -> None:
    """`kubectl debug POD` with the imported busybox (never pulled) and `args`."""
    serve.kubectl("debug", pod, "--image=busybox", "--image-pull-policy=Never", *args)


def ephemeral_status(serve: ServeProcess, pod: str, name: str) -> JSON:
    statuses = serve.pod(pod)["status"].get("ephemeralContainerStatuses") or []
    return next((s for s in statuses if s["name"] == name), {})


def namespaces_of_app(serve: ServeProcess, pod: str) -> list[str]:
    return serve.kubectl("exec", pod, "-c", "app", "--", "sh", "-c", NAMESPACES).stdout.split()


def test_a_debug_container_shares_the_pods_network_and_the_targets_processes(serve: ServeProcess) -> None:
    start_target(serve, "target")
    debug(serve, "target", "--target=app", "-c", "debugger", "--", "sh", "-c", PROBE)

    status = wait_until(
        lambda: ephemeral_status(serve, "target", "debugger").get("state", {}).get("terminated"),
        what="the debugger to finish",
    )
    assert status["exitCode"] == 0 and status["reason"] == "Completed"
    lines = serve.kubectl("logs", "target", "-c", "debugger").stdout.splitlines()
    assert lines[:2] == namespaces_of_app(serve, "target")  # same network and PID namespaces
    assert any(line.split()[1:] == ["sleep", "424242"] for line in lines[3:]), lines
    assert any(line.split()[0] == "1" and "sleep 424242" in line for line in lines[3:]), lines  # the target is PID 1

    final = ephemeral_status(serve, "target", "debugger")
    pod = serve.pod("target")
    [app] = pod["status"]["containerStatuses"]
    assert final["containerID"].split("://")[0] == app["containerID"].split("://")[0]  # the runtime's name
    assert final["restartCount"] == 0 and final["image"] == "busybox" and "started" not in final
    assert pod["status"]["phase"] == "Running"
    assert app["ready"] is True


def test_a_debug_container_without_a_target_has_its_own_processes(serve: ServeProcess) -> None:
    start_target(serve, "alone")
    debug(serve, "alone", "-c", "dbg", "--", "sh", "-c", PROBE)
    wait_until(lambda: "terminated" in ephemeral_status(serve, "alone", "dbg").get("state", {}), what="dbg to finish")
    lines = serve.kubectl("logs", "alone", "-c", "dbg").stdout.splitlines()
    network, pid = namespaces_of_app(serve, "alone")
    assert lines[0] == network and lines[1] != pid
    assert not any("424242" in line for line in lines), lines


def test_kubectl_debug_i_attaches_to_the_debug_containers_stdin(serve: ServeProcess) -> None:
    start_target(serve, "interactive")
    attached = subprocess.Popen(
        serve.kubectl_command(
            "debug", "interactive", "-i", "--image=busybox", "--image-pull-policy=Never", "--target=app",
            "-c", "shell", "--", "sh",
        ),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=serve.env(),
        cwd=serve.work,
    )  # fmt: skip
    with running(attached):
        assert attached.stdin is not None and attached.stdout is not None
        lines = read_lines(attached.stdout)
        attached.stdin.write("ps -o args; echo done-$((6*7))\n")
        attached.stdin.flush()
        seen = []
        while not seen or seen[-1] != "done-42\n":
            seen.append(next_line(lines))
        attached.stdin.write("exit\n")
        attached.stdin.close()
        assert attached.wait(timeout=30) == 0

    assert "sleep 424242\n" in seen, seen
    wait_until(lambda: "terminated" in ephemeral_status(serve, "interactive", "shell").get("state", {}))


def test_kubectl_debug_it_gives_a_shell_on_a_terminal_in_the_targets_processes(serve: ServeProcess) -> None:
    start_target(serve, "terminal")
    command = serve.kubectl_command(
        "debug", "terminal", "-it", "--image=busybox", "--image-pull-policy=Never", "--target=app", "-c", "tty",
        "--", "sh",
    )  # fmt: skip
    shown = run_in_pty(
        command, serve.env(), keys=b"\rps -o args | grep -c 42424[2]; echo $((6*7)); exit\r",
        prompt=b"If you don't see a command prompt",
    )  # fmt: skip
    assert "\r\n1\r\n42\r\n" in shown, shown
    status = wait_until(lambda: ephemeral_status(serve, "terminal", "tty").get("state", {}).get("terminated"))
    assert status["exitCode"] == 0


def test_an_exited_debug_container_is_not_restarted(serve: ServeProcess) -> None:
    start_target(serve, "once")
    debug(serve, "once", "-c", "fail", "--", "false")
    status = wait_until(lambda: ephemeral_status(serve, "once", "fail").get("state", {}).get("terminated"))
    assert status["exitCode"] == 1
    # Another debug container starts and finishes after it: by then a restart would have shown.
    debug(serve, "once", "-c", "later", "--", "true")
    wait_until(lambda: "terminated" in ephemeral_status(serve, "once", "later").get("state", {}))
    again = ephemeral_status(serve, "once", "fail")
    assert again["restartCount"] == 0 and again["state"]["terminated"]["exitCode"] == 1
    assert serve.pod("once")["status"]["containerStatuses"][0]["restartCount"] == 0


def test_a_running_debug_container_goes_with_its_pod(serve: ServeProcess) -> None:
    start_target(serve, "deleted")
    debug(serve, "deleted", "--target=app", "-c", "idle", "--", "sleep", "3600")
    wait_until(lambda: "running" in ephemeral_status(serve, "deleted", "idle").get("state", {}), what="idle to run")
    serve.kubectl("delete", "pod", "deleted", "--timeout=30s", timeout=45)
    assert "deleted" not in serve.pod_names()
