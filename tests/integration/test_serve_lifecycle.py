"""`GET pods/{name}/lifecycle` on a real `podrun serve`: the history over HTTP, followed live, kept across a
server restart and gone with the pod. kubectl's `get --raw` is the client (it streams what it reads)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from serve_harness import KUBECTL, ServeProcess, next_line, read_lines, running, serving, wait_until

from podrun.json_types import JSON

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

IDLE = "trap 'exit 0' TERM; echo up; while true; do sleep 0.2; done"


@pytest.fixture(scope="module")
def serve(test_image_archives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with serving([test_image_archives["busybox"]], tmp_path_factory.mktemp("lifecycle")) as server:
        yield server


def path(name: str) -> str:
    return f"/api/v1/namespaces/default/pods/{name}/lifecycle"


def start_pod(serve: ServeProcess, name: str) -> None:
    container = {"name": "c", "image": "busybox", "command": ["sh", "-c", IDLE]}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}
    serve.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(pod))
    serve.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")


def lifecycle(serve: ServeProcess, name: str) -> JSON:
    doc: JSON = json.loads(serve.kubectl("get", "--raw", path(name)).stdout)
    return doc


def types(doc: JSON) -> list[str]:
    return [r["type"] for r in doc["records"]]


def test_a_running_pods_history_names_its_containers_and_runs(serve: ServeProcess) -> None:
    start_pod(serve, "history")
    doc = lifecycle(serve, "history")
    assert (doc["kind"], doc["apiVersion"]) == ("PodLifecycle", "podrun.dev/v1alpha1")
    assert doc["metadata"]["name"] == "history" and doc["metadata"]["uid"] == serve.pod("history")["metadata"]["uid"]
    assert doc["containers"] == [{"name": "c", "kind": "app", "image": "busybox"}]
    assert [t for t in types(doc) if t in ("Created", "Started")] == ["Created", "Started"]
    serve.kubectl("delete", "pod", "history", "--grace-period=1")


def timeline(serve: ServeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "podrun.cli.main", "timeline", *args, "--kubeconfig", str(serve.kubeconfig)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


class _Bars(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bars = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "rect" and "run" in (dict(attrs).get("class") or "").split():
            self.bars += 1


def test_podrun_timeline_prints_the_chart_the_json_or_the_page(serve: ServeProcess) -> None:
    start_pod(serve, "charted")
    text = timeline(serve, "charted")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("pod default/charted:") and "running" in text.stdout
    assert json.loads(timeline(serve, "charted", "-o", "json").stdout)["kind"] == "PodLifecycle"
    page = _Bars()
    page.feed(timeline(serve, "charted", "-n", "default", "-o", "html").stdout)
    assert page.bars == 1
    serve.kubectl("delete", "pod", "charted", "--grace-period=1")


def test_podrun_timeline_of_an_unknown_pod_says_so(serve: ServeProcess) -> None:
    missing = timeline(serve, "nobody")
    assert (missing.returncode, missing.stderr) == (1, 'error: pods "nobody" not found\n')


def test_the_history_survives_a_server_restart(serve: ServeProcess) -> None:
    start_pod(serve, "survivor")
    before = lifecycle(serve, "survivor")["records"]
    serve.kill(signal.SIGKILL)
    serve.start()
    after = lifecycle(serve, "survivor")["records"]
    assert after[: len(before)] == before
    serve.kubectl("delete", "pod", "survivor", "--grace-period=1")


def test_watch_streams_the_records_so_far_then_new_ones_until_the_pod_is_gone(serve: ServeProcess) -> None:
    start_pod(serve, "followed")
    so_far = lifecycle(serve, "followed")["records"]
    with running(serve.popen_kubectl("get", "--raw", path("followed") + "?watch=true")) as follower:
        assert follower.stdout is not None
        lines = read_lines(follower.stdout)
        assert [json.loads(next_line(lines)) for _ in so_far] == so_far
        serve.kubectl("delete", "pod", "followed", "--grace-period=1", "--wait=false")
        rest = []
        while (line := lines.get(timeout=30)) is not None:
            rest.append(json.loads(line))
        assert [(r["type"], r["container"]) for r in rest][:2] == [("Killing", "c"), ("Exited", "c")]
        assert follower.wait(timeout=30) == 0


def test_an_unknown_pod_is_not_found(serve: ServeProcess) -> None:
    with pytest.raises(urllib.error.HTTPError) as answer:
        serve.get(path("nobody"))
    status = json.loads(answer.value.read())
    assert (answer.value.code, status["reason"]) == (404, "NotFound")
    assert status["message"] == 'pods "nobody" not found'


def test_the_history_goes_with_the_pod(serve: ServeProcess) -> None:
    start_pod(serve, "gone")
    serve.kubectl("delete", "pod", "gone", "--grace-period=1")
    wait_until(lambda: not list((serve.root / "pods").glob("*/lifecycle.jsonl")), what="no lifecycle file")
    with pytest.raises(urllib.error.HTTPError) as answer:
        serve.get(path("gone"))
    assert answer.value.code == 404


def test_discovery_lists_the_subresource_and_api_resources_still_works(serve: ServeProcess) -> None:
    resources = json.loads(serve.get("/api/v1"))["resources"]
    assert {"name": "pods/lifecycle", "singularName": "", "namespaced": True, "group": "podrun.dev",
            "version": "v1alpha1", "kind": "PodLifecycle", "verbs": ["get"]} in resources  # fmt: skip
    listed = serve.kubectl("api-resources", "--api-group=").stdout
    assert "lifecycle" not in listed and "pods" in listed


def test_the_history_needs_the_token_like_every_request(serve: ServeProcess) -> None:
    refused = serve.kubectl("--token", "not-the-token", "get", "--raw", path("anyone"), check=False)
    assert refused.returncode != 0 and "Unauthorized" in refused.stderr
