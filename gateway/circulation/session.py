"""Who asks: a kiosk's connection, or an NCIP peer's message, and the patrons it verified.

A kiosk's ``Session`` lives as long as its TCP connection.  It holds the terminal
account the kiosk logged in with (which fixes its library and location) and the
patrons whose PIN the home library confirmed during this connection, so that a kiosk
that checks the PIN once (23 with AD, then 11 without) is not asked to send it again.
An NCIP message gets a session of its own, acting for the peer's library; a peer that
vouches for a patron (it authenticated them itself) marks them verified.  Verified
patrons are kept as keyed hashes and forgotten at 35 (end session) or when the
connection closes; nothing here is stored anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Session"]


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
        verified: Keyed hashes of patrons whose PIN the home library confirmed.
    """

    conn_id: str
    peer: str
    member: str | None = None
    login: str | None = None
    location: str | None = None
    staff: bool = False
    """The terminal is a staff desk (it may list a patron's loans without the PIN)."""
    verified: set[str] = field(default_factory=set)
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
