"""The API server's TLS files and token as `podrun serve` uses them, without loading `cryptography`.

Making and checking certificates (`podrun.api.tls`) needs `cryptography`, whose Rust extension and the Python
modules around it cost a long-running `podrun serve` ~10 MiB of resident memory it would never use again after
start-up. So `serve` has a short-lived child process (`python -m podrun.api.tls`) make or renew the files, and
only reads them itself: the token, the CA certificate for kubeconfigs, and the server's certificate and key for
its TLS contexts (the `ssl` module reads those).
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
TOKEN = "token"
# Making a CA and a server certificate takes well under a second; an interpreter start on a loaded machine more.
CHILD_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Credentials:
    """Where the CA, the server's certificate and key are, and the bearer token."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    token: str

    def ca_pem(self) -> bytes:
        """The CA certificate in PEM, for a kubeconfig's `certificate-authority-data`."""
        return self.ca_cert.read_bytes()


def read_credentials(directory: Path) -> Credentials:
    """The credentials already in `directory` (see `podrun.api.tls.ensure_credentials`)."""
    return Credentials(
        directory / CA_CERT, directory / SERVER_CERT, directory / SERVER_KEY, (directory / TOKEN).read_text().strip()
    )


def ensure_credentials_in_child(directory: Path, *, hostnames: Iterable[str] = ()) -> Credentials:
    """`podrun.api.tls.ensure_credentials` run by a child interpreter, so this process never loads `cryptography`.

    Raises OSError with the child's message when it fails.
    """
    # -P: the working directory is not put on the path (a root serve started beside a `podrun/` directory).
    command = [sys.executable, "-P", "-m", "podrun.api.tls", str(directory), *hostnames]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise OSError(
            f"making the API server's credentials in {directory} took over {CHILD_TIMEOUT_SECONDS:.0f} s"
        ) from None
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise OSError(f"making the API server's credentials in {directory} failed: {message[0]}")
    return read_credentials(directory)


def server_context(credentials: Credentials) -> ssl.SSLContext:
    """A server-side TLS context with the server's certificate and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(credentials.server_cert, credentials.server_key)
    return context
