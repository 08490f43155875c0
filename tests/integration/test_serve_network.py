"""The pod network under `podrun serve`, end to end with the real kubectl and real containers (issue 9).

Pods get addresses from CNI in the node's namespace, reach each other and Services (ClusterIP, headless, their
own), resolve names through cluster DNS, publish hostPorts on the host's loopback, reach the API server at
`kubernetes.default`, and have no route out of the machine. The docs' myapp-pod and the seed's Django pod with
its PostgreSQL run verbatim from `examples/`.

One `podrun serve` runs for the module (`serve_harness.serving`: fresh roots, the test images, no upstream
registry). Each test deletes its pods and Services. Nothing here sends a packet outside 127.0.0.0/8 or the
namespaces podrun made; at the end no mount, process, cgroup, node namespace, host veth or host nftables table
may be left. The restart-safety tests run their own server, to check what one stopped server leaves.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from serve_harness import (
    EXAMPLES,
    KUBECTL,
    ServeProcess,
    free_port,
    listening,
    running,
    serving,
    wait_until,
)

from podrun.json_types import JSON

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)")

NODE_POD_CIDR = ipaddress.ip_network("10.244.0.0/24")
# initdb and PostgreSQL's first start, the migration's back-off and Django's 15 migrations: a minute when loaded.
SLOW = 180.0
# A busybox web server on 8080 serving `text` at /, that exits at once on SIGTERM (deleting its pod takes no grace).
HTTPD = (
    "mkdir -p /www; echo {text} > /www/index.html; httpd -p 8080 -h /www; "
    "trap 'exit 0' TERM; while true; do sleep 0.2; done"
)
IDLE = "trap 'exit 0' TERM; while true; do sleep 0.2; done"


# -- the server ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def serve(test_image_archives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`podrun serve` with busybox, nginx, postgres and the Django images, and the examples in its work directory."""
    work = tmp_path_factory.mktemp("network")
    for example in EXAMPLES.glob("*.yaml"):
        shutil.copy(example, work / example.name)
    images = [test_image_archives[name] for name in ("busybox", "nginx", "postgres", "django")]
    with serving(images, work) as server:
        yield server


@pytest.fixture(autouse=True)
def nothing_left(serve: ServeProcess) -> Iterator[None]:
    """After each test: its pods and Services are deleted (the default `kubernetes` Service stays)."""
    yield
    if not serve.running():
        serve.start()
    services = [name for name in serve.kubectl("get", "services", "-o", "name").stdout.split()]
    ours = [name for name in services if name != "service/kubernetes"]
    if ours:
        serve.kubectl("delete", *ours)
    serve.delete_all_pods()


# -- helpers -------------------------------------------------------------------------------------------------


def pod_manifest(name: str, command: str, labels: dict[str, str] | None = None, **spec: Any) -> JSON:
    """A one-container busybox Pod running `command` with `sh -c`."""
    container = {"name": "c", "image": "busybox", "command": ["sh", "-c", command], **spec.pop("container", {})}
    metadata: JSON = {"name": name, **({"labels": labels} if labels else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"containers": [container], **spec}}


def web_pod(name: str, app: str, **spec: Any) -> JSON:
    """A busybox web server on 8080, labelled `app`, answering its own name."""
    return pod_manifest(name, HTTPD.format(text=name), {"app": app}, **spec)


def client_pod(name: str = "client") -> JSON:
    """A busybox pod that idles, for `kubectl exec` into it."""
    return pod_manifest(name, IDLE)


def service_manifest(name: str, app: str, port: int = 80, **spec: Any) -> JSON:
    """A Service selecting `app=<app>`, port `port` to the web pods' 8080."""
    ports = [{"port": port, "targetPort": 8080}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app}, "ports": ports, **spec}}  # fmt: skip


def apply(serve: ServeProcess, *objects: JSON) -> None:
    """`kubectl apply -f -` of the objects, as one YAML stream."""
    serve.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects, sort_keys=False))


def ready(serve: ServeProcess, *names: str) -> None:
    """`kubectl wait --for=condition=Ready` on the pods."""
    serve.kubectl("wait", "--for=condition=Ready", *[f"pod/{name}" for name in names], "--timeout=60s")


def pod_ip(serve: ServeProcess, name: str) -> str:
    """The pod's `status.podIP`."""
    return serve.kubectl("get", "pod", name, "-o", "jsonpath={.status.podIP}").stdout


def cluster_ip(serve: ServeProcess, service: str) -> str:
    """The Service's `spec.clusterIP`."""
    return serve.kubectl("get", "service", service, "-o", "jsonpath={.spec.clusterIP}").stdout


def in_pod(serve: ServeProcess, pod: str, *command: str) -> subprocess.CompletedProcess[str]:
    """`kubectl exec POD -- COMMAND`, whatever its exit code."""
    return serve.kubectl("exec", pod, "--", *command, check=False)


