"""The token check for browsers: a login form that sets a session cookie.

API clients send `Authorization: Bearer <KHABAR_TOKEN>`; a browser cannot on a plain link, so
`POST /login` with the token sets `khabar_session`, an HMAC of the token (the token itself is
never stored in the browser), HttpOnly and SameSite=Strict. Without a token there is no login:
the server is then read-only and login-free, which `khabar serve` allows on loopback only.
"""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import CookieError, SimpleCookie

SESSION_COOKIE = "khabar_session"
SESSION_DAYS = 30


def session_value(token: bytes) -> str:
    return hmac.new(token, b"khabar-session-v1", hashlib.sha256).hexdigest()


def authorized(headers: dict[bytes, bytes], token: bytes) -> bool:
    """A right bearer token, or the session cookie that the login set."""
    scheme, _, value = headers.get(b"authorization", b"").partition(b" ")
    if scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), token):
        return True
    raw = headers.get(b"cookie", b"").decode("latin-1")
    if SESSION_COOKIE not in raw:
        return False
    cookie = SimpleCookie()
    try:
        cookie.load(raw)
    except CookieError:  # a malformed Cookie header is just not a session
        return False
    morsel = cookie.get(SESSION_COOKIE)
    return morsel is not None and hmac.compare_digest(morsel.value, session_value(token))


def login_cookie(token: bytes, secure: bool) -> str:
    flags = "; Secure" if secure else ""
    return (
        f"{SESSION_COOKIE}={session_value(token)}; Path=/; HttpOnly; SameSite=Strict; "
        f"Max-Age={SESSION_DAYS * 86400}{flags}"
    )


def logout_cookie() -> str:
    return f"{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this server only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target
