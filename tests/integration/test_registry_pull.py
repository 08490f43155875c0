"""Pulling from a real registry (Debian's docker-registry, CNCF distribution) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from registry_server import (
    BuiltImage,
    RegistryServer,
    TokenServer,
    build_layout,
    free_port,
    push,
    start_registry,
    tools_missing,
)

from podrun.runtime.images import registry as registry_module
from podrun.runtime.images.auth import DockerAuth
from podrun.runtime.images.auth_files import AuthProvider
from podrun.runtime.images.progress import ProgressEvent
from podrun.runtime.images.registry import PullError, RegistryConfig, pull_image
from podrun.runtime.images.store import ImageStore
from podrun.runtime.reference import Reference, parse

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="unpacking layers needs root"),
    pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing())),
]

USER, PASSWORD = "puller", "s3cret-pass"
REFRESH_TOKEN = "refresh-token-for-puller"


@dataclass
class Images:
    """A running registry and the images pushed to it."""

    server: RegistryServer
    busybox: BuiltImage  # test/busybox:1.0, one amd64 manifest
    multi: BuiltImage  # test/multi:1.0, an index of amd64 and arm64/v8
    foreign: BuiltImage  # test/foreign:1.0, an index of s390x only

    def ref(self, name: str) -> Reference:
        return parse(f"{self.server.host}/{name}")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    work = tmp_path_factory.mktemp("registry")
    busybox = build_layout(work / "busybox", "1.0")
    multi = build_layout(work / "multi", "1.0", [("amd64", ""), ("arm64", "v8")])
    foreign = build_layout(work / "foreign", "1.0", [("s390x", "")], index=True)
    server = start_registry(work / "server")
    try:
        push(work / "busybox", "1.0", f"{server.host}/test/busybox:1.0")
        push(work / "multi", "1.0", f"{server.host}/test/multi:1.0")
        push(work / "foreign", "1.0", f"{server.host}/test/foreign:1.0")
        yield Images(server, busybox, multi, foreign)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    work = tmp_path_factory.mktemp("basic")
    build_layout(work / "layout", "1.0")
    server = start_registry(work / "server", htpasswd={USER: PASSWORD})
    try:
        push(work / "layout", "1.0", f"{server.host}/private/busybox:1.0", credentials=(USER, PASSWORD))
        yield server
    finally:
        server.stop()


@dataclass
class TokenRegistry:
    server: RegistryServer
    issuer: TokenServer


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    work = tmp_path_factory.mktemp("token")
    build_layout(work / "layout", "1.0")
    issuer = TokenServer(work, {USER: PASSWORD}, {REFRESH_TOKEN: USER})
    try:
        server = start_registry(work / "server", token=issuer)
        try:
            for name in ("public/busybox", "private/busybox"):
                push(work / "layout", "1.0", f"{server.host}/{name}:1.0", credentials=(USER, PASSWORD))
            yield TokenRegistry(server, issuer)
        finally:
            server.stop()
    finally:
        issuer.stop()


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "store")


def insecure(*hosts: str, auth: AuthProvider | None = None) -> RegistryConfig:
    return RegistryConfig(insecure=set(hosts), auth=auth or AuthProvider(auth_files=()))


def docker_config(path: Path, host: str, user: str, password: str) -> AuthProvider:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {f"http://{host}": {"auth": auth}}}))
    return AuthProvider(auth_files=[path])


def assert_store_clean(store: ImageStore, ref: Reference) -> None:
    assert list(store.tmp.iterdir()) == []
    assert store.resolve(str(ref)) is None


# -- pulling --------------------------------------------------------------------------------------------


async def test_pull_by_tag_stores_the_image_unpacked_and_tagged(images: Images, store: ImageStore) -> None:
    ref = images.ref("test/busybox:1.0")
    record = await pull_image(store, ref, insecure(images.server.host))
    assert record.id == images.busybox.configs["amd64"]
    assert record.manifest_digest == images.busybox.manifests["amd64"]
    assert record.layers == [images.busybox.diff_id]
    assert record.layer_blobs == [images.busybox.layer_digest]
    assert record.repo_tags == [str(ref)]
    assert record.repo_digests == [f"{ref.repository}@{images.busybox.manifests['amd64']}"]
    assert (store.layer_path(images.busybox.diff_id) / "bin/busybox").is_file()
    assert (store.layer_path(images.busybox.diff_id) / "bin/sh").readlink() == Path("busybox")
    assert any(e.startswith("PATH=") for e in store.config(record).env)
    assert store.resolve(str(ref)) == record


async def test_pull_by_digest_records_a_repo_digest_and_no_tag(images: Images, store: ImageStore) -> None:
    digest = images.busybox.manifests["amd64"]
    ref = images.ref(f"test/busybox@{digest}")
    record = await pull_image(store, ref, insecure(images.server.host))
    assert record.repo_tags == []
    assert record.repo_digests == [f"{ref.repository}@{digest}"]
    assert store.resolve(str(ref)) == record


async def test_pull_reports_progress_up_to_each_blobs_size(images: Images, store: ImageStore) -> None:
    events: list[ProgressEvent] = []
    await pull_image(store, images.ref("test/busybox:1.0"), insecure(images.server.host), progress=events.append)
    last = {e.digest: e for e in events}
    assert set(last) == {images.busybox.layer_digest, images.busybox.configs["amd64"]}
    assert all(e.done == e.total > 0 for e in last.values())
    layer_events = [e.done for e in events if e.digest == images.busybox.layer_digest]
    assert layer_events == sorted(layer_events) and len(layer_events) > 1


async def test_second_pull_skips_blobs_already_stored(images: Images, store: ImageStore) -> None:
    config = insecure(images.server.host)
    await pull_image(store, images.ref("test/busybox:1.0"), config)
    events: list[ProgressEvent] = []
    await pull_image(store, images.ref("test/busybox:1.0"), config, progress=events.append)
    assert len(events) == 2 and all(e.done == e.total for e in events)


async def test_pull_of_an_index_picks_the_host_platform(images: Images, store: ImageStore) -> None:
    architecture = registry_module.host_architecture()
    if architecture not in images.multi.manifests:
        pytest.skip(f"the test index has no {architecture} image")
    record = await pull_image(store, images.ref("test/multi:1.0"), insecure(images.server.host))
    assert record.manifest_digest == images.multi.manifests[architecture]
    assert record.architecture == architecture
    assert record.repo_tags == [str(images.ref("test/multi:1.0"))]


async def test_pull_of_an_index_accepts_arm64_v8_on_arm64(
    images: Images, store: ImageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_module, "host_architecture", lambda: "arm64")
    record = await pull_image(store, images.ref("test/multi:1.0"), insecure(images.server.host))
    assert record.manifest_digest == images.multi.manifests["arm64"]


async def test_pull_of_an_index_without_the_host_platform_fails(images: Images, store: ImageStore) -> None:
    architecture = registry_module.host_architecture()
    if architecture == "s390x":
        pytest.skip("the foreign index is for this very architecture")
    with pytest.raises(PullError) as caught:
        await pull_image(store, images.ref("test/foreign:1.0"), insecure(images.server.host))
    assert caught.value.kind == "not_found"
    assert f"no matching manifest for linux/{architecture} in the manifest list entries" in str(caught.value)


async def test_mirror_answers_for_docker_io(images: Images, store: ImageStore) -> None:
    # The mirror holds test/busybox, so the pull ends there and docker.io is never contacted.
    ref = parse("docker.io/test/busybox:1.0")
    config = RegistryConfig(mirrors={"docker.io": [images.server.url]}, auth=AuthProvider(auth_files=()))
    record = await pull_image(store, ref, config)
    assert record.repo_tags == ["docker.io/test/busybox:1.0"]
    assert record.repo_digests == [f"docker.io/test/busybox@{images.busybox.manifests['amd64']}"]


async def test_unreachable_mirror_falls_back_to_the_registry(images: Images, store: ImageStore) -> None:
    config = insecure(images.server.host)
    config.mirrors = {images.server.host: [f"http://127.0.0.1:{free_port()}"]}
    record = await pull_image(store, images.ref("test/busybox:1.0"), config)
    assert record.id == images.busybox.configs["amd64"]


# -- failures -------------------------------------------------------------------------------------------


async def test_unknown_tag_is_not_found(images: Images, store: ImageStore) -> None:
    ref = images.ref("test/busybox:nope")
    with pytest.raises(PullError) as caught:
        await pull_image(store, ref, insecure(images.server.host))
    assert caught.value.kind == "not_found"
    assert str(caught.value) == f'failed to resolve reference "{ref}": {ref}: not found'


async def test_unknown_repository_is_not_found(images: Images, store: ImageStore) -> None:
    with pytest.raises(PullError) as caught:
        await pull_image(store, images.ref("test/nothing:1.0"), insecure(images.server.host))
    assert caught.value.kind == "not_found"


async def test_connection_refused_is_unreachable(store: ImageStore) -> None:
    host = f"127.0.0.1:{free_port()}"
    with pytest.raises(PullError) as caught:
        await pull_image(store, parse(f"{host}/test/busybox:1.0"), insecure(host), timeout=5)
    assert caught.value.kind == "unreachable"
    assert host in str(caught.value)


async def test_silent_server_is_a_timeout(store: ImageStore) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    host = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        with pytest.raises(PullError) as caught:
            await pull_image(store, parse(f"{host}/test/busybox:1.0"), insecure(host), timeout=1)
    finally:
        server.close()
    assert caught.value.kind == "timeout"


async def test_corrupt_blob_fails_with_digest_and_leaves_nothing(tmp_path: Path, store: ImageStore) -> None:
    image = build_layout(tmp_path / "layout", "1.0")
    server = start_registry(tmp_path / "server")
    try:
        push(tmp_path / "layout", "1.0", f"{server.host}/test/corrupt:1.0")
        blob = server.blob_file(image.layer_digest)
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size, so only the digest can tell
        blob.write_bytes(bytes(data))
        ref = parse(f"{server.host}/test/corrupt:1.0")
        with pytest.raises(PullError) as caught:
            await pull_image(store, ref, insecure(server.host))
    finally:
        server.stop()
    assert caught.value.kind == "digest"
    assert image.layer_digest in str(caught.value)
    assert not store.has_blob(image.layer_digest)
    assert_store_clean(store, ref)


# -- basic auth -----------------------------------------------------------------------------------------


async def test_basic_auth_uses_docker_config_credentials(
    basic_registry: RegistryServer, store: ImageStore, tmp_path: Path
) -> None:
    auth = docker_config(tmp_path / "config.json", basic_registry.host, USER, PASSWORD)
    ref = parse(f"{basic_registry.host}/private/busybox:1.0")
    record = await pull_image(store, ref, insecure(basic_registry.host, auth=auth))
    assert record.repo_tags == [str(ref)]


def credential_helper(directory: Path, name: str, host: str, user: str, password: str) -> None:
    """A `docker-credential-<name>` on PATH that knows `host` only (it must be asked for exactly that)."""
    script = directory / f"docker-credential-{name}"
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = get ] || exit 2\nread server\n'
        f'if [ "$server" = "{host}" ]; then\n'
        f'  printf \'{{"ServerURL":"%s","Username":"{user}","Secret":"{password}"}}\' "$server"\n'
        "else echo 'credentials not found in native keychain'; exit 1; fi\n"
    )
    script.chmod(0o755)


async def test_podman_auth_json_named_by_registry_auth_file_is_used(
    basic_registry: RegistryServer, store: ImageStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (tmp_path / "auth.json").write_text(json.dumps({"auths": {basic_registry.host: {"auth": auth}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    ref = parse(f"{basic_registry.host}/private/busybox:1.0")

    record = await pull_image(store, ref, RegistryConfig(insecure={basic_registry.host}))

    assert record.repo_tags == [str(ref)]


async def test_a_cred_helper_named_for_the_registry_supplies_the_credentials(
    basic_registry: RegistryServer, store: ImageStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential_helper(tmp_path, "test", basic_registry.host, USER, PASSWORD)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    (tmp_path / "auth.json").write_text(json.dumps({"credHelpers": {basic_registry.host: "test"}}))
    ref = parse(f"{basic_registry.host}/private/busybox:1.0")

    auth = AuthProvider(auth_files=[tmp_path / "auth.json"])
    record = await pull_image(store, ref, insecure(basic_registry.host, auth=auth))

    assert record.repo_tags == [str(ref)]


async def test_creds_store_is_asked_when_auths_has_no_credentials(
    basic_registry: RegistryServer, store: ImageStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential_helper(tmp_path, "test", basic_registry.host, USER, PASSWORD)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    # What `docker login` leaves with a credsStore: an empty entry in auths, the secret in the helper.
    config = {"auths": {basic_registry.host: {}}, "credsStore": "test"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    ref = parse(f"{basic_registry.host}/private/busybox:1.0")

    auth = AuthProvider(auth_files=[tmp_path / "config.json"])
    record = await pull_image(store, ref, insecure(basic_registry.host, auth=auth))

    assert record.repo_tags == [str(ref)]


async def test_a_missing_credential_helper_fails_the_pull_by_name(
    basic_registry: RegistryServer, store: ImageStore, tmp_path: Path
) -> None:
    (tmp_path / "auth.json").write_text(json.dumps({"credHelpers": {basic_registry.host: "absent"}}))
    ref = parse(f"{basic_registry.host}/private/busybox:1.0")

    auth = AuthProvider(auth_files=[tmp_path / "auth.json"])
    with pytest.raises(PullError) as caught:
        await pull_image(store, ref, insecure(basic_registry.host, auth=auth))

    assert caught.value.kind == "unauthorized"
    assert "credential helper docker-credential-absent not found on PATH" in str(caught.value)
    assert_store_clean(store, ref)


async def test_basic_auth_without_credentials_is_unauthorized(
    basic_registry: RegistryServer, store: ImageStore
) -> None:
    ref = parse(f"{basic_registry.host}/private/busybox:1.0")
    with pytest.raises(PullError) as caught:
        await pull_image(store, ref, insecure(basic_registry.host))
    assert caught.value.kind == "unauthorized"
    assert "authentication required" in str(caught.value)
    assert_store_clean(store, ref)


async def test_basic_auth_with_a_wrong_password_is_unauthorized(
    basic_registry: RegistryServer, store: ImageStore, tmp_path: Path
) -> None:
    auth = docker_config(tmp_path / "config.json", basic_registry.host, USER, "wrong")
    with pytest.raises(PullError) as caught:
        await pull_image(
            store,
            parse(f"{basic_registry.host}/private/busybox:1.0"),
            insecure(basic_registry.host, auth=auth),
        )
    assert caught.value.kind == "unauthorized"
    assert "authentication required" in str(caught.value)


async def test_pull_secret_takes_precedence_over_docker_config(
    basic_registry: RegistryServer, store: ImageStore, tmp_path: Path
) -> None:
    auth = docker_config(tmp_path / "config.json", basic_registry.host, USER, "wrong")
    secret = {"auths": {basic_registry.host: {"username": USER, "password": PASSWORD}}}
    extra = DockerAuth.from_dockerconfigjson(json.dumps(secret).encode())
    ref = parse(f"{basic_registry.host}/private/busybox:1.0")
    record = await pull_image(store, ref, insecure(basic_registry.host, auth=auth), extra_auth=extra)
    assert record.repo_tags == [str(ref)]


# -- token auth -----------------------------------------------------------------------------------------


async def test_bearer_anonymous_token_pulls_a_public_repository(
    token_registry: TokenRegistry, store: ImageStore
) -> None:
    ref = parse(f"{token_registry.server.host}/public/busybox:1.0")
    record = await pull_image(store, ref, insecure(token_registry.server.host))
    assert record.repo_tags == [str(ref)]


async def test_bearer_token_for_credentials_pulls_a_private_repository(
    token_registry: TokenRegistry, store: ImageStore
) -> None:
    ref = parse(f"{token_registry.server.host}/private/busybox:1.0")
    extra = [DockerAuth(token_registry.server.host, USER, PASSWORD)]
    record = await pull_image(store, ref, insecure(token_registry.server.host), extra_auth=extra)
    assert record.repo_tags == [str(ref)]


async def test_identity_token_is_exchanged_for_a_bearer_token(token_registry: TokenRegistry, store: ImageStore) -> None:
    ref = parse(f"{token_registry.server.host}/private/busybox:1.0")
    extra = [DockerAuth(token_registry.server.host, "<token>", identity_token=REFRESH_TOKEN)]
    record = await pull_image(store, ref, insecure(token_registry.server.host), extra_auth=extra)
    assert record.repo_tags == [str(ref)]


async def test_bearer_anonymous_token_is_unauthorized_for_a_private_repository(
    token_registry: TokenRegistry, store: ImageStore
) -> None:
    ref = parse(f"{token_registry.server.host}/private/busybox:1.0")
    with pytest.raises(PullError) as caught:
        await pull_image(store, ref, insecure(token_registry.server.host))
    assert caught.value.kind == "unauthorized"
    assert "server message" in str(caught.value)


async def test_bearer_token_server_refusing_credentials_is_unauthorized(
    token_registry: TokenRegistry, store: ImageStore
) -> None:
    ref = parse(f"{token_registry.server.host}/private/busybox:1.0")
    extra = [DockerAuth(token_registry.server.host, USER, "wrong")]
    with pytest.raises(PullError) as caught:
        await pull_image(store, ref, insecure(token_registry.server.host), extra_auth=extra)
    assert caught.value.kind == "unauthorized"
    assert "incorrect username or password" in str(caught.value)


async def test_bearer_token_is_reused_by_the_next_pull(token_registry: TokenRegistry, store: ImageStore) -> None:
    ref = parse(f"{token_registry.server.host}/public/busybox:1.0")
    config = insecure(token_registry.server.host)
    await pull_image(store, ref, config)
    issued = token_registry.issuer.requests
    await pull_image(store, ref, config)
    assert token_registry.issuer.requests == issued


# -- registries.conf: search registries, aliases, mirrors ---------------------------------------------------


def podrun_pull(tmp_path: Path, image: str, registries_conf: str) -> subprocess.CompletedProcess[str]:
    """`podrun image pull IMAGE` with `registries_conf` as the only registries.conf besides /etc's drop-ins."""
    (tmp_path / "registries.conf").write_text(registries_conf)
    env = os.environ | {"CONTAINERS_REGISTRIES_CONF": str(tmp_path / "registries.conf"), "HOME": str(tmp_path)}
    roots = ["--root", str(tmp_path / "root"), "--run-root", str(tmp_path / "run")]
    return subprocess.run(
        [sys.executable, "-m", "podrun.cli.main", "image", "pull", image, *roots],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def insecure_table(host: str) -> str:
    return f'[[registry]]\nlocation = "{host}"\ninsecure = true\n'


def test_a_short_name_is_pulled_from_the_first_search_registry_that_has_it(images: Images, tmp_path: Path) -> None:
    closed = f"127.0.0.1:{free_port()}"
    conf = f'unqualified-search-registries = ["{closed}", "{images.server.host}"]\n'
    conf += insecure_table(closed) + insecure_table(images.server.host)

    done = podrun_pull(tmp_path, "test/busybox:1.0", conf)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"{images.server.host}/test/busybox:1.0"


def test_a_short_name_alias_names_the_repository(images: Images, tmp_path: Path) -> None:
    conf = f'[aliases]\n"podrun-test-box" = "{images.server.host}/test/busybox"\n' + insecure_table(images.server.host)

    done = podrun_pull(tmp_path, "podrun-test-box:1.0", conf)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"{images.server.host}/test/busybox:1.0"


def test_a_registries_conf_mirror_serves_a_registry_podrun_never_contacts(images: Images, tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "registries.json").write_text(json.dumps({"no_upstream": ["mirrored.example"]}))
    conf = '[[registry]]\nlocation = "mirrored.example"\n'
    conf += f'[[registry.mirror]]\nlocation = "{images.server.host}"\ninsecure = true\n'

    done = podrun_pull(tmp_path, "mirrored.example/test/busybox:1.0", conf)

    assert done.returncode == 0, done.stderr
    assert ImageStore(tmp_path / "root").resolve("mirrored.example/test/busybox:1.0") is not None


def test_a_blocked_registry_is_not_pulled_from(images: Images, tmp_path: Path) -> None:
    conf = f'[[registry]]\nlocation = "{images.server.host}"\nblocked = true\n'

    done = podrun_pull(tmp_path, f"{images.server.host}/test/busybox:1.0", conf)

    assert done.returncode == 1
    assert f"registry {images.server.host} is blocked in registries.conf" in done.stderr
