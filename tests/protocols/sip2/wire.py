"""Helpers shared by the connection tests: frames as a peer sends them, one read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocols.sip2 import encode

if TYPE_CHECKING:
    from protocols.sip2 import (
        AcsConnection,
        AcsState,
        Event,
        Message,
        Pending,
        ScConnection,
        ScState,
    )


def frame(message: Message, sequence: int | None = None) -> bytes:
    """A frame as a peer writes it: with an AY/AZ trailer when a sequence is given."""
    return encode(message, sequence=sequence, error_detection=sequence is not None)


def receive(conn: AcsConnection | ScConnection, data: bytes) -> Event | Pending:
    """Feed bytes to a connection and return its next event."""
    conn.receive_data(data)
    return conn.next_event()


def state_of(conn: AcsConnection | ScConnection) -> AcsState | ScState:
    """The connection's state, read afresh (mypy would keep an attribute read narrowed)."""
    return conn.state
