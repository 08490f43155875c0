"""Image references, parsed and normalised the way Docker and the kubelet do it.

`busybox` becomes `docker.io/library/busybox:latest`; `name@sha256:...` keeps its digest.
The grammar follows distribution's `reference` package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_PATH})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
_ID_ONLY = re.compile(r"^[0-9a-f]{64}$")


class InvalidReference(ValueError):
    """The string is not a valid image reference (the kubelet's `InvalidImageName`)."""


@dataclass(frozen=True)
class Reference:
    """A normalised image reference: registry domain, repository path, and a tag and/or digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """`docker.io/library/busybox`: the name without tag or digest."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def familiar(self) -> str:
        """The short form Docker prints: `busybox:latest`, `quay.io/x/y:1`."""
        name = self.path
        if self.domain == DEFAULT_DOMAIN and name.startswith(OFFICIAL_REPO_PREFIX):
            name = name[len(OFFICIAL_REPO_PREFIX) :]
        elif self.domain != DEFAULT_DOMAIN:
            name = self.repository
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name

    def with_digest(self, digest: str) -> Reference:
        """The same repository pinned to a digest (the form of a kubelet `imageID`)."""
        return Reference(self.domain, self.path, None, digest)

    def with_tag(self, tag: str) -> Reference:
        """The same repository with another tag and no digest."""
        return Reference(self.domain, self.path, tag, None)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    return domain, path


def parse(text: str) -> Reference:
    """Parse and normalise an image reference, adding `docker.io`, `library/` and `:latest` as Docker does.

    Raises `InvalidReference` for anything the distribution grammar refuses, including upper-case
    repository names and bare 64-hex image IDs (which are IDs, not names).
    """
    if not text or text != text.strip():
        raise InvalidReference(f"invalid reference format: {text!r}")
    if _ID_ONLY.match(text):
        raise InvalidReference(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    match = _REFERENCE.match(text)
    if not match:
        if _REFERENCE.match(text.lower()):
            raise InvalidReference(f"invalid reference format: repository name ({text}) must be lowercase")
        raise InvalidReference(f"invalid reference format: {text!r}")
    name, tag, digest = match["name"], match["tag"], match["digest"]
    domain, path = _split_domain(name)
    if len(f"{domain}/{path}") > 255:
        raise InvalidReference(
            "invalid reference format: repository name must not be more than 255 characters"
        )
    if digest and not _SHA256.match(digest):
        raise InvalidReference(f"invalid reference format: unsupported digest {digest!r}")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def has_explicit_tag_or_digest(text: str) -> bool:
    """True when the user wrote a tag or a digest (the kubelet's pull-policy defaulting looks at this)."""
    last = text.rsplit("/", 1)[-1]
    return ":" in last or "@" in text


def is_digest(text: str) -> bool:
    """True for a well-formed `sha256:<64 hex>` digest."""
    return bool(_SHA256.match(text))
