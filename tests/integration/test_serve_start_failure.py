"""A `podrun serve` that cannot start says why and leaves nothing of what it had made on the way up."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from serve_harness import TIMEOUT, host_veths, leftovers, network_leftovers


def test_a_server_whose_port_is_taken_says_so_and_leaves_no_network(tmp_path: Path) -> None:
    veths_before = host_veths()
    root, run_root = tmp_path / "root", tmp_path / "run"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = subprocess.run(
            [sys.executable, "-m", "podrun.cli.main", "serve", "--root", str(root), "--run-root", str(run_root),
             "--address", "127.0.0.1", "--port", str(port), "--kubeconfig", str(tmp_path / "kubeconfig")],
            capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip

    assert refused.returncode == 1, refused.stderr
    assert "error:" in refused.stderr and "address already in use" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    # The node network is made before the port is tried: it is gone again, as after a stop with no pods.
    assert not any({**leftovers(root, run_root, set()), **network_leftovers(run_root, veths_before)}.values())
    assert not (root / "api" / "serve.pid").exists()
