"""The web UI's one-time login codes and the sessions they are exchanged for."""

from __future__ import annotations

from podrun.ui.sessions import CODE_SECONDS, SESSION_SECONDS, Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_code_is_exchanged_for_a_live_session() -> None:
    sessions = Sessions("admin")
    session = sessions.redeem_code(sessions.issue_code())
    assert session is not None and sessions.valid(session)


def test_a_code_works_once() -> None:
    sessions = Sessions("admin")
    code = sessions.issue_code()
    sessions.redeem_code(code)
    assert sessions.redeem_code(code) is None


def test_an_unknown_code_makes_no_session() -> None:
    assert Sessions("admin").redeem_code("guessed") is None


def test_a_code_expires_unused() -> None:
    clock = Clock()
    sessions = Sessions("admin", clock=clock)
    code = sessions.issue_code()
    clock.now += CODE_SECONDS
    assert sessions.redeem_code(code) is None


def test_a_session_expires() -> None:
    clock = Clock()
    sessions = Sessions("admin", clock=clock)
    session = sessions.redeem_code(sessions.issue_code())
    assert session is not None
    clock.now += SESSION_SECONDS
    assert not sessions.valid(session)


def test_only_the_admin_token_makes_a_session() -> None:
    sessions = Sessions("admin")
    assert sessions.redeem_token("someone-else") is None
    session = sessions.redeem_token("admin")
    assert session is not None and sessions.valid(session)


def test_a_server_without_a_token_takes_no_token_login() -> None:
    assert Sessions(None).redeem_token("") is None


def test_a_logged_out_session_is_no_longer_valid() -> None:
    sessions = Sessions("admin")
    session = sessions.redeem_code(sessions.issue_code())
    assert session is not None
    sessions.end(session)
    assert not sessions.valid(session)
