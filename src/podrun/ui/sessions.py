"""The web UI's logins: one-time codes, and the browser sessions they are exchanged for.

`podrun dashboard` asks the API (with the admin token) for a code and hands the browser a URL carrying it in its
fragment, which the browser never sends; the page's script posts it once and gets a session cookie. So the token
never leaves the command line, and neither the code nor the session appears in a URL sent to the server.
Everything is in memory: a restarted server asks for a new login.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Where `podrun dashboard` asks the API server for a code.
LOGIN_CODES_PATH = "/ui/login-codes"
CODE_SECONDS = 120.0
# A working day: a tab left open keeps working, while a cookie that leaked (browsers send it to every port of the
# host) is good for hours, not days, and only for what the pages read (`podrun.ui.scope`). A restart ends all.
SESSION_SECONDS = 8 * 3600.0


@dataclass
class Sessions:
    """Codes (single use, `CODE_SECONDS`) and sessions (`SESSION_SECONDS`), each a random URL-safe secret."""

    token: str | None
    clock: Callable[[], float] = time.monotonic
    _codes: dict[str, float] = field(default_factory=dict)
    _sessions: dict[str, float] = field(default_factory=dict)

    def issue_code(self) -> str:
        """A new one-time login code."""
        self._forget_expired()
        code = secrets.token_urlsafe(24)
        self._codes[code] = self.clock() + CODE_SECONDS
        return code

    def redeem_code(self, code: str) -> str | None:
        """A new session for a valid, unused, unexpired code (which is used up); None otherwise."""
        self._forget_expired()
        if self._codes.pop(code, None) is None:
            return None
        return self._new_session()

    def redeem_token(self, token: str) -> str | None:
        """A new session for the server's admin token (a login form's); None for anything else."""
        if self.token is None or not hmac.compare_digest(token.encode(), self.token.encode()):
            return None
        return self._new_session()

    def valid(self, session: str) -> bool:
        """True for a live session."""
        expires = self._sessions.get(session)
        return expires is not None and expires > self.clock()

    def end(self, session: str) -> None:
        """Log a session out."""
        self._sessions.pop(session, None)

    def _new_session(self) -> str:
        session = secrets.token_urlsafe(32)
        self._sessions[session] = self.clock() + SESSION_SECONDS
        return session

    def _forget_expired(self) -> None:
        now = self.clock()
        for table in (self._codes, self._sessions):
            for key in [k for k, expires in table.items() if expires <= now]:
                del table[key]
