"""A CNI runtime (CNI SPEC 1.0): podrun execs the plugins of its own conflist, as CRI-O or containerd do.

The conflist (ptp + host-local, as kind's kindnetd writes it without portmap) lives in podrun's state
directory, never in /etc/cni/net.d. Routes cover the pod and Service ranges only: pods get no default
route. Plugins run inside the node network namespace, so the host-side veths end there. Each ADD result is
cached per sandbox with the configuration it was made with, so DEL works after a crash, after a
configuration change and when the pod's namespace is already gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from podrun.json_types import JSON
from podrun.network.config import NetworkConfig
from podrun.runtime import linux

CNI_VERSION = "1.0.0"
NETWORK_NAME = "podrun"
PLUGIN_DIR = Path("/usr/lib/cni")
IFNAME = "eth0"


class CniError(Exception):
    """A plugin failed; the message is the plugin's own `msg` (and `details`)."""


def conflist(config: NetworkConfig) -> JSON:
    """podrun's network configuration list."""
    return {
        "cniVersion": CNI_VERSION,
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "mtu": 1500,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(config.ipam_dir),
                    "ranges": [[{"subnet": config.node_pod_cidr, "gateway": config.node_gateway}]],
                    # The gateway is explicit so that ptp's CHECK finds the routes ADD made.
                    "routes": [
                        {"dst": config.pod_cidr, "gw": config.node_gateway},
                        {"dst": config.service_cidr, "gw": config.node_gateway},
                    ],
                },
            }
        ],
    }


@dataclass(frozen=True)
class Attachment:
    """A sandbox's network attachment: its addresses (without prefix length) and the plugins' result."""

    ips: list[str]
    result: JSON


class Cni:
    """ADD, CHECK and DEL of sandboxes' network namespaces on podrun's network."""

    def __init__(self, config: NetworkConfig, node_netns: Path, plugin_dir: Path = PLUGIN_DIR) -> None:
        self.config = config
        self.node_netns = node_netns
        self.plugin_dir = plugin_dir
        self.results = config.cni_dir / "results"

    def write_conflist(self) -> Path:
        """Write the conflist into the state directory (for people and tools to read; podrun uses the cache)."""
        self.results.mkdir(parents=True, exist_ok=True)
        path = self.config.cni_dir / f"{NETWORK_NAME}.conflist"
        path.write_text(json.dumps(conflist(self.config), indent=2) + "\n")
        return path

    def add(self, sandbox_id: str, netns: Path) -> Attachment:
        """Attach the namespace: run each plugin's ADD in order and cache the result before returning it.

        On failure the partial attachment is deleted again before the error is raised.
        """
        network = conflist(self.config)
        self.results.mkdir(parents=True, exist_ok=True)
        cache = self.results / f"{sandbox_id}.json"
        # Cache first: if podrun dies during ADD, DEL still knows the configuration to undo.
        _write_atomic(cache, {"config": network, "netns": str(netns), "result": None})
        prev: JSON | None = None
        try:
            for plugin in network["plugins"]:
                prev = self._exec("ADD", network, plugin, sandbox_id, str(netns), prev)
        except BaseException:
            with contextlib.suppress(CniError):
                self.delete(sandbox_id)
            raise
        result = prev or {}
        _write_atomic(cache, {"config": network, "netns": str(netns), "result": result})
        return Attachment(result_ips(result), result)

    def check(self, sandbox_id: str) -> None:
        """Run CHECK with the cached result; raises CniError when the attachment is not as ADD left it."""
        cached = self._cached(sandbox_id)
        if cached is None:
            raise CniError(f"sandbox {sandbox_id} has no network attachment")
        network = cached["config"]
        for plugin in network["plugins"]:
            self._exec("CHECK", network, plugin, sandbox_id, cached["netns"], cached["result"])

    def delete(self, sandbox_id: str) -> None:
        """Detach a sandbox from the cached ADD, in reverse order; fine when its namespace is already gone."""
        cached = self._cached(sandbox_id)
        if cached is None:
            return
        network = cached["config"]
        netns = cached["netns"] if Path(cached["netns"]).exists() else ""
        for plugin in reversed(network["plugins"]):
            self._exec("DEL", network, plugin, sandbox_id, netns, cached["result"])
        (self.results / f"{sandbox_id}.json").unlink(missing_ok=True)

    def ips(self, sandbox_id: str) -> list[str]:
        """The addresses a sandbox got from ADD (none when it is not attached)."""
        cached = self._cached(sandbox_id)
        return result_ips(cached["result"]) if cached and cached["result"] else []

    def reclaim(self, live_sandbox_ids: set[str]) -> list[str]:
        """DEL every cached attachment, and free every host-local address, of sandboxes not in the live set.

        Returns the sandbox IDs whose state was reclaimed.
        """
        reclaimed = []
        if self.results.is_dir():
            for cache in self.results.glob("*.json"):
                if cache.stem not in live_sandbox_ids:
                    with contextlib.suppress(CniError, OSError, ValueError):
                        self.delete(cache.stem)
                    cache.unlink(missing_ok=True)
                    reclaimed.append(cache.stem)
        store = self.config.ipam_dir / NETWORK_NAME
        if store.is_dir():
            for allocation in store.iterdir():
                owner = _allocation_owner(allocation)
                if owner is not None and owner not in live_sandbox_ids:
                    allocation.unlink(missing_ok=True)
                    reclaimed.append(owner)
        return sorted(set(reclaimed))

    def _cached(self, sandbox_id: str) -> JSON | None:
        try:
            cached: JSON = json.loads((self.results / f"{sandbox_id}.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return cached

    def _exec(self, command: str, network: JSON, plugin: JSON, sandbox_id: str, netns: str, prev: JSON | None) -> JSON:
        stdin: JSON = {"cniVersion": network["cniVersion"], "name": network["name"], **plugin}
        if prev is not None:
            stdin["prevResult"] = prev
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": sandbox_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": IFNAME,
            "CNI_PATH": str(self.plugin_dir),
        }
        # The plugin inherits this thread's namespace: the node's, where the host-side veth must end.
        with linux.in_netns(self.node_netns):
            done = subprocess.run(
                [str(self.plugin_dir / plugin["type"])], input=json.dumps(stdin), env=env,
                capture_output=True, text=True, check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise CniError(_plugin_error(plugin["type"], command, done.stdout, done.stderr))
        if command != "ADD":
            return prev or {}
        out: JSON = json.loads(done.stdout)
        return out


def result_ips(result: JSON) -> list[str]:
    """The addresses of a CNI result, without prefix lengths."""
    return [ip["address"].split("/", 1)[0] for ip in result.get("ips") or []]


def _plugin_error(plugin: str, command: str, stdout: str, stderr: str) -> str:
    try:
        error = json.loads(stdout)
        message = error.get("msg") or stdout.strip()
        if error.get("details"):
            message += f": {error['details']}"
    except (json.JSONDecodeError, AttributeError):
        message = stdout.strip() or stderr.strip() or "no output"
    return f"CNI plugin {plugin} {command} failed: {message}"


def _allocation_owner(allocation: Path) -> str | None:
    """The container ID holding a host-local address file (None for its lock and bookkeeping files)."""
    if allocation.name == "lock" or allocation.name.startswith("last_reserved_ip"):
        return None
    try:
        return allocation.read_text().splitlines()[0].strip()
    except (OSError, IndexError):
        return None


def _write_atomic(path: Path, doc: JSON) -> None:
    tmp = path.with_name(f".{path.name}")
    tmp.write_text(json.dumps(doc))
    tmp.rename(path)
