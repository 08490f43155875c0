"""How podrun reaches registries: plain-HTTP registries, mirrors, credentials, short names.

Kept apart from the pull client so that reading the configuration does not import the HTTP stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from podrun.runtime.images.auth_files import AuthProvider
from podrun.runtime.images.registries_conf import ContainersRegistries, resolve_short_name
from podrun.runtime.reference import Reference


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
    blocked: set[str] = field(default_factory=set)  # domains never pulled from (registries.conf `blocked`)
    search_registries: list[str] = field(default_factory=list)  # tried in order for a short name
    aliases: dict[str, str] = field(default_factory=dict)  # short name -> repository

    def candidates(self, image: str) -> list[Reference]:
        """The references `image` may mean, in the order they are tried (see `resolve_short_name`)."""
        return resolve_short_name(image, self.search_registries, self.aliases)

    def with_containers_registries(self, containers: ContainersRegistries) -> RegistryConfig:
        """This configuration plus what registries.conf says; podrun's own mirrors for a domain win."""
        return RegistryConfig(
            insecure=self.insecure | containers.insecure,
            mirrors={domain: list(m) for domain, m in containers.mirrors.items() if m} | self.mirrors,
            no_upstream=set(self.no_upstream), offline=self.offline, auth=self.auth,
            blocked=self.blocked | containers.blocked, search_registries=list(containers.search),
            aliases=dict(containers.aliases),
        )  # fmt: skip
