"""How podrun reaches registries: plain-HTTP registries, mirrors, credentials.

Kept apart from the pull client so that reading the configuration does not import the HTTP stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from podrun.runtime.images.auth_files import AuthProvider


@dataclass
class RegistryConfig:
    """How to reach registries. The defaults: HTTPS only, no mirrors, Podman's and Docker's credential files."""

    insecure: set[str] = field(default_factory=set)  # host[:port] allowed over HTTP or unverified TLS
    mirrors: dict[str, list[str]] = field(default_factory=dict)  # domain -> endpoints tried before it
    # Domains whose own registry is never contacted, only their mirrors (containerd's `server` override):
    # for air-gapped machines, and for tests that must not leave the machine.
    no_upstream: set[str] = field(default_factory=set)
    # Contact no registry at all but mirrors (`--offline`): every pull without a mirror is unreachable.
    offline: bool = False
    auth: AuthProvider = field(default_factory=AuthProvider)
