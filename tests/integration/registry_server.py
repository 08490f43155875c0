"""Test helpers: Debian's `docker-registry` (CNCF distribution) on 127.0.0.1, a token issuer, test images.

`start_registry` runs a registry with its own storage on a free port, open, behind htpasswd basic auth,
or behind token auth served by `TokenServer` (a thread that signs JWTs with a throwaway key via the
`openssl` CLI). `build_layout` writes an OCI image layout whose one layer is busybox-static with a few
applet links, and `push` copies it into a registry with skopeo.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

REGISTRY_BINARY = "docker-registry"
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "echo", "ls", "cat", "sleep", "true")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
TOKEN_SERVICE = "podrun-test-registry"
TOKEN_ISSUER = "podrun-test-issuer"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bcrypt_htpasswd(users: dict[str, str]) -> str:
    """htpasswd lines with bcrypt hashes, the only kind distribution accepts.

    glibc's crypt(3) (libxcrypt) does bcrypt, which spares the tests apache2-utils or a bcrypt package.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    # Cost 4 (the minimum): the registry checks the hash on every request.
    salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)
    return "".join(f"{user}:{crypt.crypt(password, salt)}\n" for user, password in users.items())


class TokenServer:
    """A docker token issuer on 127.0.0.1 (`/token`), in a thread.

    Clients with valid basic credentials (GET) or a known refresh token (OAuth2 POST) get every action
    they ask for; anonymous clients get `pull` on repositories under `public/` and nothing elsewhere;
    wrong credentials get a 401. `requests` counts the token requests served.
    """

    def __init__(self, workdir: Path, users: dict[str, str], refresh_tokens: dict[str, str]) -> None:
        self.users = users
        self.refresh_tokens = refresh_tokens  # OAuth2 refresh token -> user
        self.requests = 0
        self.key = workdir / "token-key.pem"
        self.cert = workdir / "token-cert.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=podrun-test", "-keyout", str(self.key), "-out", str(self.cert)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.cert), "-outform", "DER"], check=True, capture_output=True
        ).stdout
        self._x5c = base64.b64encode(der).decode()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.realm = f"http://127.0.0.1:{self._server.server_address[1]}/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def sign(self, access: list[dict[str, Any]], subject: str) -> str:
        """A JWT that distribution's token auth accepts: RS256, the certificate in `x5c`."""
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": subject,
            "aud": TOKEN_SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
        ).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests += 1
                query = parse_qs(urlsplit(self.path).query)
                credentials = self._credentials()
                if credentials is not None and issuer.users.get(credentials[0]) != credentials[1]:
                    self._reply(401, {"details": "incorrect username or password"})
                    return
                user = credentials[0] if credentials else ""
                access = []
                for scope in query.get("scope", []):
                    kind, name, actions = scope.split(":")
                    if user or name.startswith("public/"):
                        granted = actions.split(",") if user else ["pull"]
                        access.append({"type": kind, "name": name, "actions": granted})
                token = issuer.sign(access, user)
                # Anonymous answers use `token`, authenticated ones `access_token`: clients must take both.
                self._reply(200, {"access_token" if user else "token": token, "expires_in": 300})

            def do_POST(self) -> None:
                issuer.requests += 1
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                user = issuer.refresh_tokens.get(form.get("refresh_token", [""])[0])
                if form.get("grant_type") != ["refresh_token"] or user is None:
                    self._reply(401, {"details": "invalid refresh token"})
                    return
                _, name, actions = form["scope"][0].split(":")
                token = issuer.sign(
                    [{"type": "repository", "name": name, "actions": actions.split(",")}], user
                )
                self._reply(200, {"access_token": token, "expires_in": 300})

            def _credentials(self) -> tuple[str, str] | None:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return user, password

            def _reply(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: pytest shows failures, not access logs."""

        return Handler


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class RegistryServer:
    """A running registry. `host` is `127.0.0.1:PORT`; stop it with `stop()`."""

    host: str
    storage: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        """The registry's base URL (plain HTTP)."""
        return f"http://{self.host}"

    def blob_file(self, digest: str) -> Path:
        """Where distribution's filesystem driver keeps a blob's bytes."""
        hexpart = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"

    def stop(self) -> None:
        """Terminate the registry process (by its PID) and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_registry(
    workdir: Path, *, htpasswd: dict[str, str] | None = None, token: TokenServer | None = None
) -> RegistryServer:
    """Start `docker-registry` on a free 127.0.0.1 port, storage under `workdir`; wait until it answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex},
    }
    if htpasswd is not None:
        (workdir / "htpasswd").write_text(bcrypt_htpasswd(htpasswd))
        config["auth"] = {"htpasswd": {"realm": "podrun-test", "path": str(workdir / "htpasswd")}}
    if token is not None:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(token.cert),
            }
        }
    (workdir / "config.yml").write_text(yaml.safe_dump(config))
    log = workdir / "registry.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(workdir / "config.yml")], stdout=out, stderr=subprocess.STDOUT
        )
    server = RegistryServer(f"127.0.0.1:{port}", workdir / "storage", process, log)
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {process.returncode}: {log.read_text()}")
        try:
            urllib.request.urlopen(f"{server.url}/v2/", timeout=1).close()
            return server
        except urllib.error.HTTPError:  # 401 from an auth-protected registry: it is up
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"docker-registry did not come up: {log.read_text()}") from None
            time.sleep(0.05)


