"""Who asks: a kiosk's connection, or an NCIP peer's message, and the patrons it verified.

A kiosk's ``Session`` lives as long as its TCP connection.  It holds the terminal
account the kiosk logged in with (which fixes its library and location) and the
patrons whose PIN the home library confirmed during this connection, so that a kiosk
that checks the PIN once (23 with AD, then 11 without) is not asked to send it again.
An NCIP message gets a session of its own, acting for the peer's library; a peer that
vouches for a patron (it authenticated them itself) marks them verified.  Verified
patrons are kept as keyed hashes and forgotten at 35 (end session) or when the
connection closes; nothing here is stored anywhere else.

A connection lives as long as the kiosk stays logged in (all day), and not every kiosk
ends each patron's session with 35: a session remembers at most ``VERIFIED_PER_SESSION``
patrons, the most recently verified, and forgets the oldest beyond that.  A patron
forgotten so is only asked for the PIN again (or has it checked at home once more).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["VERIFIED_PER_SESSION", "Session", "VerifiedPatrons"]

VERIFIED_PER_SESSION = 8
"""The patrons a session remembers as verified (the most recent ones)."""


class VerifiedPatrons:
    """The keyed hashes of a session's verified patrons: a set that keeps the ``bound``
    most recently added and forgets the oldest beyond them."""

    __slots__ = ("_bound", "_keys")

    def __init__(self, bound: int = VERIFIED_PER_SESSION) -> None:
        if bound < 1:
            raise ValueError("bound: at least 1")
        self._bound = bound
        self._keys: dict[str, None] = {}

    def add(self, key: str) -> None:
        """Remember ``key`` as the most recent (forgetting the oldest over the bound)."""
        self._keys.pop(key, None)
        self._keys[key] = None
        if len(self._keys) > self._bound:
            del self._keys[next(iter(self._keys))]

    def discard(self, key: str) -> None:
        """Forget ``key`` if it is remembered."""
        self._keys.pop(key, None)

    def clear(self) -> None:
        """Forget every patron (a new login on the connection)."""
        self._keys.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)


@dataclass
class Session:
    """A kiosk connection's (or an NCIP message's) identity and per-patron state.

    Attributes:
        conn_id: A short id for the connection, used in every log line.
        peer: The kiosk's address.
        member: The library the kiosk acts for (``None`` until it logs in, unless the
            listener fixes it).
        login: The terminal login (CN) it used.
        location: The terminal's location code.
        staff: The terminal is configured as a staff desk.
        verified: Keyed hashes of patrons whose PIN the home library confirmed (the
            last ``VERIFIED_PER_SESSION``).
    """

    conn_id: str
    peer: str
    member: str | None = None
    login: str | None = None
    location: str | None = None
    staff: bool = False
    """The terminal is a staff desk (it may list a patron's loans without the PIN)."""
    verified: VerifiedPatrons = field(default_factory=VerifiedPatrons)
    touched: float | None = None
    """When the session was last recorded in the state store (trio time; None: never)."""

    @property
    def address(self) -> str:
        """The kiosk's address without its port (``"?"`` when unknown)."""
        host, _, port = self.peer.rpartition(":")
        return host if host and port.isdigit() else self.peer

    @property
    def name(self) -> str:
        """The terminal's name for logs and idempotency keys."""
        return self.login or f"port:{self.member}"
