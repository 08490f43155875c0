"""`podrun version`: the client's version, the OCI runtime and conmon it would use, and the host's cgroup mode."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import yaml

from podrun import __version__
from podrun.json_types import JSON
from podrun.runtime.oci_runtime import MissingTool, cgroup_mode, choose_runtime, find_conmon


def tool_version(path: str) -> str:
    """The first line of `path --version` (`runc version 1.1.5`), or why it could not be read."""
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    first_line = (done.stdout or done.stderr).strip().splitlines()
    return first_line[0] if first_line else "unknown"


def version_info(preference: str) -> JSON:
    """Everything `podrun version` reports, as the JSON `-o json` prints; a missing tool is reported, not raised."""
    info: JSON = {"clientVersion": {"gitVersion": f"v{__version__}"}, "cgroupMode": cgroup_mode()}
    try:
        oci = choose_runtime(preference)
        info["ociRuntime"] = {"name": oci.name, "path": oci.path, "version": tool_version(oci.path), "why": oci.why}
    except MissingTool as e:
        info["ociRuntime"] = {"error": str(e)}
    try:
        conmon = find_conmon()
        info["conmon"] = {"path": conmon, "version": tool_version(conmon)}
    except MissingTool as e:
        info["conmon"] = {"error": str(e)}
    return info


def version_command(args: argparse.Namespace) -> int:
    """Print the versions as lines, JSON or YAML; 1 when the runtime or conmon is missing."""
    info = version_info(args.oci_runtime)
    if args.output == "json":
        print(json.dumps(info, indent=2))
    elif args.output == "yaml":
        sys.stdout.write(yaml.safe_dump(info, sort_keys=False))
    else:
        print(f"Client Version: {info['clientVersion']['gitVersion']}")
        print(f"OCI Runtime: {_tool_line(info['ociRuntime'])}")
        print(f"conmon: {_tool_line(info['conmon'])}")
        print(f"cgroups: {info['cgroupMode']}")
    return 1 if "error" in info["ociRuntime"] or "error" in info["conmon"] else 0


def _tool_line(tool: JSON) -> str:
    return str(tool["error"]) if "error" in tool else f"{tool['version']} ({tool['path']})"