def fetch(serve: ServeProcess, pod: str, url: str) -> str:
    """What `wget -O- URL` inside the pod prints ("" when it fails)."""
    # Not `wget -T`: busybox 1.35's wget crashes with a timeout set. An address nobody serves is refused at once.
    done = in_pod(serve, pod, "wget", "-q", "-O-", url)
    return done.stdout if done.returncode == 0 else ""


def nslookup(serve: ServeProcess, pod: str, name: str) -> list[str]:
    """The IPv4 addresses busybox `nslookup NAME` in the pod prints for the name (none when it fails)."""
    done = in_pod(serve, pod, "nslookup", "-type=a", name)
    answer = done.stdout.split(f"Name:\t{name}", 1)
    if done.returncode != 0 or len(answer) < 2:
        return []
    return sorted(re.findall(r"^Address: (\d+\.\d+\.\d+\.\d+)$", answer[1], re.MULTILINE))


def http_get(url: str) -> str:
    """The body of a 200 answer to a GET from the host ("" on any error)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode()) if answer.status == 200 else ""
    except (urllib.error.URLError, OSError):
        return ""


def port_forward(serve: ServeProcess, target: str, remote: int) -> tuple[subprocess.Popen[str], int]:
    """`kubectl port-forward TARGET LOCAL:REMOTE` on a free local port, returned once it says it forwards."""
    local = free_port()
    process = serve.popen_kubectl("port-forward", target, f"{local}:{remote}")
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(f"Forwarding from 127.0.0.1:{local} -> "):
        process.kill()
        raise AssertionError(line + (process.stderr.read() if process.stderr else ""))
    return process, local


def forwarded_get(serve: ServeProcess, target: str, remote: int) -> str:
    """The body of a GET / through a `kubectl port-forward TARGET` started for it ("" on any error)."""
    forward, local = port_forward(serve, target, remote)
    with running(forward):
        return http_get(f"http://127.0.0.1:{local}/")


def container_status(pod: JSON, name: str) -> JSON:
    """The status of container `name` (init or regular) in a pod from the API."""
    status = pod["status"]
    for s in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]:
        if s["name"] == name:
            return dict(s)
    raise AssertionError(f"no status for container {name}")


def endpoint_addresses(serve: ServeProcess, service: str) -> dict[str, bool]:
    """{address: ready} of the Service's EndpointSlices, as `kubectl get endpointslices -o json` lists them."""
    listed = serve.kubectl("get", "endpointslices", "-l", f"kubernetes.io/service-name={service}", "-o", "json")
    return {
        endpoint["addresses"][0]: bool(endpoint.get("conditions", {}).get("ready"))
        for slice_ in json.loads(listed.stdout)["items"]
        for endpoint in slice_.get("endpoints") or []
    }


# -- addresses, /etc/hosts, resolv.conf ----------------------------------------------------------------------


def test_get_pods_wide_shows_an_ip_from_the_nodes_pod_cidr(serve: ServeProcess) -> None:
    apply(serve, client_pod("wide"))
    ready(serve, "wide")
    node = serve.kubectl("get", "nodes", "-o", "name").stdout.strip().removeprefix("node/")

    lines = serve.kubectl("get", "pods", "-o", "wide").stdout.splitlines()

    assert re.split(r"\s{2,}", lines[0].strip())[5:7] == ["IP", "NODE"]
    cells = re.split(r"\s{2,}", lines[1].strip())
    assert cells[0] == "wide" and cells[6] == node
    assert ipaddress.ip_address(cells[5]) in NODE_POD_CIDR
    assert serve.kubectl("get", "node", node, "-o", "jsonpath={.spec.podCIDR}").stdout == str(NODE_POD_CIDR)


def test_etc_hosts_names_the_pods_ip_and_hostname(serve: ServeProcess) -> None:
    apply(serve, client_pod("hosted"))
    ready(serve, "hosted")

    hosts = serve.kubectl("exec", "hosted", "--", "cat", "/etc/hosts").stdout

    assert hosts.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert hosts.endswith(f"\n{pod_ip(serve, 'hosted')}\thosted\n")
    assert serve.kubectl("exec", "hosted", "--", "hostname").stdout == "hosted\n"


def test_resolv_conf_is_cluster_first(serve: ServeProcess) -> None:
    apply(serve, client_pod("resolver"))
    ready(serve, "resolver")

    lines = serve.kubectl("exec", "resolver", "--", "cat", "/etc/resolv.conf").stdout.splitlines()

    assert lines[0].startswith("search default.svc.cluster.local svc.cluster.local cluster.local"), lines
    assert lines[1:] == ["nameserver 10.96.0.10", "options ndots:5"]


# -- pods and Services -----------------------------------------------------------------------------------------


