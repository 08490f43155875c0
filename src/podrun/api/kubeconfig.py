"""A kubeconfig for `podrun serve`, merged into the user's the way `kind` does it.

The cluster, user and context are all named `podrun`: the cluster carries the server's URL and CA, the user
the bearer token, the context the `default` namespace. Merging replaces the entries named `podrun`, keeps
everything else, and makes `podrun` the current context. The file is written atomically and readable by its
owner only, since it holds the token.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import os
import pwd
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

NAME = "podrun"
_SECTIONS = ("clusters", "users", "contexts")


def sudo_invoker(environ: Mapping[str, str] | None = None, euid: int | None = None) -> pwd.struct_passwd | None:
    """The user who ran podrun through `sudo` (root with `SUDO_USER` set to another known user), else None."""
    env = os.environ if environ is None else environ
    name = env.get("SUDO_USER", "")
    if (os.geteuid() if euid is None else euid) != 0 or not name or name == "root":
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def default_kubeconfig_path(environ: Mapping[str, str] | None = None, euid: int | None = None) -> Path:
    """Where kubectl reads its configuration: the first entry of `$KUBECONFIG`, else `~/.kube/config`.

    Under `sudo`, `~` is the invoking user's home (where their kubectl looks), not root's.
    """
    env = os.environ if environ is None else environ
    for entry in env.get("KUBECONFIG", "").split(os.pathsep):
        if entry:
            return Path(entry).expanduser()
    invoker = sudo_invoker(env, euid)
    if invoker is not None:
        return Path(invoker.pw_dir) / ".kube" / "config"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".kube" / "config"


def build_kubeconfig(server: str, ca_pem: bytes, token: str, *, namespace: str = "default") -> dict[str, Any]:
    """A complete kubeconfig with only the `podrun` cluster, user and context, the current one."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": NAME,
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
            }
        ],
        "users": [{"name": NAME, "user": {"token": token}}],
        "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": namespace}}],
        "current-context": NAME,
    }


def merge_kubeconfig(existing: Mapping[str, Any] | None, ours: Mapping[str, Any]) -> dict[str, Any]:
    """`existing` with `ours`' clusters, users and contexts in place of the entries of the same names, and
    `ours`' current context. Everything else in `existing` is kept as it was."""
    merged: dict[str, Any] = copy.deepcopy(dict(existing or {}))
    for key, value in ours.items():
        # apiVersion, kind and preferences where the file has none.
        if key not in _SECTIONS and key != "current-context":
            merged.setdefault(key, copy.deepcopy(value))
    for section in _SECTIONS:
        replacing = {entry.get("name") for entry in ours.get(section) or []}
        kept = [entry for entry in merged.get(section) or [] if entry.get("name") not in replacing]
        merged[section] = kept + copy.deepcopy(list(ours.get(section) or []))
    merged["current-context"] = ours.get("current-context", NAME)
    return merged


def podrun_entries(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """A kubeconfig of just `config`'s `podrun` cluster, user and context (current), None if one is missing."""
    picked: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    for section in _SECTIONS:
        entries = [
            entry for entry in config.get(section) or [] if isinstance(entry, dict) and entry.get("name") == NAME
        ]
        if not entries:
            return None
        picked[section] = copy.deepcopy(entries[:1])
    picked["current-context"] = NAME
    return picked


def read_kubeconfig(path: Path) -> dict[str, Any] | None:
    """The kubeconfig at `path`, None when there is no file (or it is empty); ValueError when it is not a map."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    loaded = yaml.safe_load(text)
    if loaded is None:
        return None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} is not a kubeconfig: expected a YAML map")
    return loaded


def write_kubeconfig(path: Path, config: Mapping[str, Any]) -> None:
    """Replace the file at `path` atomically with `config`, mode 0600 (its directory is made, mode 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.podrun.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as stream:
            yaml.safe_dump(dict(config), stream, sort_keys=False, default_flow_style=False)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def install_kubeconfig(
    server: str, ca_pem: bytes, token: str, *, path: Path | None = None, namespace: str = "default"
) -> Path:
    """Merge the `podrun` entries into the kubeconfig at `path` (default: `default_kubeconfig_path()`), make
    them current, and return the path written."""
    target = path or default_kubeconfig_path()
    merged = merge_kubeconfig(read_kubeconfig(target), build_kubeconfig(server, ca_pem, token, namespace=namespace))
    write_kubeconfig(target, merged)
    invoker = sudo_invoker()
    if invoker is not None and target.is_relative_to(invoker.pw_dir):
        # The invoking user's kubectl must be able to read it (and its .kube directory, if made here).
        for made in (target, target.parent) if target.parent.name == ".kube" else (target,):
            os.chown(made, invoker.pw_uid, invoker.pw_gid)
    return target
