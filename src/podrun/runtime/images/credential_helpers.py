"""Docker credential helpers (`credHelpers`, `credsStore`), run as the Docker CLI and Podman run them.

`docker-credential-<name> get` reads the server address on stdin and prints
`{"ServerURL": …, "Username": …, "Secret": …}`; a `Username` of `<token>` means the secret is an identity
(refresh) token. A helper that knows no credentials for the server says so and exits non-zero.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from podrun.runtime.images.auth import AuthConfigError, DockerAuth

HELPER_TIMEOUT = 60.0  # a helper may ask a keyring that prompts; do not wait forever
_NOT_FOUND = "credentials not found in native keychain"  # docker-credential-helpers' ErrCredentialsNotFound


def helper_credentials(helper: str, server: str, named_in: str) -> DockerAuth | None:
    """Ask `docker-credential-<helper>` for `server`'s credentials; None when it has none.

    Raises `AuthConfigError` when the helper is not on PATH, fails, or answers something unreadable;
    `named_in` (the config file naming the helper) goes into the message.
    """
    program = f"docker-credential-{helper}"
    executable = shutil.which(program)
    if executable is None:
        raise AuthConfigError(f"{named_in}: credential helper {program} not found on PATH")
    try:
        done = subprocess.run(
            [executable, "get"], input=server, capture_output=True, text=True, timeout=HELPER_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise AuthConfigError(f"{program} get {server}: no answer within {HELPER_TIMEOUT:.0f}s") from None
    if done.returncode != 0:
        said = (done.stdout.strip() or done.stderr.strip()).splitlines()[-1:] or [f"exit status {done.returncode}"]
        if _NOT_FOUND in said[0]:
            return None
        raise AuthConfigError(f"{program} get {server}: {said[0]}")
    try:
        answer = json.loads(done.stdout)
        username, secret = str(answer.get("Username") or ""), str(answer.get("Secret") or "")
    except (json.JSONDecodeError, AttributeError):
        raise AuthConfigError(f"{program} get {server}: the answer is not a JSON object") from None
    if not secret:
        return None
    if username == "<token>":
        return DockerAuth(server, identity_token=secret)
    return DockerAuth(server, username, secret)
