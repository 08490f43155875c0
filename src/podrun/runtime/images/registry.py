"""Pulling images from OCI distribution registries (the Docker Registry HTTP API v2).

A pull resolves the reference to a manifest (choosing this machine's platform from an index), fetches
the config and layer blobs it names into the image store, each verified against its digest on the way
in, and commits the image. Endpoints are tried in order: the registry's mirrors, then the registry
itself; a registry listed as insecure is tried over HTTPS without certificate checks, then plain HTTP,
as Docker does. Failures surface as `PullError`, whose `kind` the kubelet maps to its pull errors and
whose message is what it shows in `ErrImagePull`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from podrun.runtime.images.auth import AuthConfigError, Challenge, DockerAuth, parse_www_authenticate
from podrun.runtime.images.endpoints import (
    Endpoint,
    PullError,
    PullErrorKind,
    endpoints,
    first_failure,
    refusal,
)
from podrun.runtime.images.layers import LayerError
from podrun.runtime.images.progress import ProgressEvent
from podrun.runtime.images.registry_config import RegistryConfig
from podrun.runtime.images.store import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MEDIA_DOCKER_LIST,
    MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
    DigestMismatch,
    ImageRecord,
    ImageStore,
    ImageStoreError,
    sha256_hex,
)
from podrun.runtime.images.trust import Trust
from podrun.runtime.reference import Reference, is_digest

DEFAULT_TIMEOUT = 30.0
CONCURRENT_DOWNLOADS = 3
MAX_MANIFEST_BYTES = 4 << 20  # containerd's limit; real manifests are a few KiB
_CHUNK = 1 << 16
_MANIFEST_ACCEPT = ", ".join((MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST, MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST))
CONFIG_TYPES = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    }
)
# Docker's names for what `uname -m` prints, where they differ.
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "i386": "386"}
_DENIED = "pull access denied, repository does not exist or may require authorization"


def host_architecture() -> str:
    """This machine's architecture as image platforms name it (`amd64`, `arm64`, ...)."""
    machine = platform.machine()
    return _ARCHITECTURES.get(machine, machine)


class _TokenCache:
    """Bearer tokens by (endpoint, repository, credentials), kept until shortly before they expire."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}

    def get(self, key: tuple[str, str, str]) -> str | None:
        token, expires = self._tokens.get(key, ("", 0.0))
        return token if expires > time.monotonic() else None

    def put(self, key: tuple[str, str, str], token: str, lifetime: float) -> None:
        now = time.monotonic()
        self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
        # A margin, so a token is not sent just as it runs out.
        self._tokens[key] = (token, now + max(lifetime - 10, 1))

    def drop(self, key: tuple[str, str, str]) -> None:
        self._tokens.pop(key, None)


_TOKENS = _TokenCache()


def _credential_id(credentials: DockerAuth | None) -> str:
    # Tokens are cached per credential so that a pod without a pull secret never gets a token that
    # another pod's secret paid for.
    if credentials is None:
        return ""
    secret = f"{credentials.username}\0{credentials.password}\0{credentials.identity_token}"
    return hashlib.sha256(secret.encode()).hexdigest()


@contextlib.contextmanager
def _network_errors(what: str, method: str, url: str, timeout: float) -> Iterator[None]:
    """Turn aiohttp's connection and timeout errors into `PullError`s."""
    try:
        yield
    except TimeoutError as e:  # aiohttp's ServerTimeoutError is a TimeoutError as well as a ClientError
        raise PullError("timeout", f"{what}: {method} {url}: no answer within {timeout:g}s") from e
    except aiohttp.ClientConnectorError as e:
        # aiohttp's own text names the TLS context ("ssl:<ssl.SSLContext object at 0x…>") since pulls bring their
        # own (`trust`): what failed is the connection, and that is what an event shows.
        reason = e.strerror or e.os_error
        raise PullError(
            "unreachable", f"{what}: failed to do request: {method} {url}: Cannot connect to host {e.host}:{e.port} "
            f"[{reason}]",
        ) from e
    except aiohttp.ClientError as e:
        raise PullError("unreachable", f"{what}: failed to do request: {method} {url}: {e}") from e