def test_a_pod_reaches_a_service_by_its_cluster_ip(serve: ServeProcess) -> None:
    apply(serve, web_pod("backend", "backend"), service_manifest("backend", "backend"), client_pod())
    ready(serve, "backend", "client")
    address = cluster_ip(serve, "backend")

    assert wait_until(lambda: fetch(serve, "client", f"http://{address}/"), what="the Service answers") == "backend\n"


def test_a_pod_reaches_another_pod_by_its_ip(serve: ServeProcess) -> None:
    apply(serve, web_pod("peer", "peer"), client_pod())
    ready(serve, "peer", "client")

    assert fetch(serve, "client", f"http://{pod_ip(serve, 'peer')}:8080/") == "peer\n"


def test_a_headless_service_resolves_to_its_ready_pods_ips(serve: ServeProcess) -> None:
    headless = service_manifest("crowd", "crowd", clusterIP="None")
    apply(serve, web_pod("crowd-a", "crowd"), web_pod("crowd-b", "crowd"), headless, client_pod())
    ready(serve, "crowd-a", "crowd-b", "client")
    ips = sorted([pod_ip(serve, "crowd-a"), pod_ip(serve, "crowd-b")])

    name = "crowd.default.svc.cluster.local"
    assert wait_until(lambda: nslookup(serve, "client", name) == ips, what=f"{name} resolves to {ips}")
    assert cluster_ip(serve, "crowd") == "None"


def test_a_pod_with_hostname_and_subdomain_resolves_by_its_fully_qualified_name(serve: ServeProcess) -> None:
    member = web_pod("member", "members", hostname="web-0", subdomain="members")
    apply(serve, member, service_manifest("members", "members", clusterIP="None"), client_pod())
    ready(serve, "member", "client")

    name = "web-0.members.default.svc.cluster.local"
    assert wait_until(lambda: nslookup(serve, "client", name), what=f"{name} resolves") == [pod_ip(serve, "member")]


