"""Where a pull of a reference goes, and how a pull fails, without the HTTP stack.

A pull that has nowhere to go (the domain is blocked, or has no upstream and no mirror, or podrun is offline
with no mirror) fails here, before `podrun.runtime.images.registry` and aiohttp (a tenth of a second) are loaded:
the common case of `podrun run` on a machine that keeps its images locally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from podrun.runtime.images.registry_config import RegistryConfig
from podrun.runtime.reference import DEFAULT_DOMAIN, Reference

DOCKER_HUB_REGISTRY = "registry-1.docker.io"

PullErrorKind = Literal["unauthorized", "not_found", "unreachable", "timeout", "invalid", "digest"]


class PullError(Exception):
    """A pull failed. `kind` says why; the message is the registry's answer, fit for `ErrImagePull`."""

    def __init__(self, kind: PullErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: PullErrorKind = kind


@dataclass(frozen=True)
class Endpoint:
    """One place a pull may ask: a mirror or the registry itself, over HTTPS or (insecure) HTTP."""

    base: str  # scheme://host[:port][/prefix], without a trailing slash
    host: str  # host[:port], for credentials
    verify_tls: bool
    mirror: bool


def _host_endpoints(host: str, insecure: bool, mirror: bool) -> list[Endpoint]:
    if not insecure:
        return [Endpoint(f"https://{host}", host, True, mirror)]
    return [
        Endpoint(f"https://{host}", host, False, mirror),
        Endpoint(f"http://{host}", host, False, mirror),
    ]


def endpoints(domain: str, config: RegistryConfig) -> list[Endpoint]:
    """The endpoints a pull from `domain` tries, in order: its mirrors, then the registry (unless not to)."""
    found: list[Endpoint] = []
    for mirror in config.mirrors.get(domain, []):
        if "://" not in mirror:
            found += _host_endpoints(mirror, mirror in config.insecure, mirror=True)
            continue
        parts = urlsplit(mirror)
        verify = parts.scheme == "https" and parts.netloc not in config.insecure
        found.append(Endpoint(mirror.rstrip("/"), parts.netloc, verify, mirror=True))
    if config.offline or domain in config.no_upstream:
        return found
    host = DOCKER_HUB_REGISTRY if domain == DEFAULT_DOMAIN else domain
    return found + _host_endpoints(host, domain in config.insecure or host in config.insecure, mirror=False)


def refusal(ref: Reference, config: RegistryConfig) -> PullError | None:
    """Why a pull of `ref` fails without asking anyone (blocked, or no endpoint at all); None if it may ask."""
    if ref.domain in config.blocked:
        return PullError("invalid", f'registry {ref.domain} is blocked in registries.conf: not pulling "{ref}"')
    if endpoints(ref.domain, config):
        return None
    why = "podrun is offline (--offline)" if config.offline else f"{ref.domain} is configured with no upstream"
    return PullError("unreachable", f'failed to resolve reference "{ref}": {why} and no mirror answered')


def first_failure(candidates: Sequence[Reference], errors: Sequence[PullError]) -> PullError:
    """The error of a pull of several candidates that all failed: the one error, or each one's, listed."""
    if len(errors) == 1:
        return errors[0]
    tried = "; ".join(f"{ref}: {e}" for ref, e in zip(candidates, errors, strict=True))
    # The most telling kind: unreachable only if every registry was; otherwise what a reachable one said.
    kind = next((e.kind for e in errors if e.kind not in ("unreachable", "timeout")), errors[-1].kind)
    return PullError(kind, f"every search registry failed: {tried}")
