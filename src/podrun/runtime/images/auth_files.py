"""Which credential files podrun reads, and in what order, as Podman (containers/image) and Docker do.

Files, first with credentials for the registry wins (containers/image `pkg/docker/config`):
`$REGISTRY_AUTH_FILE` alone when set; otherwise `${XDG_RUNTIME_DIR}/containers/auth.json`,
`${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`, then `$DOCKER_CONFIG/config.json` or
`~/.docker/config.json`. Within a file, a `credHelpers` entry for the registry wins over its `auths`
entry, and `credsStore` is asked when `auths` has no credentials, as the Docker CLI does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from podrun.runtime.images.auth import AuthConfigError, DockerAuth, index_key, registry_host, select
from podrun.runtime.images.credential_helpers import helper_credentials


def default_auth_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The credential files Podman and Docker read, in the order they are consulted."""
    env = os.environ if environ is None else environ
    if env.get("REGISTRY_AUTH_FILE"):
        return [Path(env["REGISTRY_AUTH_FILE"])]
    home = Path(env.get("HOME") or Path.home())
    files = []
    if env.get("XDG_RUNTIME_DIR"):
        files.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    files.append(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "containers" / "auth.json")
    docker_config = env.get("DOCKER_CONFIG")
    files.append(Path(docker_config) / "config.json" if docker_config else home / ".docker" / "config.json")
    return files


@dataclass(frozen=True)
class AuthFile:
    """One `auth.json` or docker `config.json`: its `auths`, `credHelpers` and `credsStore`."""

    path: Path
    entries: Sequence[DockerAuth] = ()
    cred_helpers: Mapping[str, str] = field(default_factory=dict)  # host[:port] -> helper name
    creds_store: str = ""

    @classmethod
    def read(cls, path: Path) -> AuthFile | None:
        """The file at `path`, or None if there is none; raises `AuthConfigError` naming the file."""
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise AuthConfigError(f"{path}: invalid JSON: {e}") from None
        if not isinstance(doc, dict):
            raise AuthConfigError(f"{path}: not a JSON object")
        auths, helpers, store = doc.get("auths") or {}, doc.get("credHelpers") or {}, doc.get("credsStore") or ""
        if not isinstance(auths, dict) or not isinstance(helpers, dict) or not isinstance(store, str):
            raise AuthConfigError(f"{path}: auths and credHelpers must be objects, credsStore a string")
        try:
            entries = DockerAuth.from_auths(auths)
        except AuthConfigError as e:
            raise AuthConfigError(f"{path}: {e}") from None
        return cls(path, entries, {registry_host(k): str(v) for k, v in helpers.items()}, store)

    def lookup(self, registry: str) -> DockerAuth | None:
        """This file's credentials for `registry`, running a credential helper if the file names one."""
        helper = self.cred_helpers.get(registry_host(registry))
        if helper:
            return helper_credentials(helper, index_key(registry), str(self.path))
        found = select(self.entries, registry)
        if found is None and self.creds_store:
            return helper_credentials(self.creds_store, index_key(registry), str(self.path))
        return found


@dataclass
class AuthProvider:
    """Where credentials come from: fixed entries plus the credential files, re-read at every lookup.

    Re-reading means a `podman login` or `docker login` done while podrun runs is seen at the next pull.
    """

    auth_files: Sequence[Path] = field(default_factory=default_auth_files)
    entries: Sequence[DockerAuth] = ()

    def lookup(self, registry: str, extra: Sequence[DockerAuth] = ()) -> DockerAuth | None:
        """Credentials for `registry` (a host[:port] or `docker.io`), or None for anonymous access.

        `extra` (a pod's pull secrets) is consulted first, then the fixed entries, then the files in order.
        Raises `AuthConfigError` for an unreadable file or a credential helper that is missing or fails.
        """
        for source in (extra, self.entries):
            found = select(source, registry)
            if found is not None:
                return found
        for path in self.auth_files:
            auth_file = AuthFile.read(path)
            found = auth_file.lookup(registry) if auth_file else None
            if found is not None:
                return found
        return None
