"""`podrun run` of a pod without HTTP or gRPC probes loads neither the HTTP stacks nor the API server.

Each check runs in a fresh interpreter and looks at `sys.modules` afterwards: importing costs `podrun run`
start-up time (aiohttp alone is about a tenth of a second), so what a run does not use must not be loaded.
"""

from __future__ import annotations

from pathlib import Path

from fresh_imports import modules_loaded_after

# rich loads with the first line printed, so a `--quiet` run never loads it.
HEAVY = ("aiohttp", "h2", "podrun.api", "podrun.runtime.images.registry", "rich", "urllib.request")

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
    """The HEAVY modules (or their submodules) loaded once `code` has run in a fresh interpreter."""
    return modules_loaded_after(code, HEAVY)


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
        """
    )

    assert loaded == []


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
