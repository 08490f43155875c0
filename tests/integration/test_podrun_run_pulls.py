"""`podrun run` pulling from a real registry on 127.0.0.1: what it shows, and short names from registries.conf."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_server import RegistryServer, build_layout, push, start_registry, tools_missing

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing())),
]

PODRUN = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "podrun"
Roots = tuple[Path, Path]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    work = tmp_path_factory.mktemp("run-pulls")
    build_layout(work / "layout", "1.0")
    server = start_registry(work / "server")
    try:
        push(work / "layout", "1.0", f"{server.host}/test/busybox:1.0")
        yield server
    finally:
        server.stop()


def run_pod(roots: Roots, registry: RegistryServer, image: str, env: dict[str, str] | None = None) -> str:
    """`podrun run` of a pod printing `hi` from `image` (the registry reachable over HTTP); its stderr."""
    root, run_root = roots
    (root / "registries.json").write_text(json.dumps({"insecure": [registry.host], "no_upstream": ["docker.io"]}))
    pod = root.parent / f"{root.name}-pod.json"
    pod.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pulled"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": image, "command": ["echo", "hi"]}]},
    }))  # fmt: skip
    try:
        done = subprocess.run(
            [str(PODRUN), "run", "--root", str(root), "--run-root", str(run_root), "-f", str(pod)],
            capture_output=True, text=True, timeout=120, check=False, env=env,
        )  # fmt: skip
    finally:
        pod.unlink()
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[c] hi\n"
    return done.stderr


async def test_a_pull_off_a_terminal_is_one_line_when_it_is_unpacked(
    runtime_dirs: Roots, registry: RegistryServer
) -> None:
    stderr = run_pod(runtime_dirs, registry, f"{registry.host}/test/busybox:1.0")

    lines = [line for line in stderr.splitlines() if line.startswith("Pulled ")]
    assert len(lines) == 1, stderr
    [line] = lines
    assert line.startswith(f"Pulled {registry.host}/test/busybox:1.0: ") and line.endswith(" MB downloaded, unpacking")


async def test_a_short_name_runs_from_the_search_registry_of_registries_conf(
    runtime_dirs: Roots, registry: RegistryServer, tmp_path: Path
) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text(f'unqualified-search-registries = ["{registry.host}"]\n')
    env = os.environ | {"CONTAINERS_REGISTRIES_CONF": str(conf), "HOME": str(tmp_path)}

    stderr = run_pod(runtime_dirs, registry, "test/busybox:1.0", env)

    assert "Pulled test/busybox:1.0: " in stderr


async def test_a_broken_registries_conf_is_refused_before_anything_starts(runtime_dirs: Roots, tmp_path: Path) -> None:
    root, run_root = runtime_dirs
    (tmp_path / "registries.conf").write_text("unqualified-search-registries = [\n")
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: busybox}]\n"
    )
    env = os.environ | {"CONTAINERS_REGISTRIES_CONF": str(tmp_path / "registries.conf")}

    done = subprocess.run(
        [str(PODRUN), "run", "--root", str(root), "--run-root", str(run_root), "-f", str(tmp_path / "pod.yaml")],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip

    assert done.returncode == 1
    assert (
        done.stderr.startswith(f"error: {tmp_path / 'registries.conf'}: invalid TOML")
        and "Traceback" not in done.stderr
    )


def test_serve_refuses_a_broken_registries_conf_before_anything_starts(runtime_dirs: Roots, tmp_path: Path) -> None:
    root, run_root = runtime_dirs
    (tmp_path / "registries.conf").write_text("unqualified-search-registries = [\n")
    env = os.environ | {"CONTAINERS_REGISTRIES_CONF": str(tmp_path / "registries.conf")}

    done = subprocess.run(
        [str(PODRUN), "serve", "--root", str(root), "--run-root", str(run_root), "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip

    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {tmp_path / 'registries.conf'}: invalid TOML"), done.stderr
    assert "Traceback" not in done.stderr
    assert not (root / "api").exists()