@dataclass
class BuiltImage:
    """What `build_layout` wrote: digests to check a pull against."""

    layer_digest: str
    diff_id: str
    manifests: dict[str, str] = field(default_factory=dict)  # architecture -> manifest digest
    configs: dict[str, str] = field(default_factory=dict)  # architecture -> config digest
    index_digest: str | None = None


def _busybox_layer() -> bytes:
    """An uncompressed layer tar: /bin/busybox and links to it for a few applets."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directory = tarfile.TarInfo("bin")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(directory)
        data = BUSYBOX.read_bytes()
        binary = tarfile.TarInfo("bin/busybox")
        binary.mode, binary.size = 0o755, len(data)
        tar.addfile(binary, io.BytesIO(data))
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return out.getvalue()


def _write_blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256" / digest.split(":", 1)[1]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def build_layout(
    layout: Path, tag: str, platforms: Sequence[tuple[str, str]] = (("amd64", ""),), *, index: bool = False
) -> BuiltImage:
    """Write an OCI layout at `layout` holding one image under `tag`.

    `platforms` are (architecture, variant) pairs, each with its own config and manifest over the same
    busybox layer. With `index=True` (or several platforms) the tag names an image index listing them.
    """
    (layout / "blobs/sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    tar = _busybox_layer()
    layer = _write_blob(layout, gzip.compress(tar, mtime=0))
    image = BuiltImage(layer["digest"], "sha256:" + hashlib.sha256(tar).hexdigest())
    entries = []
    for architecture, variant in platforms:
        config_doc = {
            "created": "2024-01-01T00:00:00Z",
            "architecture": architecture,
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["sh"],
            },
            "rootfs": {"type": "layers", "diff_ids": [image.diff_id]},
        }
        if variant:
            config_doc["variant"] = variant
        config = _write_blob(layout, json.dumps(config_doc).encode())
        manifest_doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **config},
            "layers": [{"mediaType": OCI_LAYER_GZIP, **layer}],
        }
        manifest = _write_blob(layout, json.dumps(manifest_doc).encode())
        image.manifests[architecture] = manifest["digest"]
        image.configs[architecture] = config["digest"]
        wanted = {"architecture": architecture, "os": "linux"} | ({"variant": variant} if variant else {})
        entries.append({"mediaType": OCI_MANIFEST, **manifest, "platform": wanted})
    tagged = {"mediaType": OCI_MANIFEST, **{k: entries[0][k] for k in ("digest", "size")}}
    if index or len(entries) > 1:
        index_doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        tagged = {"mediaType": OCI_INDEX, **_write_blob(layout, json.dumps(index_doc).encode())}
        image.index_digest = tagged["digest"]
    tagged["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [tagged]}))
    return image


def push(layout: Path, tag: str, destination: str, *, credentials: tuple[str, str] | None = None) -> None:
    """Copy `oci:layout:tag` to `docker://destination` with skopeo, every platform of an index included."""
    command = ["skopeo", "--insecure-policy", "copy", "--all", "--quiet", "--dest-tls-verify=false"]
    if credentials is not None:
        command.append(f"--dest-creds={credentials[0]}:{credentials[1]}")
    result = subprocess.run(
        [*command, f"oci:{layout}:{tag}", f"docker://{destination}"], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"skopeo copy to {destination} failed: {result.stderr}")


def tools_missing() -> str | None:
    """Why the registry tests cannot run here, or None when they can."""
    for tool in (REGISTRY_BINARY, "skopeo", "openssl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not BUSYBOX.exists():
        return f"{BUSYBOX} (busybox-static) is not installed"
    return None
