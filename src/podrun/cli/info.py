"""`podrun info`: which OCI runtime podrun would use here, and why."""

from __future__ import annotations

import argparse

from podrun import __version__
from podrun.runtime.oci_runtime import MissingTool, cgroup_mode, choose_runtime, find_conmon


def info_command(args: argparse.Namespace) -> int:
    """Print the runtime choice, the cgroup mode and the directories in use."""
    print(f"podrun:       {__version__}")
    print(f"cgroups:      {cgroup_mode()}")
    try:
        oci = choose_runtime(args.oci_runtime)
        print(f"OCI runtime:  {oci.name} ({oci.path}): {oci.why}")
        print(f"conmon:       {find_conmon()}")
    except MissingTool as e:
        print(f"error: {e}")
        return 1
    print(f"root:         {args.root}")
    print(f"run root:     {args.run_root}")
    return 0