def test_endpoints_follow_the_pods_readiness(serve: ServeProcess) -> None:
    probed = web_pod(
        "moody", "moody",
        container={"readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1}},
    )  # fmt: skip
    apply(serve, probed, service_manifest("moody", "moody"), client_pod())
    ready(serve, "client")
    address, url = pod_ip(serve, "moody"), f"http://{cluster_ip(serve, 'moody')}/"

    serve.kubectl("exec", "moody", "--", "touch", "/tmp/ready")
    wait_until(lambda: endpoint_addresses(serve, "moody") == {address: True}, what="a ready endpoint")
    assert wait_until(lambda: fetch(serve, "client", url), what="the Service answers") == "moody\n"

    serve.kubectl("exec", "moody", "--", "rm", "/tmp/ready")
    wait_until(lambda: endpoint_addresses(serve, "moody") == {address: False}, what="the endpoint not ready")
    wait_until(lambda: fetch(serve, "client", url) == "", what="the Service no longer answers")

    serve.kubectl("exec", "moody", "--", "touch", "/tmp/ready")
    wait_until(lambda: endpoint_addresses(serve, "moody") == {address: True}, what="the endpoint ready again")
    assert wait_until(lambda: fetch(serve, "client", url), what="the Service answers again") == "moody\n"


def test_a_pod_reaches_itself_through_its_own_service(serve: ServeProcess) -> None:
    apply(serve, web_pod("narcissus", "narcissus"), service_manifest("narcissus", "narcissus"))
    ready(serve, "narcissus")
    url = f"http://{cluster_ip(serve, 'narcissus')}/"

    assert wait_until(lambda: fetch(serve, "narcissus", url), what="the hairpin answers") == "narcissus\n"


# -- from the host -----------------------------------------------------------------------------------------------


def test_a_host_port_answers_on_the_hosts_loopback(serve: ServeProcess) -> None:
    port = free_port()
    apply(serve, web_pod("published", "published", container={"ports": [{"containerPort": 8080, "hostPort": port}]}))
    ready(serve, "published")

    assert wait_until(lambda: http_get(f"http://127.0.0.1:{port}/"), what="the hostPort answers") == "published\n"


def test_port_forward_to_a_service_reaches_one_of_its_pods(serve: ServeProcess) -> None:
    apply(serve, web_pod("forwarded", "forwarded"), service_manifest("forwarded", "forwarded"))
    ready(serve, "forwarded")

    assert forwarded_get(serve, "svc/forwarded", 80) == "forwarded\n"


# -- the examples ------------------------------------------------------------------------------------------------


def test_the_docs_myapp_pod_waits_in_init_until_its_services_exist(serve: ServeProcess) -> None:
    assert serve.kubectl("apply", "-f", "myapp-pod.yaml").stdout == "pod/myapp-pod created\n"

    wait_until(lambda: serve.pod_row("myapp-pod")[1:3] == ["0/1", "Init:0/2"])
    wait_until(
        lambda: "waiting for myservice" in serve.kubectl("logs", "myapp-pod", "-c", "init-myservice").stdout,
        what="the first init container waits for myservice",
    )  # fmt: skip
    assert serve.pod_row("myapp-pod")[2] == "Init:0/2"

    serve.kubectl("apply", "-f", "myapp-services.yaml")

    wait_until(lambda: serve.pod_row("myapp-pod")[1:3] == ["1/1", "Running"], what="myapp-pod running")
    assert serve.kubectl("logs", "myapp-pod").stdout == "The app is running!\n"


def test_the_seeds_web_app_migrates_once_postgres_is_up_and_serves_its_page(serve: ServeProcess) -> None:
    serve.kubectl("apply", "-f", "postgres.yaml")
    serve.kubectl("apply", "-f", "init-container-pod.yaml")

    wait_until(
        lambda: serve.pod_row("web-app-with-db-init")[1:3] == ["1/1", "Running"], timeout=SLOW, interval=1,
        what="the web app running",
    )  # fmt: skip
    migration = container_status(serve.pod("web-app-with-db-init"), "database-migration")
    # PostgreSQL's initdb takes seconds, Django's start one: the first migration finds no ready endpoint (refused).
    assert migration["restartCount"] >= 1
    assert migration["lastState"]["terminated"]["exitCode"] != 0
    assert migration["state"]["terminated"]["exitCode"] == 0
    log = serve.kubectl("logs", "web-app-with-db-init", "-c", "database-migration").stdout
    assert "  Applying auth.0001_initial... OK" in log and "  Applying visits.0001_initial... OK" in log

    # runserver listens a moment after it starts, and kubectl port-forward exits when a dial fails: one a try.
    page = wait_until(
        lambda: forwarded_get(serve, "pod/web-app-with-db-init", 8000), timeout=SLOW, interval=1, what="the page"
    )  # fmt: skip
    assert page == "Hello from my-web-app: 1 visits recorded in database myapp on postgres-service\n"


# -- the edges of the network ------------------------------------------------------------------------------------


def test_a_pod_has_no_route_out_of_the_machine(serve: ServeProcess) -> None:
    apply(serve, client_pod("confined"))
    ready(serve, "confined")

    # `ip route get` only asks the pod's routing table: nothing is sent.
    asked = in_pod(serve, "confined", "ip", "route", "get", "203.0.113.1")

    assert asked.returncode != 0
    assert "Network is unreachable" in asked.stderr
    assert "default" not in serve.kubectl("exec", "confined", "--", "ip", "route").stdout


def test_a_pod_reaches_the_api_server_at_the_kubernetes_service(serve: ServeProcess) -> None:
    apply(serve, client_pod("api-client"))
    ready(serve, "api-client")

    environment = serve.kubectl("exec", "api-client", "--", "env").stdout.splitlines()
    assert "KUBERNETES_SERVICE_HOST=10.96.0.1" in environment
    # busybox nc runs `true` once the TCP connection is made: its exit code says whether the connect succeeded.
    connected = in_pod(serve, "api-client", "nc", "-w", "2", "10.96.0.1", "443", "-e", "true")
    assert connected.returncode == 0, connected.stderr


# -- restart safety and what a stopped server leaves ---------------------------------------------------------


def test_a_stopped_server_leaves_no_network_and_no_published_port(
    test_image_archives: dict[str, Path], tmp_path: Path
) -> None:
    port = free_port()
    # `serving` checks at its end that no mount (the node namespace's pin included), host veth, host nftables
    # table `podrun`, process or cgroup is left.
    with serving([test_image_archives["busybox"]], tmp_path) as server:
        published = web_pod("edge", "edge", container={"ports": [{"containerPort": 8080, "hostPort": port}]})
        apply(server, published, service_manifest("edge", "edge"))
        ready(server, "edge")
        wait_until(lambda: http_get(f"http://127.0.0.1:{port}/"), what="the hostPort answers")

        server.delete_all_pods()
        wait_until(lambda: not listening(port), what="the hostPort closed with its pod")

    assert not listening(port)


def test_a_killed_server_adopts_a_running_pod_with_its_address(
    test_image_archives: dict[str, Path], tmp_path: Path
) -> None:
    with serving([test_image_archives["busybox"]], tmp_path) as server:
        apply(server, web_pod("survivor", "survivor"), client_pod())
        ready(server, "survivor", "client")
        address = pod_ip(server, "survivor")

        server.kill(signal.SIGKILL)
        server.start()

        wait_until(lambda: server.pod_row("survivor")[1:4] == ["1/1", "Running", "0"], what="survivor adopted")
        assert pod_ip(server, "survivor") == address
        assert fetch(server, "client", f"http://{address}:8080/") == "survivor\n"
