"""`podrun version` reports the client, the OCI runtime and conmon it would use, and the cgroup mode."""

from __future__ import annotations

import json

import pytest

from podrun import __version__
from podrun.cli.main import main
from podrun.cli.version import tool_version


def test_version_json_names_the_client_runtime_conmon_and_cgroup_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version", "-o", "json"]) == 0

    info = json.loads(capsys.readouterr().out)
    assert info["clientVersion"]["gitVersion"] == f"v{__version__}"
    assert info["ociRuntime"]["name"] in ("runc", "crun")
    assert info["ociRuntime"]["version"].startswith(f"{info['ociRuntime']['name']} version ")
    assert info["conmon"]["version"].startswith("conmon version ")
    assert info["cgroupMode"] in ("unified", "hybrid", "legacy")


def test_version_prints_one_line_per_component(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Client Version", "OCI Runtime", "conmon", "cgroups"]


def test_version_of_a_program_that_cannot_run_says_unknown() -> None:
    assert tool_version("/nonexistent/runc").startswith("unknown (")
