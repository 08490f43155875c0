"""Registry credentials (docker config.json, pull secrets) and WWW-Authenticate parsing."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from podrun.runtime.images.auth import AuthConfigError, Challenge, DockerAuth, parse_www_authenticate
from podrun.runtime.images.auth_files import AuthProvider, default_auth_files


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def config_bytes(auths: dict[str, dict[str, str]]) -> bytes:
    return json.dumps({"auths": auths}).encode()


# -- reading docker configs -----------------------------------------------------------------------------


def test_auth_field_is_decoded_into_user_and_password() -> None:
    [entry] = DockerAuth.from_dockerconfigjson(config_bytes({"quay.io": {"auth": b64("alice:pa:ss")}}))
    assert (entry.registry, entry.username, entry.password) == ("quay.io", "alice", "pa:ss")


def test_username_and_password_fields_are_read() -> None:
    [entry] = DockerAuth.from_dockerconfigjson(
        config_bytes({"quay.io": {"username": "bob", "password": "pw"}})
    )
    assert (entry.username, entry.password) == ("bob", "pw")


def test_identity_token_is_read() -> None:
    [entry] = DockerAuth.from_dockerconfigjson(config_bytes({"quay.io": {"identitytoken": "refresh-me"}}))
    assert entry.identity_token == "refresh-me"


def test_legacy_dockercfg_without_auths_key_is_read() -> None:
    data = json.dumps({"quay.io": {"auth": b64("alice:pw")}}).encode()
    [entry] = DockerAuth.from_dockerconfigjson(data)
    assert entry.username == "alice"


def test_entries_without_credentials_are_skipped() -> None:
    # `docker login` with a credential helper leaves such empty entries behind.
    assert DockerAuth.from_dockerconfigjson(config_bytes({"quay.io": {}})) == []


def test_auth_that_is_not_base64_is_rejected() -> None:
    with pytest.raises(AuthConfigError, match=re.escape("quay.io")):
        DockerAuth.from_dockerconfigjson(config_bytes({"quay.io": {"auth": "not base64!"}}))


def test_auth_without_a_colon_is_rejected() -> None:
    with pytest.raises(AuthConfigError, match="':'"):
        DockerAuth.from_dockerconfigjson(config_bytes({"quay.io": {"auth": b64("justuser")}}))


def test_invalid_json_is_rejected() -> None:
    with pytest.raises(AuthConfigError):
        DockerAuth.from_dockerconfigjson(b"{not json")


def test_password_is_not_in_the_repr() -> None:
    assert "hunter2" not in repr(DockerAuth("quay.io", "alice", "hunter2", "token-hunter2"))


def test_basic_authorization_header_encodes_user_and_password() -> None:
    assert DockerAuth("quay.io", "alice", "pw").basic_authorization() == "Basic " + b64("alice:pw")


# -- matching a registry ------------------------------------------------------------------------------------


def test_docker_hub_matches_the_index_key() -> None:
    provider = AuthProvider(
        auth_files=(), entries=[DockerAuth("https://index.docker.io/v1/", "alice", "pw")]
    )
    found = provider.lookup("docker.io")
    assert found is not None and found.username == "alice"


@pytest.mark.parametrize("key", ["registry-1.docker.io", "index.docker.io", "docker.io"])
def test_docker_hub_aliases_match_docker_io(key: str) -> None:
    provider = AuthProvider(auth_files=(), entries=[DockerAuth(key, "alice", "pw")])
    assert provider.lookup("docker.io") is not None


def test_key_with_scheme_and_path_matches_its_host() -> None:
    provider = AuthProvider(
        auth_files=(), entries=[DockerAuth("http://reg.local:5000/v2/", "alice", "pw")]
    )
    assert provider.lookup("reg.local:5000") is not None


def test_port_must_match() -> None:
    provider = AuthProvider(auth_files=(), entries=[DockerAuth("reg.local:5000", "alice", "pw")])
    assert provider.lookup("reg.local") is None


def test_exact_key_wins_over_same_host_key() -> None:
    entries = [DockerAuth("https://reg.local/", "other", "pw"), DockerAuth("reg.local", "exact", "pw")]
    found = AuthProvider(auth_files=(), entries=entries).lookup("reg.local")
    assert found is not None and found.username == "exact"


def test_extra_credentials_come_before_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(config_bytes({"quay.io": {"auth": b64("from-file:pw")}}))
    found = AuthProvider(auth_files=[path]).lookup(
        "quay.io", extra=[DockerAuth("quay.io", "from-secret", "pw")]
    )
    assert found is not None and found.username == "from-secret"


def test_unknown_registry_has_no_credentials() -> None:
    provider = AuthProvider(auth_files=(), entries=[DockerAuth("quay.io", "alice", "pw")])
    assert provider.lookup("ghcr.io") is None


# -- the config file ----------------------------------------------------------------------------------------


def test_auth_files_are_podmans_then_dockers() -> None:
    env = {"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"}
    assert default_auth_files(env) == [
        Path("/run/user/1000/containers/auth.json"),
        Path("/home/u/.config/containers/auth.json"),
        Path("/home/u/.docker/config.json"),
    ]


def test_docker_config_env_replaces_the_docker_file() -> None:
    assert default_auth_files({"HOME": "/home/u", "DOCKER_CONFIG": "/etc/dc"})[-1] == Path("/etc/dc/config.json")


def test_registry_auth_file_is_the_only_file_read_when_set() -> None:
    env = {"HOME": "/home/u", "REGISTRY_AUTH_FILE": "/tmp/auth.json", "XDG_RUNTIME_DIR": "/run/user/0"}
    assert default_auth_files(env) == [Path("/tmp/auth.json")]


def test_missing_config_file_means_anonymous(tmp_path: Path) -> None:
    assert AuthProvider(auth_files=[tmp_path / "absent.json"]).lookup("quay.io") is None


def test_config_file_is_reread_at_each_lookup(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    provider = AuthProvider(auth_files=[path])
    assert provider.lookup("quay.io") is None
    path.write_bytes(config_bytes({"quay.io": {"auth": b64("alice:pw")}}))
    assert provider.lookup("quay.io") is not None


def test_broken_config_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{broken")
    with pytest.raises(AuthConfigError, match=re.escape(str(path))):
        AuthProvider(auth_files=[path]).lookup("quay.io")


# -- WWW-Authenticate ---------------------------------------------------------------------------------------


def test_bearer_challenge_keeps_commas_inside_quoted_scope() -> None:
    header = 'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"'
    assert parse_www_authenticate([header]) == [
        Challenge(
            "bearer",
            {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull,push"},
        )
    ]


def test_several_challenges_in_one_header_are_separated() -> None:
    challenges = parse_www_authenticate(['Basic realm="basic", Bearer realm="https://a/token"'])
    assert [(c.scheme, c.params["realm"]) for c in challenges] == [
        ("basic", "basic"),
        ("bearer", "https://a/token"),
    ]


def test_challenges_from_several_headers_are_kept_in_order() -> None:
    challenges = parse_www_authenticate(['Basic realm="x"', 'Bearer realm="y"'])
    assert [c.scheme for c in challenges] == ["basic", "bearer"]


def test_escaped_quote_in_a_value_is_unescaped() -> None:
    [challenge] = parse_www_authenticate([r'Basic realm="say \"hi\""'])
    assert challenge.params["realm"] == 'say "hi"'


def test_unquoted_values_and_scheme_case_are_normalised() -> None:
    [challenge] = parse_www_authenticate(["BEARER Realm=https://a/token,service=reg"])
    assert challenge == Challenge("bearer", {"realm": "https://a/token", "service": "reg"})
