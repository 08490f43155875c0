"""`podrun run` of a pod without HTTP or gRPC probes loads neither the HTTP stacks nor the API server, nor what
only some runs use: the DNS library (until a pod asks a name), the layer unpackers (until a pull), the Service
allocators (without Services), the event printers (without `--events`), exec and attach (the API's).

Each check runs in a fresh interpreter and looks at `sys.modules` afterwards: importing costs `podrun run`
start-up time (aiohttp alone is about a tenth of a second), so what a run does not use must not be loaded.
"""

from __future__ import annotations

from pathlib import Path

from fresh_imports import modules_loaded_after

# rich loads with the first line printed to a terminal, so a `--quiet` run, or one whose output goes to pipes or
# files, never loads it.
HEAVY = ("aiohttp", "h2", "podrun.api", "podrun.runtime.images.registry", "rich", "urllib.request")
ON_USE = (
    "dnslib", "socketserver", "tarfile", "zstandard", "importlib.resources", "podrun.runtime.images.layers",
    "podrun.services.registry", "podrun.services.allocators", "podrun.cli.event_lines", "podrun.printers.resources",
    "podrun.runtime.conmon_attach", "podrun.runtime.ttyexec",
)  # fmt: skip
# Modules of the standard library a run needs one function of, made without them (`admission.random_uuid`).
UNUSED = ("uuid", "platform", "secrets", "hmac")

POD = """
apiVersion: v1
kind: Pod
metadata: {name: quick}
spec:
  restartPolicy: Never
  initContainers:
  - {name: init, image: busybox, command: ['true']}
  containers:
  - name: app
    image: busybox
    command: ['true']
    readinessProbe: {exec: {command: ['true']}}
    livenessProbe: {tcpSocket: {port: 80}}
"""


def loaded_after(code: str) -> list[str]:
    """The HEAVY, ON_USE and UNUSED modules (or their submodules) loaded once `code` has run in a fresh
    interpreter."""
    return modules_loaded_after(code, HEAVY + ON_USE + UNUSED)


def test_the_run_command_and_its_pod_path_load_no_http_stack_or_api(tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD)

    loaded = loaded_after(
        f"""
        from podrun.cli.main import build_parser
        from podrun.cli import run
        from podrun.kubelet.probing.prober import run_probe
        from podrun.kubelet.hooks import run_hook
        from podrun.model.manifest import load_manifests
        from podrun.cli.output import RunOutput
        load_manifests(run.read_sources([{str(manifest)!r}]))
        RunOutput(quiet=True, multiple_pods=False).log("quick", "app", "stdout", "a line nobody sees")
        RunOutput(quiet=False, multiple_pods=False).log("quick", "app", "stderr", "a line to a pipe")
        run.allocate_services([])
        from podrun.cli.pull_progress import PullProgress
        PullProgress().finished("busybox")  # a pull that failed before any progress
        """
    )

    assert loaded == []


def test_cluster_dns_loads_its_library_at_the_first_query() -> None:
    loaded = loaded_after(
        """
        from pathlib import Path
        from podrun.network.dns import ClusterResolver, DnsRecords, DnsServer, ServiceRecord

        resolver = ClusterResolver(DnsRecords([ServiceRecord("default", "web", "10.96.0.10")]))
        server = DnsServer(Path("/proc/self/ns/net"), "127.0.0.1", resolver)
        import sys
        assert "dnslib" not in sys.modules, "loaded before any query"
        server.answer(b"not a DNS packet")
        """
    )

    assert "dnslib" in loaded


def test_a_pull_with_no_upstream_fails_without_loading_the_http_stack(tmp_path: Path) -> None:
    loaded = loaded_after(
        f"""
        import asyncio
        from pathlib import Path
        from podrun.kubelet.images import ImageError, ImageManager
        from podrun.runtime.images.registry_config import RegistryConfig
        from podrun.runtime.images.store import ImageStore

        manager = ImageManager(ImageStore(Path({str(tmp_path)!r})), RegistryConfig(no_upstream={{"docker.io"}}))
        pod = {{"metadata": {{"uid": "u"}}, "spec": {{}}}}
        container = {{"name": "app", "image": "busybox", "imagePullPolicy": "Always"}}
        try:
            asyncio.run(manager.ensure(pod, container, lambda *event: None, lambda name: None))
        except ImageError as e:
            assert e.reason == "ErrImagePull" and "configured with no upstream" in e.message, e.message
        else:
            raise AssertionError("the pull did not fail")
        """
    )

    assert loaded == []
