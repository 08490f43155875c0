"""Docker credential helpers, run as the Docker CLI runs them: `docker-credential-NAME get`, server on stdin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from podrun.runtime.images.auth import AuthConfigError
from podrun.runtime.images.credential_helpers import helper_credentials


@pytest.fixture
def helper_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    return tmp_path


def helper(directory: Path, body: str) -> None:
    script = directory / "docker-credential-test"
    script.write_text(f"#!/bin/sh\nread server\n{body}\n")
    script.chmod(0o755)


def test_the_helper_is_given_the_server_and_its_username_and_secret_are_used(helper_dir: Path) -> None:
    helper(helper_dir, 'printf \'{"ServerURL":"%s","Username":"u-%s","Secret":"pw"}\' "$server" "$server"')
    found = helper_credentials("test", "reg.local:5000", "auth.json")
    assert found is not None and (found.username, found.password) == ("u-reg.local:5000", "pw")


def test_a_token_username_means_the_secret_is_an_identity_token(helper_dir: Path) -> None:
    helper(helper_dir, 'echo \'{"Username":"<token>","Secret":"refresh"}\'')
    found = helper_credentials("test", "reg.local", "auth.json")
    assert found is not None and found.identity_token == "refresh" and found.password == ""


def test_credentials_not_found_means_anonymous(helper_dir: Path) -> None:
    helper(helper_dir, "echo 'credentials not found in native keychain'; exit 1")
    assert helper_credentials("test", "reg.local", "auth.json") is None


def test_a_failing_helper_is_an_error_with_what_it_said(helper_dir: Path) -> None:
    helper(helper_dir, "echo 'keyring locked' >&2; exit 1")
    with pytest.raises(AuthConfigError, match=re.escape("docker-credential-test get reg.local: keyring locked")):
        helper_credentials("test", "reg.local", "auth.json")


def test_a_missing_helper_names_itself_and_the_file_naming_it(helper_dir: Path) -> None:
    with pytest.raises(AuthConfigError, match=re.escape("auth.json: credential helper docker-credential-none")):
        helper_credentials("none", "reg.local", "auth.json")
