"""Podman's `registries.conf` (containers-registries.conf(5), v2 TOML) and short-name resolution.

Files, as containers/image `pkg/sysregistriesv2` finds them: `$CONTAINERS_REGISTRIES_CONF` if set, else
`~/.config/containers/registries.conf` if it exists, else `/etc/containers/registries.conf`; then the
drop-ins `*.conf` (sorted) of `/etc/containers/registries.conf.d` (not read when the user file is used)
and `~/.config/containers/registries.conf.d`. A later file's `[[registry]]` replaces an earlier one with
the same prefix, its `unqualified-search-registries` replace the earlier list, its `[aliases]` are added.

Only registry-wide prefixes (`host[:port]`) are used for mirrors, `insecure` and `blocked`; a prefix
with a repository path, and `location` rewrites, are not supported and are refused by name.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podrun.runtime.reference import DEFAULT_DOMAIN, InvalidReference, Reference, parse

SYSTEM_FILE = Path("/etc/containers/registries.conf")
SYSTEM_DROP_INS = Path("/etc/containers/registries.conf.d")


class RegistriesConfError(ValueError):
    """A registries.conf file cannot be used; the message names the file and the setting."""


@dataclass
class ContainersRegistries:
    """What registries.conf says: search registries, aliases, and per-registry mirrors and flags."""

    search: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # short name -> repository
    mirrors: dict[str, list[str]] = field(default_factory=dict)  # host[:port] -> mirror locations
    insecure: set[str] = field(default_factory=set)  # registries and mirrors reached over HTTP / without TLS checks
    blocked: set[str] = field(default_factory=set)


def registries_conf_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The files read, in order (later ones override earlier ones)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    user_file = home / ".config" / "containers" / "registries.conf"
    user_drop_ins = home / ".config" / "containers" / "registries.conf.d"
    drop_in_dirs = [SYSTEM_DROP_INS, user_drop_ins]
    if env.get("CONTAINERS_REGISTRIES_CONF"):
        main = Path(env["CONTAINERS_REGISTRIES_CONF"])
    elif user_file.exists():
        main, drop_in_dirs = user_file, [user_drop_ins]
    else:
        main = SYSTEM_FILE
    files = [main]
    for directory in drop_in_dirs:
        if directory.is_dir():
            files += sorted(p for p in directory.iterdir() if p.suffix == ".conf")
    return files


def load_containers_registries(environ: Mapping[str, str] | None = None) -> ContainersRegistries:
    """Read every registries.conf file in order; missing files are skipped."""
    config = ContainersRegistries()
    for path in registries_conf_files(environ):
        try:
            doc = tomllib.loads(path.read_text())
        except FileNotFoundError:
            continue
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise RegistriesConfError(f"{path}: invalid TOML: {e}") from None
        _merge(config, doc, path)
    return config


def _merge(config: ContainersRegistries, doc: dict[str, Any], path: Path) -> None:
    if "unqualified-search-registries" in doc:
        search = doc["unqualified-search-registries"]
        if not isinstance(search, list) or not all(isinstance(r, str) for r in search):
            raise RegistriesConfError(f"{path}: unqualified-search-registries must be a list of strings")
        config.search = list(search)
    aliases = doc.get("aliases", {})
    if not isinstance(aliases, dict):
        raise RegistriesConfError(f"{path}: [aliases] must be a table")
    config.aliases.update({str(k): str(v) for k, v in aliases.items()})
    registries = doc.get("registry", [])
    if not isinstance(registries, list):
        raise RegistriesConfError(f"{path}: registry must be an array of tables ([[registry]])")
    for entry in registries:
        _merge_registry(config, entry, path)


def _merge_registry(config: ContainersRegistries, entry: Any, path: Path) -> None:
    if not isinstance(entry, dict):
        raise RegistriesConfError(f"{path}: a [[registry]] entry must be a table")
    prefix = str(entry.get("prefix") or entry.get("location") or "")
    location = str(entry.get("location") or prefix)
    if not prefix or "/" in prefix or location != prefix:
        raise RegistriesConfError(
            f"{path}: [[registry]] prefix {prefix!r} location {location!r}: podrun supports only a whole registry "
            "(host[:port]) as prefix, with no location rewrite"
        )
    host = DEFAULT_DOMAIN if prefix in ("index.docker.io", "registry-1.docker.io") else prefix
    # A later entry for the same prefix replaces the earlier one.
    config.insecure.discard(host)
    config.blocked.discard(host)
    if entry.get("insecure"):
        config.insecure.add(host)
    if entry.get("blocked"):
        config.blocked.add(host)
    mirrors = []
    for mirror in entry.get("mirror", []):
        if not isinstance(mirror, dict) or not isinstance(mirror.get("location"), str):
            raise RegistriesConfError(f"{path}: a [[registry.mirror]] of {prefix!r} needs a location")
        mirrors.append(mirror["location"])
        if mirror.get("insecure"):
            config.insecure.add(mirror["location"])
    config.mirrors[host] = mirrors


def is_short_name(image: str) -> bool:
    """True when `image` names no registry (`busybox`, `library/busybox:1`), as containers/image decides."""
    first, sep, _ = image.partition("/")
    return not sep or ("." not in first and ":" not in first and first != "localhost")


def resolve_short_name(image: str, search: list[str], aliases: Mapping[str, str]) -> list[Reference]:
    """The references to try for `image`, in order: its alias, else one per search registry, else Docker Hub.

    A fully qualified name, and a short name with no alias when no search registry is configured, is
    only itself (normalised as Docker does). Raises `InvalidReference` for a malformed name or alias.
    """
    if not is_short_name(image):
        return [parse(image)]
    ref = parse(image)  # validates, and splits off the tag and digest
    name = image.split("@", 1)[0]
    name = name.rsplit(":", 1)[0] if ref.tag and name.endswith(f":{ref.tag}") else name
    suffix = (f":{ref.tag}" if ref.tag else "") + (f"@{ref.digest}" if ref.digest else "")
    if name in aliases:
        try:
            return [parse(aliases[name] + suffix)]
        except InvalidReference as e:
            raise InvalidReference(f"short-name alias {name!r} = {aliases[name]!r}: {e}") from None
    if not search:
        return [ref]
    return [parse(f"{registry}/{name}{suffix}") for registry in search]
