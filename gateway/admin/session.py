"""The console's browser sessions: signed, expiring cookies issued for a bearer token.

A browser cannot send ``Authorization: Bearer …`` with a page request, so the console
asks for one of the admin port's tokens once (``/login``) and hands back a session
cookie instead.  The cookie holds no secret and no identity: its expiry, a random
nonce and an HMAC-SHA256 over both under a key made at start (``secrets``), so it
cannot be forged, and every session ends when the gateway restarts.  Logging out
revokes the nonce until the cookie would have expired anyway.

The cookie is ``HttpOnly`` (no script reads it), ``Secure`` (browsers send it over
TLS, or to loopback) and ``SameSite=Strict`` (no other site's page makes a browser
send it, which is what keeps the console's few POST forms safe from cross-site
requests; they also check ``Origin``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["COOKIE", "SESSION_LIFETIME_S", "ConsoleSessions"]

COOKIE = "interlend_session"
"""The session cookie's name."""
SESSION_LIFETIME_S = 8 * 3600
"""How long a console session lasts: a working day at the desk."""
_VERSION = "v1"


class ConsoleSessions:
    """Issues and checks session cookies under one key.

    Args:
        key: The signing key (32 random bytes unless given: tests give one).
        lifetime_s: How long an issued session lasts.
        now: The wall clock, in seconds since the epoch (tests give a fake one).
    """

    def __init__(
        self,
        key: bytes | None = None,
        *,
        lifetime_s: float = SESSION_LIFETIME_S,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._lifetime_s = lifetime_s
        self._now = now
        self._revoked: dict[str, int] = {}

    @property
    def lifetime_s(self) -> float:
        """How long an issued session lasts, in seconds."""
        return self._lifetime_s

    def issue(self) -> str:
        """A new session cookie's value."""
        expires = int(self._now() + self._lifetime_s)
        nonce = secrets.token_urlsafe(16)
        return f"{_VERSION}.{expires}.{nonce}.{self._mac(expires, nonce)}"

    def valid(self, cookie: str | None) -> bool:
        """Whether ``cookie`` is a session this gateway issued, unexpired and not revoked."""
        opened = self._open(cookie)
        return opened is not None and opened[1] not in self._revoked

    def revoke(self, cookie: str | None) -> None:
        """End the session ``cookie`` holds (nothing happens for one that is not valid)."""
        opened = self._open(cookie)
        if opened is None:
            return
        now = self._now()
        self._revoked = {n: e for n, e in self._revoked.items() if e > now}
        expires, nonce = opened
        self._revoked[nonce] = expires

    def _open(self, cookie: str | None) -> tuple[int, str] | None:
        """The expiry and nonce of a well-signed, unexpired cookie, else ``None``."""
        if not cookie:
            return None
        parts = cookie.split(".")
        if len(parts) != 4 or parts[0] != _VERSION or not parts[1].isdigit():
            return None
        expires, nonce, mac = int(parts[1]), parts[2], parts[3]
        given = mac.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, self._mac(expires, nonce).encode("ascii")):
            return None
        if expires <= self._now():
            return None
        return expires, nonce

    def _mac(self, expires: int, nonce: str) -> str:
        signed = f"{_VERSION}.{expires}.{nonce}".encode()
        digest = hmac.new(self._key, signed, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
