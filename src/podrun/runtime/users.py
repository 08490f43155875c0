"""Resolving the user a container runs as, from the image's USER and the pod's securityContext.

Names are looked up in the container's own /etc/passwd and /etc/group, read with every symlink
resolved inside the rootfs, so a hostile image cannot make podrun read a host file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from podrun.runtime.ocispec import User
from podrun.runtime.protocol import SecurityConfig


class UserError(ValueError):
    """The user cannot be resolved or breaks the runAsNonRoot policy (`CreateContainerConfigError`)."""


def resolve_in_root(root: Path, path: str, max_links: int = 40) -> Path:
    """`path` inside `root`, following symlinks as if `root` were `/`; never leaves `root`."""
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            links += 1
            if links > max_links:
                raise UserError(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def _read_db(root: Path, path: str) -> list[list[str]]:
    try:
        text = resolve_in_root(root, path).read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _lookup_user(root: Path, name: str) -> tuple[int, int] | None:
    for fields in _read_db(root, "/etc/passwd"):
        if len(fields) >= 4 and fields[0] == name:
            return int(fields[2]), int(fields[3])
    return None


def _lookup_uid(root: Path, uid: int) -> tuple[str, int] | None:
    for fields in _read_db(root, "/etc/passwd"):
        if len(fields) >= 4 and fields[2].isdigit() and int(fields[2]) == uid:
            return fields[0], int(fields[3])
    return None


def _lookup_group(root: Path, name: str) -> int | None:
    for fields in _read_db(root, "/etc/group"):
        if len(fields) >= 3 and fields[0] == name:
            return int(fields[2])
    return None


def _member_gids(root: Path, username: str) -> list[int]:
    gids = []
    for fields in _read_db(root, "/etc/group"):
        if len(fields) >= 4 and username in fields[3].split(","):
            gids.append(int(fields[2]))
    return gids


def image_uid(image_user: str, root: Path) -> int | str:
    """The UID the image's USER names, or the user name itself when it cannot be made numeric."""
    user = image_user.partition(":")[0]
    if not user:
        return 0
    if user.isdigit():
        return int(user)
    found = _lookup_user(root, user)
    return found[0] if found else user


def _quote(text: str) -> str:
    """Go's %q for the printable names the kubelet quotes."""
    return json.dumps(text)


def verify_run_as_non_root(
    security: SecurityConfig, run_as_non_root: bool, image_user: str, pod: str, container: str
) -> None:
    """The kubelet's verifyRunAsNonRoot, with its exact messages."""
    if not run_as_non_root:
        return
    if security.run_as_user is not None:
        if security.run_as_user == 0:
            raise UserError(
                f"container's runAsUser breaks non-root policy (pod: {_quote(pod)}, container: {container})"
            )
        return
    user = image_user.partition(":")[0]
    if user and not user.isdigit():
        raise UserError(
            f"container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is "
            f"non-root (pod: {_quote(pod)}, container: {container})"
        )
    if not user or int(user) == 0:
        raise UserError(
            f"container has runAsNonRoot and image will run as root (pod: {_quote(pod)}, container: {container})"
        )


def resolve_user(image_user: str, security: SecurityConfig, root: Path) -> User:
    """UID, GID and supplementary groups, as containerd computes them for a Kubernetes container.

    runAsUser/runAsGroup win over the image's USER; the user's groups from /etc/group are added,
    then the pod's supplementalGroups (which carry fsGroup too).
    """
    user_part, _, group_part = image_user.partition(":")
    username = ""
    if security.run_as_user is not None:
        uid = security.run_as_user
        known = _lookup_uid(root, uid)
        username, gid = known if known else ("", 0)
    elif not user_part:
        uid, gid, username = 0, 0, "root"
    elif user_part.isdigit():
        uid = int(user_part)
        known = _lookup_uid(root, uid)
        username, gid = known if known else ("", 0)
    else:
        found = _lookup_user(root, user_part)
        if found is None:
            raise UserError(f"unable to find user {user_part}: no matching entries in passwd file")
        (uid, gid), username = found, user_part
    if security.run_as_group is not None:
        gid = security.run_as_group
    elif group_part and security.run_as_user is None:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            found_gid = _lookup_group(root, group_part)
            if found_gid is None:
                raise UserError(f"unable to find group {group_part}: no matching entries in group file")
            gid = found_gid
    extra = _member_gids(root, username) if username else []
    extra += list(security.supplemental_groups)
    additional = tuple(dict.fromkeys(g for g in extra if g != gid))
    return User(uid, gid, additional)
