"""Registry credentials: Docker's `config.json`, Kubernetes pull secrets, and `WWW-Authenticate` challenges.

Credentials are matched to a registry the way Docker's `ResolveAuthConfig` does it: an entry whose key is
exactly the registry's index name wins (`https://index.docker.io/v1/` for Docker Hub, `host[:port]` for
the rest), otherwise any entry whose key reduces to the same host (scheme and path dropped, Docker Hub's
aliases folded into `docker.io`). Which files are read, and credential helpers: `auth_files`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DOCKER_HUB = "docker.io"
DOCKER_HUB_INDEX_KEY = "https://index.docker.io/v1/"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


class AuthConfigError(ValueError):
    """A docker config or pull secret could not be read; the message names what is wrong."""


def registry_host(key: str) -> str:
    """The host[:port] a config key or registry name stands for (Docker's `ConvertToHostname`)."""
    host = key.removeprefix("http://").removeprefix("https://").split("/", 1)[0]
    return DOCKER_HUB if host in _DOCKER_HUB_ALIASES else host


def index_key(registry: str) -> str:
    """The `auths` key `docker login` writes for a registry."""
    host = registry_host(registry)
    return DOCKER_HUB_INDEX_KEY if host == DOCKER_HUB else host


@dataclass(frozen=True)
class DockerAuth:
    """Credentials for one registry: one entry of a docker config's `auths` map."""

    registry: str  # the key as written: "https://index.docker.io/v1/", "quay.io", "http://host:5000", ...
    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)  # an OAuth2 refresh token (`identitytoken`)

    @property
    def host(self) -> str:
        """The host[:port] the entry applies to."""
        return registry_host(self.registry)

    def basic_authorization(self) -> str:
        """The value of an `Authorization: Basic …` header for these credentials."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    @classmethod
    def from_auths(cls, auths: Mapping[str, Any]) -> list[DockerAuth]:
        """Read an `auths` map; entries without any credential (left by credential helpers) are skipped."""
        found = []
        for key, entry in auths.items():
            if not isinstance(entry, Mapping):
                raise AuthConfigError(f"auth entry for {key!r} is not an object")
            username = str(entry.get("username") or "")
            password = str(entry.get("password") or "")
            if entry.get("auth"):
                username, password = _decode_auth(key, str(entry["auth"]))
            identity_token = str(entry.get("identitytoken") or "")
            if username or password or identity_token:
                found.append(cls(key, username, password, identity_token))
        return found

    @classmethod
    def from_dockerconfigjson(cls, data: bytes) -> list[DockerAuth]:
        """Read a `kubernetes.io/dockerconfigjson` secret's `.dockerconfigjson` (or a legacy `.dockercfg`).

        The legacy format is the bare `auths` map, so a document without an `auths` key is read as one.
        """
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise AuthConfigError(f"invalid docker config: {e}") from None
        if not isinstance(doc, Mapping):
            raise AuthConfigError("invalid docker config: not a JSON object")
        auths = doc.get("auths", doc)
        if not isinstance(auths, Mapping):
            raise AuthConfigError("invalid docker config: auths is not an object")
        return cls.from_auths(auths)


def _decode_auth(key: str, value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthConfigError(f"invalid auth for {key!r}: not base64 of user:password") from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise AuthConfigError(f"invalid auth for {key!r}: no ':' between user and password")
    return username, password


def select(entries: Iterable[DockerAuth], registry: str) -> DockerAuth | None:
    """The entry for `registry` among `entries`: the exact index key first, then any with the same host."""
    candidates = [e for e in entries if e.host == registry_host(registry)]
    exact = [e for e in candidates if e.registry == index_key(registry)]
    return next(iter(exact or candidates), None)


@dataclass(frozen=True)
class Challenge:
    """One challenge of a `WWW-Authenticate` header: its scheme (lower-cased) and parameters."""

    scheme: str
    params: dict[str, str]


_CHALLENGE_TOKEN = re.compile(
    r"""\s*(?:(?P<key>[!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?P<value>"(?:[^"\\]|\\.)*"|[^,\s]*)"""
    r"""|(?P<scheme>[!#$%&'*+.^_`|~0-9A-Za-z-]+))\s*,?"""
)


def parse_www_authenticate(headers: Iterable[str]) -> list[Challenge]:
    """Parse `WWW-Authenticate` header values into challenges, in order.

    A header may hold several challenges (`Basic realm="a", Bearer realm="b"`) and quoted values may
    contain commas (`scope="repository:x:pull,push"`), so this tokenises rather than splitting.
    """
    challenges: list[Challenge] = []
    for header in headers:
        pos = 0
        while pos < len(header):
            match = _CHALLENGE_TOKEN.match(header, pos)
            if match is None or match.end() == pos:
                break
            pos = match.end()
            if match["scheme"]:
                challenges.append(Challenge(match["scheme"].lower(), {}))
            elif challenges:
                value = match["value"]
                if value.startswith('"'):
                    value = re.sub(r"\\(.)", r"\1", value[1:-1])
                challenges[-1].params[match["key"].lower()] = value
    return challenges
