"""Every valid name can run: a pod named with the 253 characters a name may have runs, and `kubectl logs` works.

On-disk names built from a pod's name (its log directory `<ns>_<pod>_<uid>`) would pass the 255-byte limit on a
file name; podrun shortens them with a hash (`node_facts.pod_log_dir_name`). One `podrun serve` with busybox.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from serve_harness import KUBECTL, ServeProcess, serving, wait_until

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

LONGEST_NAME = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


@pytest.fixture(scope="module")
def serve(test_image_archives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with serving([test_image_archives["busybox"]], tmp_path_factory.mktemp("serve")) as server:
        yield server


def test_a_pod_with_the_longest_valid_name_runs_and_its_logs_can_be_read(serve: ServeProcess) -> None:
    assert len(LONGEST_NAME) == 253
    script = "trap 'exit 0' TERM; echo hello from a long name; while true; do sleep 0.2; done"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": LONGEST_NAME},
        "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}]},
    }
    serve.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(pod))
    serve.kubectl("wait", "--for=condition=Ready", f"pod/{LONGEST_NAME}", "--timeout=30s")

    wait_until(lambda: serve.kubectl("logs", LONGEST_NAME).stdout == "hello from a long name\n")
    assert "FailedSync" not in serve.kubectl("describe", "pod", LONGEST_NAME).stdout
    serve.kubectl("delete", "pod", LONGEST_NAME, "--grace-period=1")
