"""`kubectl attach` against `podrun serve` with real containers: output, stdin, and a terminal.

One `podrun serve` runs for the module (`serve_harness.ServeProcess`) on fresh roots under /tmp with busybox
imported and a `registries.json` that gives docker.io no upstream, so nothing outside 127.0.0.1 is contacted.
Each test deletes its pods; at the end the server is stopped and nothing of its containers may be left behind.
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
    installed_kubectl_minors,
    next_line,
    read_lines,
    run_in_pty,
    running,
    serving,
    wait_until,
)

JSON = dict[str, Any]

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

MINORS = installed_kubectl_minors()
# Prints a numbered line every 0.2 s; exits at once on SIGTERM.
TICKER = "trap 'exit 0' TERM; i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"


@pytest.fixture(scope="module")
def serve(test_image_archives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`podrun serve` on fresh roots with busybox; stopped, and checked for leaks, after the module."""
    with serving([test_image_archives["busybox"]], tmp_path_factory.mktemp("serve")) as server:
        yield server


@pytest.fixture(autouse=True)
def no_pods_left(serve: ServeProcess) -> Iterator[None]:
    """Each test's pods are deleted when it ends."""
    yield
    serve.delete_all_pods()


def apply_and_wait(serve: ServeProcess, name: str, container: JSON, **spec: Any) -> None:
    """Apply a one-container pod and wait until it is Ready."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container], **spec}}
    serve.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(pod, sort_keys=False))
    serve.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")


def restart_count(serve: ServeProcess, name: str) -> int:
    """The restart count of the pod's only container."""
    return int(serve.pod(name)["status"]["containerStatuses"][0]["restartCount"])


def test_attach_shows_the_containers_new_output_and_leaves_it_running(serve: ServeProcess) -> None:
    apply_and_wait(serve, "ticker", {"name": "t", "image": "busybox", "command": ["sh", "-c", TICKER]})

    with running(serve.popen_kubectl("attach", "ticker", "-c", "t")) as attach:
        assert attach.stdout is not None
        lines = read_lines(attach.stdout)
        seen = [next_line(lines) for _ in range(3)]

    numbers = [int(line.removeprefix("tick-")) for line in seen]
    assert numbers == list(range(numbers[0], numbers[0] + 3)), seen
    # Still printing after kubectl went away.
    wait_until(lambda: f"tick-{numbers[-1] + 3}" in serve.kubectl("logs", "ticker", "-c", "t").stdout.split())
    assert restart_count(serve, "ticker") == 0


@pytest.mark.parametrize("minor", sorted(MINORS), ids=[f"kubectl-1.{m}" for m in sorted(MINORS)])
def test_attach_i_sends_input_to_a_container_with_stdin(serve: ServeProcess, minor: int) -> None:
    """kubectl 1.29 attaches over SPDY, later ones over WebSocket; closing stdin ends either."""
    apply_and_wait(serve, "cat", {"name": "c", "image": "busybox", "command": ["cat"], "stdin": True})

    attach = subprocess.Popen(
        serve.kubectl_command("attach", "-i", "cat", "-c", "c", binary=MINORS[minor]), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=serve.env(), cwd=serve.work,
    )  # fmt: skip
    with running(attach):
        assert attach.stdin is not None and attach.stdout is not None and attach.stderr is not None
        lines = read_lines(attach.stdout)
        attach.stdin.write("hello\n")
        attach.stdin.flush()
        assert next_line(lines) == "hello\n"
        attach.stdin.close()  # ends the attach; the container's stdin stays open (stdinOnce is false)
        assert attach.wait(timeout=30) == 0, attach.stderr.read()

    assert restart_count(serve, "cat") == 0
    assert serve.kubectl("exec", "cat", "--", "true").returncode == 0


def test_attach_it_talks_to_a_shell_on_the_containers_terminal(serve: ServeProcess) -> None:
    shell = {"name": "sh", "image": "busybox", "command": ["sh"], "stdin": True, "tty": True}
    apply_and_wait(serve, "shell", shell, restartPolicy="Never")

    shown = run_in_pty(
        serve.kubectl_command("attach", "-it", "shell", "-c", "sh"), serve.env(),
        keys=b"\recho $((6*7)); exit\r", prompt=b"If you don't see a command prompt",
    )  # fmt: skip

    assert "42\r\n" in shown, shown