async def _read_limited(response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise PullError("invalid", f"{what}: larger than {limit} bytes")
    return bytes(body)


async def _error_message(response: aiohttp.ClientResponse) -> str:
    """The registry's own explanation of an error response, as `code: message` like containerd prints it."""
    fallback = f"{response.status} {response.reason or ''}".strip()
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        body = await response.content.read(1 << 16)
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return body.decode(errors="replace").strip()[:300] or fallback
        if isinstance(doc, dict):
            errors = doc.get("errors")
            if isinstance(errors, list) and errors:
                parts = [
                    f"{str(e.get('code', '')).lower()}: {e.get('message', '')}".strip(": ")
                    for e in errors
                    if isinstance(e, dict)
                ]
                return "; ".join(p for p in parts if p) or fallback
            for key in ("details", "message", "error_description", "error"):
                if isinstance(doc.get(key), str) and doc[key]:
                    return str(doc[key])
    return fallback


def _status_kind(status: int) -> PullErrorKind:
    if status in (401, 403):
        return "unauthorized"
    if status == 404:
        return "not_found"
    if status == 429 or status >= 500:
        return "unreachable"
    return "invalid"


def select_platform(manifests: Sequence[dict[str, Any]], architecture: str) -> dict[str, Any] | None:
    """The first index entry for linux on `architecture` (arm64 without a variant or as `v8`)."""
    for entry in manifests:
        wanted = entry.get("platform") or {}
        if wanted.get("os") != "linux" or wanted.get("architecture") != architecture:
            continue
        if architecture == "arm64" and wanted.get("variant", "") not in ("", "v8"):
            continue
        return entry
    return None


def _descriptor(doc: Any, what: str) -> tuple[str, int]:
    if not isinstance(doc, dict) or not isinstance(doc.get("size"), int) or doc["size"] < 0:
        raise PullError("invalid", f"{what}: malformed descriptor {doc!r}")
    if not is_digest(str(doc.get("digest", ""))):
        raise PullError("invalid", f"{what}: unsupported digest {doc.get('digest')!r}")
    return doc["digest"], doc["size"]


class _Puller:
    """One pull attempt against one endpoint."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        store: ImageStore,
        ref: Reference,
        endpoint: Endpoint,
        credentials: DockerAuth | None,
        insecure: set[str],
        trust: Trust,
        timeout: float,
        progress: Callable[[ProgressEvent], None] | None,
    ) -> None:
        self._http = http
        self._store = store
        self._ref = ref
        self._endpoint = endpoint
        self._credentials = credentials
        self._insecure = insecure
        self._trust = trust
        self._timeout = timeout
        self._progress = progress
        self._repo_url = f"{endpoint.base}/v2/{ref.path}"
        self._token_key = (endpoint.base, ref.path, _credential_id(credentials))
        token = _TOKENS.get(self._token_key)
        self._authorization = f"Bearer {token}" if token else None

    async def pull(self) -> ImageRecord:
        manifest = await self._resolve()
        doc = json.loads(manifest)
        what = f'failed to pull "{self._ref}"'
        if doc.get("config", {}).get("mediaType") not in CONFIG_TYPES:
            raise PullError(
                "invalid", f"{what}: not a container image (config type {doc['config'].get('mediaType')!r})"
            )
        blobs = [_descriptor(doc["config"], what)]
        for layer in doc["layers"]:
            blobs.append(_descriptor(layer, what))
            if layer.get("mediaType") not in LAYER_TYPES:
                raise PullError("invalid", f"{what}: unsupported layer media type {layer.get('mediaType')!r}")
        await self._fetch_blobs(dict(blobs))
        tags = [self._ref] if self._ref.tag and not self._ref.digest else []
        try:
            # Unpacking is slow disk work; a thread keeps the event loop (other pods' pulls) going.
            return await asyncio.to_thread(self._store.commit, manifest, tags, self._ref)
        except DigestMismatch as e:
            raise PullError("digest", f"{what}: {e}") from None
        except (ImageStoreError, LayerError) as e:
            raise PullError("invalid", f"{what}: {e}") from None

    # -- requests ------------------------------------------------------------------------------------

    async def _send(self, url: str, headers: dict[str, str], what: str) -> aiohttp.ClientResponse:
        sent = dict(headers)
        if self._authorization:
            sent["Authorization"] = self._authorization
        with _network_errors(what, "GET", url, self._timeout):
            return await self._http.get(url, headers=sent, ssl=self._trust.ssl_for(url, self._endpoint.verify_tls))

    async def _get(self, url: str, headers: dict[str, str], what: str) -> aiohttp.ClientResponse:
        """GET with the registry's auth dance: on 401 answer its challenge once and retry."""
        response = await self._send(url, headers, what)
        if response.status != 401:
            return response
        challenges = parse_www_authenticate(response.headers.getall("WWW-Authenticate", []))
        message = await _error_message(response)
        response.release()
        # A cached token that is refused has expired early or lacks the scope: never reuse it.
        _TOKENS.drop(self._token_key)
        self._authorization = await self._authorize(challenges, what)
        if self._authorization is None:
            raise PullError("unauthorized", f"{what}: {_DENIED}: server message: {message}")
        return await self._send(url, headers, what)

    async def _authorize(self, challenges: list[Challenge], what: str) -> str | None:
        """An Authorization header value answering the challenges, or None when there is no way to."""
        bearer = next((c for c in challenges if c.scheme == "bearer" and c.params.get("realm")), None)
        if bearer is not None:
            token, lifetime = await self._fetch_token(bearer.params, what)
            _TOKENS.put(self._token_key, token, lifetime)
            return f"Bearer {token}"
        if any(c.scheme == "basic" for c in challenges) and self._credentials and self._credentials.username:
            return self._credentials.basic_authorization()
        return None

    async def _fetch_token(self, challenge: dict[str, str], what: str) -> tuple[str, float]:
        """A pull token from the challenge's realm: anonymous, with basic auth, or by OAuth2 refresh."""
        realm = challenge["realm"]
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https"):
            raise PullError("invalid", f"{what}: unsupported auth realm {realm!r}")
        query = {"scope": f"repository:{self._ref.path}:pull"}
        if challenge.get("service"):
            query["service"] = challenge["service"]
        creds = self._credentials
        tls = self._trust.ssl_for(realm, parts.netloc not in self._insecure)
        method = "POST" if creds and creds.identity_token else "GET"
        with _network_errors(f"{what}: failed to authorize", method, realm, self._timeout):
            if creds and creds.identity_token:
                form = {**query, "grant_type": "refresh_token", "refresh_token": creds.identity_token}
                response = await self._http.post(realm, data={**form, "client_id": "podrun"}, ssl=tls)
            else:
                headers = {"Authorization": creds.basic_authorization()} if creds and creds.username else {}
                response = await self._http.get(realm, params=query, headers=headers, ssl=tls)
            try:
                if response.status != 200:
                    message = await _error_message(response)
                    flavour = "anonymous" if creds is None else "oauth"
                    raise PullError(
                        _status_kind(response.status),
                        f"{what}: failed to authorize: failed to fetch {flavour} token: unexpected status "
                        f"from {method} request to {realm}: {response.status} {response.reason}: {message}",
                    )
                doc = json.loads(await _read_limited(response, MAX_MANIFEST_BYTES, f"{what}: token response"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise PullError("invalid", f"{what}: failed to authorize: the token is not JSON") from None
            finally:
                response.release()
        token = (doc.get("token") or doc.get("access_token")) if isinstance(doc, dict) else None
        if not isinstance(token, str):
            raise PullError("invalid", f"{what}: failed to authorize: no token in the response from {realm}")
        expires_in = doc.get("expires_in")
        # The token spec says 60 seconds when the server does not say.
        return token, float(expires_in) if isinstance(expires_in, int | float) else 60.0

    async def _raise_for_status(self, response: aiohttp.ClientResponse, what: str, not_found: str) -> None:
        if response.status == 200:
            return
        if response.status == 404:
            raise PullError("not_found", not_found)
        message = await _error_message(response)
        prefix = f"{what}: {_DENIED}: server message" if response.status in (401, 403) else what
        raise PullError(_status_kind(response.status), f"{prefix}: {message}")

    # -- manifests -----------------------------------------------------------------------------------

    async def _fetch_manifest(self, reference: str, what: str, not_found: str) -> tuple[bytes, dict[str, Any]]:
        """A manifest or index by tag or digest, checked against its digest, with its parsed body."""
        url = f"{self._repo_url}/manifests/{reference}"
        response = await self._get(url, {"Accept": _MANIFEST_ACCEPT}, what)
        try:
            await self._raise_for_status(response, what, not_found)
            with _network_errors(what, "GET", url, self._timeout):
                body = await _read_limited(response, MAX_MANIFEST_BYTES, f"{what}: manifest")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            announced = response.headers.get("Docker-Content-Digest", "")
        finally:
            response.release()
        # A digest we asked for must match; the registry's header is checked too, which catches a
        # truncated or altered body when pulling by tag.
        expected = reference if is_digest(reference) else announced
        actual = sha256_hex(body)
        if is_digest(expected) and actual != expected:
            raise PullError("digest", f"{what}: manifest digest mismatch: expected {expected}, got {actual}")
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise PullError("invalid", f"{what}: the manifest is not JSON") from None
        if not isinstance(doc, dict):
            raise PullError("invalid", f"{what}: the manifest is not a JSON object")
        if doc.get("schemaVersion") != 2:
            version = doc.get("schemaVersion")
            raise PullError("invalid", f"{what}: unsupported manifest schema version {version!r}")
        doc.setdefault("mediaType", content_type)
        return body, doc

    async def _resolve(self) -> bytes:
        """The bytes of this platform's image manifest, going through an index if the reference names one."""
        what = f'failed to resolve reference "{self._ref}"'
        body, doc = await self._fetch_manifest(
            self._ref.digest or self._ref.tag or "latest", what, f"{what}: {self._ref}: not found"
        )
        if doc["mediaType"] in INDEX_TYPES or "manifests" in doc:
            architecture = host_architecture()
            entries = [m for m in doc.get("manifests") or [] if isinstance(m, dict)]
            entry = select_platform(entries, architecture)
            if entry is None:
                raise PullError(
                    "not_found",
                    f"{what}: no matching manifest for linux/{architecture} in the manifest list entries",
                )
            digest, _ = _descriptor(entry, what)
            child = f'failed to fetch manifest {digest} of "{self._ref}"'
            body, doc = await self._fetch_manifest(digest, child, f"{child}: not found")
        if doc["mediaType"] not in MANIFEST_TYPES and not ("config" in doc and "layers" in doc):
            raise PullError("invalid", f"{what}: unsupported manifest media type {doc['mediaType']!r}")
        if not isinstance(doc.get("config"), dict) or not isinstance(doc.get("layers"), list):
            raise PullError("invalid", f"{what}: the manifest has no config or layers")
        return body

    # -- blobs ---------------------------------------------------------------------------------------

    async def _fetch_blobs(self, blobs: dict[str, int]) -> None:
        """Fetch every blob not yet stored, a few at a time; on the first failure stop the others."""
        limit = asyncio.Semaphore(CONCURRENT_DOWNLOADS)

        async def fetch(digest: str, size: int) -> None:
            async with limit:
                await self._fetch_blob(digest, size)

        for digest, size in blobs.items():
            # Every download up front, so that an observer knows the whole size before the first one ends.
            if not self._store.has_blob(digest):
                self._report(digest, 0, size)
        tasks = [asyncio.create_task(fetch(digest, size)) for digest, size in blobs.items()]
        try:
            await asyncio.gather(*tasks)
        finally:
            # Cancelled downloads clean up their partial files in the store's blob writer.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _report(self, digest: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(ProgressEvent(digest, done, total))

    async def _fetch_blob(self, digest: str, size: int) -> None:
        if self._store.has_blob(digest):
            self._report(digest, size, size)
            return
        what = f'failed to fetch blob {digest} of "{self._ref}"'
        url = f"{self._repo_url}/blobs/{digest}"
        # Registries commonly redirect blob GETs to object storage; aiohttp follows, and drops our
        # Authorization header when the redirect leaves the registry's origin.
        response = await self._get(url, {}, what)
        try:
            await self._raise_for_status(response, what, f"{what}: not found")
            done = 0
            with self._store.blob_writer(digest) as writer, _network_errors(what, "GET", url, self._timeout):
                async for chunk in response.content.iter_chunked(_CHUNK):
                    done += len(chunk)
                    if done > size:
                        raise PullError("digest", f"{what}: more than the {size} bytes its descriptor gives")
                    writer.write(chunk)
                    self._report(digest, done, size)
                if done != size:
                    raise PullError("digest", f"{what}: got {done} bytes, its descriptor gives {size}")
        except DigestMismatch as e:
            raise PullError("digest", f"{what}: {e}") from None
        finally:
            response.release()


async def pull_image(
    store: ImageStore,
    ref: Reference,
    config: RegistryConfig,
    *,
    progress: Callable[[ProgressEvent], None] | None = None,
    extra_auth: Sequence[DockerAuth] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> ImageRecord:
    """Pull `ref` into `store` and return the committed image record.

    Mirrors configured for the reference's domain are tried first (any failure there moves on to the
    next endpoint); the registry itself comes last. `extra_auth` (a pod's pull secrets) takes precedence
    over `config.auth`. `timeout` bounds connecting and each wait for data, not the whole download, so
    big layers on slow links still finish while a registry that stops answering fails the pull.
    A reference with a tag is tagged in the store; one with a digest gets only a repo digest.

    Raises `PullError`; nothing unverified or half-written is left in the store.
    """
    refused = refusal(ref, config)
    if refused is not None:
        raise refused
    client_timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
    trust = Trust()
    async with aiohttp.ClientSession(timeout=client_timeout) as http:
        error: PullError | None = None
        for endpoint in endpoints(ref.domain, config):
            try:
                # A credential helper is a program that may take a while: keep the event loop free.
                credentials = await asyncio.to_thread(config.auth.lookup, endpoint.host, extra_auth)
            except AuthConfigError as e:
                raise PullError("unauthorized", f"reading credentials for {endpoint.host}: {e}") from None
            puller = _Puller(http, store, ref, endpoint, credentials, config.insecure, trust, timeout, progress)
            try:
                return await puller.pull()
            except PullError as e:
                # A mirror may fail for any reason; the registry's HTTPS endpoint falls back to HTTP
                # only when nothing answered there.
                if not (endpoint.mirror or e.kind == "unreachable"):
                    raise
                error = e
        assert error is not None  # `refusal` saw at least one endpoint
        raise error


async def pull_first(
    store: ImageStore,
    candidates: Sequence[Reference],
    config: RegistryConfig,
    *,
    progress: Callable[[ProgressEvent], None] | None = None,
    extra_auth: Sequence[DockerAuth] = (),
) -> ImageRecord:
    """Pull the first of `candidates` (a short name's resolutions, `RegistryConfig.candidates`) that pulls.

    One candidate fails as `pull_image` does; when every one of several fails, the error lists each.
    """
    errors: list[PullError] = []
    for ref in candidates:
        try:
            return await pull_image(store, ref, config, progress=progress, extra_auth=extra_auth)
        except PullError as e:
            errors.append(e)
    raise first_failure(candidates, errors)
