"""The real kubectl against podrun's API server (`api_harness.Server`, with a fake node agent).

kubectl is the gcloud dispatcher, which runs `kubectl.1.<minor>` for the minor version `/version` reports; the
core commands run against every installed minor from 1.29 up, the rest against 1.32, the version podrun reports
by default.
"""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import datetime

import pytest
import yaml
from api_harness import KUBECTL, NODE, POD_IP, Server, pod_manifest, wait_until

from podrun.json_types import JSON

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

# --- every installed kubectl version --------------------------------------------------------------------------


def test_core_commands(versioned_server: Server) -> None:
    server = versioned_server
    minor = server.version.split(".")[1]
    version = json.loads(server.kubectl("version", "-o", "json").stdout)
    assert version["clientVersion"]["gitVersion"].startswith(f"v1.{minor}.")
    assert version["serverVersion"]["gitVersion"] == server.version

    assert server.kubectl("apply", "-f", "-", stdin=pod_manifest("core")).stdout == "pod/core created\n"
    assert "condition met" in server.kubectl("wait", "--for=condition=Ready", "pod/core", "--timeout=20s").stdout
    updated = server.kubectl("apply", "-f", "-", stdin=pod_manifest("core", "nginx:1.28"))
    assert (updated.stdout, updated.stderr) == ("pod/core configured\n", "")

    lines = server.kubectl("get", "pods").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert lines[1].split()[:4] == ["core", "1/1", "Running", "0"]
    wide = server.kubectl("get", "pod", "core", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
                               "READINESS", "GATES"]  # fmt: skip
    assert wide[1].split()[5:7] == [POD_IP, NODE]

    pod = yaml.safe_load(server.kubectl("get", "pod", "core", "-o", "yaml").stdout)
    assert pod["spec"]["nodeName"] == NODE
    assert pod["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"

    described = server.kubectl("describe", "pod", "core").stdout
    assert f"Node:             {NODE}/127.0.0.1" in described
    assert "Started container web" in described

    events = server.kubectl("get", "events").stdout
    assert "Scheduled" in events and "pod/core" in events

    assert server.kubectl("logs", "core").stdout == "hello from web\nsecond line\n"

    assert server.kubectl("exec", "core", "--", "echo", "hi").stdout == "web: echo hi\n"
    failed = server.kubectl("exec", "core", "--", "exit", "3", check=False)
    assert failed.returncode == 3
    assert failed.stderr.strip() == "command terminated with exit code 3"

    assert server.kubectl("delete", "pod", "core").stdout == 'pod "core" deleted\n'
    missing = server.kubectl("get", "pod", "core", check=False)
    assert missing.stderr.strip() == 'Error from server (NotFound): pods "core" not found'


def test_port_forward(versioned_server: Server) -> None:
    server = versioned_server
    server.kubectl("apply", "-f", "-", stdin=pod_manifest("forwarded"))
    process = subprocess.Popen(
        server.kubectl_command("port-forward", "pod/forwarded", ":80"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server.env(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Forwarding from 127.0.0.1:") and line.rstrip().endswith(" -> 80"), line
        local_port = int(line.split(":")[1].split()[0])
        with socket.create_connection(("127.0.0.1", local_port), timeout=10) as connection:
            connection.sendall(b"ping through the tunnel")
            received = b""
            while len(received) < len(b"ping through the tunnel"):
                received += connection.recv(1024)
        assert received == b"ping through the tunnel"
    finally:
        process.terminate()
        process.wait(timeout=10)
    server.kubectl("delete", "pod", "forwarded", "--wait=false")


# --- kubectl 1.32 ---------------------------------------------------------------------------------------------


def test_apply_update_and_forbidden_change(server: Server) -> None:
    assert server.kubectl("apply", "-f", "-", stdin=pod_manifest("web")).stdout == "pod/web created\n"
    server.kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=20s")
    assert server.kubectl("apply", "-f", "-", stdin=pod_manifest("web")).stdout == "pod/web unchanged\n"
    assert server.kubectl("apply", "-f", "-", stdin=pod_manifest("web", "nginx:1.28")).stdout == "pod/web configured\n"
    pod = json.loads(server.kubectl("get", "pod", "web", "-o", "json").stdout)
    assert pod["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert pod["status"]["phase"] == "Running"

    changed = pod_manifest("web", "nginx:1.28", restartPolicy="Never")
    forbidden = server.kubectl("apply", "-f", "-", stdin=changed, check=False)
    assert forbidden.returncode == 1
    assert forbidden.stderr.startswith(
        'The Pod "web" is invalid: spec: Forbidden: pod updates may not change fields other than '
        "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    )
    server.kubectl("delete", "pod", "web", "--wait=false")


def test_get_watch_streams_changes(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=pod_manifest("watched"))
    server.kubectl("wait", "--for=condition=Ready", "pod/watched", "--timeout=20s")
    process = subprocess.Popen(
        server.kubectl_command("get", "pods", "-l", "app=watched", "-w", "--output-watch-events"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server.env(),
    )
    try:
        assert process.stdout is not None
        header = process.stdout.readline().split()
        assert header == ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        first = process.stdout.readline().split()
        assert first[:4] == ["ADDED", "watched", "1/1", "Running"]
        server.kubectl("delete", "pod", "watched", "--wait=false")
        # Terminating (the DELETE), again when the kubelet's grace-0 delete ends it, then gone.
        seen = [process.stdout.readline().split() for _ in range(3)]
        assert [line[:4] for line in seen[:2]] == [["MODIFIED", "watched", "1/1", "Terminating"]] * 2
        assert seen[2][:2] == ["DELETED", "watched"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_delete_waits_until_the_pod_is_gone(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=pod_manifest("doomed"))
    assert server.kubectl("delete", "pod", "doomed").stdout == 'pod "doomed" deleted\n'
    assert server.kubectl("get", "pods", "doomed", "--ignore-not-found").stdout == ""


def test_configmaps_secrets_namespaces_and_nodes(server: Server) -> None:
    assert server.kubectl("create", "configmap", "settings", "--from-literal=a=1", "--from-literal=b=2").stdout == (
        "configmap/settings created\n"
    )
    lines = server.kubectl("get", "cm", "settings").stdout.splitlines()
    assert lines[0].split() == ["NAME", "DATA", "AGE"]
    assert lines[1].split()[:2] == ["settings", "2"]

    server.kubectl("create", "secret", "generic", "creds", "--from-literal=password=s3cret")
    secret = json.loads(server.kubectl("get", "secret", "creds", "-o", "json").stdout)
    assert secret["type"] == "Opaque" and secret["data"] == {"password": "czNjcmV0"}
    assert server.kubectl("get", "secrets").stdout.splitlines()[1].split()[:3] == ["creds", "Opaque", "1"]

    namespaces = [line.split()[:2] for line in server.kubectl("get", "ns").stdout.splitlines()[1:]]
    assert ["default", "Active"] in namespaces and ["kube-system", "Active"] in namespaces

    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "nodeInfo": {"kubeletVersion": "v1.32.4", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "kernelVersion": "6.1.0", "containerRuntimeVersion": "podrun://0.1.0"},
        },
    }  # fmt: skip
    server.call(lambda: server.store.create("nodes", node))  # type: ignore[union-attr]
    nodes = server.kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    assert nodes[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    cells = nodes[1].split()
    assert cells[:3] == [NODE, "Ready", "control-plane"] and cells[4:6] == ["v1.32.4", "127.0.0.1"]


def test_server_side_apply(server: Server) -> None:
    manifest = pod_manifest("ssa")
    assert server.kubectl("apply", "--server-side", "-f", "-", stdin=manifest).stdout == "pod/ssa serverside-applied\n"
    changed = pod_manifest("ssa", "nginx:1.28")
    assert server.kubectl("apply", "--server-side", "-f", "-", stdin=changed).stdout == "pod/ssa serverside-applied\n"
    image = server.kubectl("get", "pod", "ssa", "-o", "jsonpath={.spec.containers[0].image}").stdout
    assert image == "nginx:1.28"
    server.kubectl("delete", "pod", "ssa", "--wait=false")


def test_decoding_errors_and_strict_validation(server: Server) -> None:
    pod = yaml.safe_load(pod_manifest("typo"))
    pod["spec"]["containers"][0]["imagePullPolice"] = "Always"
    result = server.kubectl("apply", "--validate=strict", "-f", "-", stdin=yaml.safe_dump(pod), check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot be handled as a '
        'Pod: strict decoding error: unknown field "spec.containers[0].imagePullPolice"'
    )
    mistyped = yaml.safe_load(pod_manifest("typed"))
    mistyped["spec"]["containers"][0]["ports"][0]["containerPort"] = "80"
    result = server.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(mistyped), check=False)
    assert result.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot be handled as a '
        "Pod: json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort "
        "of type int32"
    )
    warned = server.kubectl("apply", "--validate=warn", "-f", "-", stdin=yaml.safe_dump(pod))
    assert 'Warning: unknown field "spec.containers[0].imagePullPolice"' in warned.stderr
    assert warned.stdout == "pod/typo created\n"
    server.kubectl("delete", "pod", "typo", "--wait=false")


def test_wrong_token_is_unauthorized(server: Server) -> None:
    server.kubectl("get", "pods")  # discovery is cached: the GET itself gets the 401 Status
    config = server.write_kubeconfig("not-the-token", "wrong-token-kubeconfig")
    result = server.kubectl("get", "pods", kubeconfig=config, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: You must be logged in to the server (Unauthorized)"


def test_wrong_token_without_cached_discovery(server: Server) -> None:
    config = server.write_kubeconfig("not-the-token", "wrong-token-kubeconfig")
    command = server.kubectl_command("get", "pods", kubeconfig=config)
    command[command.index("--cache-dir") + 1] = str(server.directory / "empty-cache")
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=server.env(), check=False)
    # Discovery reads the raw body of the 401, so client-go words it itself, as against a real cluster.
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "error: You must be logged in to the server (the server has asked for the client to provide credentials)"
    )


def test_missing_pod_is_not_found(server: Server) -> None:
    result = server.kubectl("get", "pod", "missing", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == 'Error from server (NotFound): pods "missing" not found'


def test_logs_follow_and_errors(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=pod_manifest("talker"))
    followed = server.kubectl("logs", "-f", "talker")
    assert followed.stdout == "hello from web\nsecond line\nfollowed line\n"
    wrong = server.kubectl("logs", "talker", "-c", "nope", check=False)
    assert wrong.stderr.strip() == "error: container nope is not valid for pod talker"
    server.kubectl("delete", "pod", "talker", "--wait=false")


def test_pod_warnings_reach_kubectl(server: Server) -> None:
    result = server.kubectl("apply", "-f", "-", stdin=pod_manifest("web.v1"))
    assert "Warning: metadata.name: this is used in the Pod's hostname" in result.stderr
    server.kubectl("delete", "pod", "web.v1", "--wait=false")


def _held_pod(name: str, namespace: str = "default") -> str:
    pod = yaml.safe_load(pod_manifest(name))
    pod["metadata"]["labels"]["hold"] = "true"
    pod["metadata"]["namespace"] = namespace
    return yaml.safe_dump(pod)


def test_graceful_deletion_can_be_shortened(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=_held_pod("held"))
    server.kubectl("delete", "pod", "held", "--grace-period=60", "--wait=false")
    first = json.loads(server.kubectl("get", "pod", "held", "-o", "json").stdout)["metadata"]
    assert first["deletionGracePeriodSeconds"] == 60
    assert server.kubectl("get", "pod", "held").stdout.splitlines()[1].split()[2] == "Terminating"
    server.kubectl("delete", "pod", "held", "--grace-period=90", "--wait=false")  # longer: no change
    server.kubectl("delete", "pod", "held", "--grace-period=10", "--wait=false")
    second = json.loads(server.kubectl("get", "pod", "held", "-o", "json").stdout)["metadata"]
    assert second["deletionGracePeriodSeconds"] == 10
    moved = datetime.fromisoformat(first["deletionTimestamp"]) - datetime.fromisoformat(second["deletionTimestamp"])
    assert moved.total_seconds() == 50
    forced = server.kubectl("delete", "pod", "held", "--grace-period=0", "--force")
    assert "Immediate deletion does not wait for confirmation" in forced.stderr
    assert server.kubectl("get", "pod", "held", "--ignore-not-found").stdout == ""


def test_exec_into_a_pod_that_is_not_running(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=_held_pod("pending"))
    result = server.kubectl("exec", "pending", "--", "ls", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == 'error: unable to upgrade connection: container not found ("web")'
    wrong = server.kubectl("exec", "pending", "-c", "nope", "--", "ls", check=False)
    assert wrong.stderr.strip().endswith("container nope is not valid for pod pending")
    server.kubectl("delete", "pod", "pending", "--grace-period=0", "--force")


def test_namespace_lifecycle(server: Server) -> None:
    server.kubectl("create", "namespace", "team")
    server.kubectl("create", "configmap", "-n", "team", "cfg", "--from-literal=a=b")
    server.kubectl("apply", "-f", "-", stdin=_held_pod("stuck", "team"))
    server.kubectl("delete", "namespace", "team", "--wait=false")
    assert server.kubectl("get", "ns", "team").stdout.splitlines()[1].split()[:2] == ["team", "Terminating"]
    refused = server.api("POST", "/api/v1/namespaces/team/configmaps", {"metadata": {"name": "late"}})
    assert refused.status == 403
    assert refused.json()["message"] == (
        'configmaps "late" is forbidden: unable to create new content in namespace team because it is being terminated'
    )
    # The controller deleted the contents; the held pod waits for its (fake) kubelet, which never comes.
    wait_until(lambda: server.api("GET", "/api/v1/namespaces/team/configmaps/cfg").status == 404)
    assert server.kubectl("get", "pod", "-n", "team", "stuck").stdout.splitlines()[1].split()[2] == "Terminating"
    server.kubectl("delete", "pod", "-n", "team", "stuck", "--grace-period=0", "--force")
    wait_until(lambda: server.api("GET", "/api/v1/namespaces/team").status == 404)
    undeletable = server.kubectl("delete", "namespace", "default", check=False)
    assert undeletable.stderr.strip() == (
        'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted'
    )


def test_raw_api_errors(server: Server) -> None:
    unknown = server.api("GET", "/api/v1/foos")
    assert unknown.status == 404
    assert unknown.json()["message"] == "the server could not find the requested resource"
    assert server.api("POST", "/api/v1/namespaces/default/pods/x", {}).json()["reason"] == "MethodNotAllowed"
    unsupported = server.api("POST", "/api/v1/namespaces/default/pods", b"x", {"Content-Type": "text/plain"})
    assert (unsupported.status, unsupported.json()["reason"]) == (415, "UnsupportedMediaType")
    missing = server.api("POST", "/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "a"}})
    assert (missing.status, missing.json()["message"]) == (404, 'namespaces "nope" not found')
    assert server.api("GET", "/healthz").body == b"ok"
    assert server.api("GET", "/readyz", headers={"Authorization": "Bearer nope"}).status == 401


def test_discovery_negotiation(server: Server) -> None:
    v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    v2beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    aggregated = server.api("GET", "/api", headers={"Accept": f"{v2},{v2beta1},application/json"})
    assert aggregated.headers["Content-Type"] == v2
    resources = {r["resource"]: r for r in aggregated.json()["items"][0]["versions"][0]["resources"]}
    assert resources["pods"]["shortNames"] == ["po"]
    assert {sub["subresource"] for sub in resources["pods"]["subresources"]} == {
        "attach", "ephemeralcontainers", "exec", "lifecycle", "log", "portforward", "status"
    }  # fmt: skip
    legacy = server.api("GET", "/api", headers={"Accept": f"{v2beta1},application/json"})
    assert legacy.headers["Content-Type"] == "application/json" and legacy.json()["kind"] == "APIVersions"
    names = {r["name"] for r in server.api("GET", "/api/v1").json()["resources"]}
    assert {"pods", "pods/log", "pods/exec", "events", "configmaps", "secrets", "namespaces", "nodes"} <= names


def test_openapi_documents(server: Server) -> None:
    root = server.api("GET", "/openapi/v3").json()
    url = root["paths"]["api/v1"]["serverRelativeURL"]
    document = server.api("GET", url)
    assert document.headers["Cache-Control"] == "public, immutable"
    paths = document.json()["paths"]
    patch = paths["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert "fieldValidation" in [parameter["name"] for parameter in patch["parameters"]]
    assert "requestBody" not in patch
    redirected = server.api("GET", "/openapi/v3/api/v1?hash=stale")
    assert redirected.url.endswith(url) and redirected.status == 200


def _watch_lines(server: Server, path: str, accept: str = "application/json") -> list[JSON]:
    answer = server.api("GET", path, headers={"Accept": accept})
    assert answer.status == 200
    return [json.loads(line) for line in answer.body.splitlines()]


def test_watch_protocol(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=pod_manifest("watch-me"))
    server.kubectl("wait", "--for=condition=Ready", "pod/watch-me", "--timeout=20s")
    selector = "fieldSelector=metadata.name%3Dwatch-me"
    table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    events = _watch_lines(server, f"/api/v1/pods?watch=true&{selector}&timeoutSeconds=1", table_accept)
    assert [event["type"] for event in events] == ["ADDED"]
    table = events[0]["object"]
    assert table["kind"] == "Table" and len(table["rows"]) == 1
    assert table["rows"][0]["cells"][:3] == ["watch-me", "1/1", "Running"]
    bookmarks = _watch_lines(server, f"/api/v1/pods?watch=1&{selector}&timeoutSeconds=2&allowWatchBookmarks=true")
    assert [event["type"] for event in bookmarks][:2] == ["ADDED", "BOOKMARK"]
    server.kubectl("delete", "pod", "watch-me", "--wait=false")


def test_status_subresource(server: Server) -> None:
    server.kubectl("apply", "-f", "-", stdin=_held_pod("statused"))
    pod = server.api("GET", "/api/v1/namespaces/default/pods/statused/status").json()
    pod["status"]["phase"] = "Failed"
    pod["spec"]["restartPolicy"] = "Never"  # ignored: only the status changes here
    updated = server.api("PUT", "/api/v1/namespaces/default/pods/statused/status", pod).json()
    assert updated["status"]["phase"] == "Failed"
    assert updated["spec"]["restartPolicy"] == "Always"
    assert updated["status"]["qosClass"] == "BestEffort"
    stale = server.api("PUT", "/api/v1/namespaces/default/pods/statused/status", pod)
    assert (stale.status, stale.json()["reason"]) == (409, "Conflict")
    patched = server.api(
        "PATCH",
        "/api/v1/namespaces/default/pods/statused/status",
        {"status": {"message": "done"}},
        {"Content-Type": "application/merge-patch+json"},
    ).json()
    assert patched["status"]["message"] == "done" and patched["status"]["phase"] == "Failed"
    # A finished pod is deleted at once.
    assert server.kubectl("delete", "pod", "statused").stdout == 'pod "statused" deleted\n'


def test_dry_run(server: Server) -> None:
    assert server.kubectl("apply", "--dry-run=server", "-f", "-", stdin=pod_manifest("dry")).stdout == (
        "pod/dry created (server dry run)\n"
    )
    assert server.kubectl("get", "pod", "dry", "--ignore-not-found").stdout == ""
