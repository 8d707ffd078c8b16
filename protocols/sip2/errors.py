"""Errors raised by the SIP2 codec.

The tree follows the h11 convention::

    ProtocolError                 base class, never raised itself
    ├── LocalProtocolError        our own code misused the API (a bug on this side)
    └── RemoteProtocolError       the peer sent something illegal

A ``RemoteProtocolError`` carries a ``reason`` (what was wrong) and a ``response_hint``
(what the protocol says to answer): ask the peer to resend (``96`` for an ACS, ``97`` for
an SC), ignore the frame (an unknown command, a message meant for the other side), or
give up on the connection.  ``AcsConnection`` answers every frame it cannot read with
96, an unknown command included: the SC is waiting for an answer.  Decoding
arbitrary bytes never raises anything but ``RemoteProtocolError``.
"""

from __future__ import annotations

import enum

__all__ = [
    "FrameError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "ResponseHint",
]


class ResponseHint(enum.Enum):
    """What the receiving side should answer to a frame it could not accept."""

    REQUEST_RESEND = "request-resend"
    """Ask the peer to send the frame again (an ACS answers 96, an SC sends 97)."""

    IGNORE = "ignore"
    """Drop the frame and execute nothing, as SIP2 requires for unknown commands (an
    ACS still answers an unknown command with 96: the SC is waiting for an answer)."""

    CLOSE = "close"
    """The exchange cannot go on; close the connection."""


class FrameError(enum.Enum):
    """Why a frame from the peer was refused."""

    BAD_CHECKSUM = "bad-checksum"
    MISSING_TRAILER = "missing-trailer"
    OVERSIZED = "oversized"
    FORBIDDEN_BYTE = "forbidden-byte"
    UNDECODABLE = "undecodable"
    UNKNOWN_COMMAND = "unknown-command"
    WRONG_DIRECTION = "wrong-direction"
    MALFORMED = "malformed"
    LOGIN_REQUIRED = "login-required"
    RETRIES_EXHAUSTED = "retries-exhausted"


_DEFAULT_HINTS: dict[FrameError, ResponseHint] = {
    FrameError.UNKNOWN_COMMAND: ResponseHint.IGNORE,
    FrameError.WRONG_DIRECTION: ResponseHint.IGNORE,
    FrameError.LOGIN_REQUIRED: ResponseHint.CLOSE,
    FrameError.RETRIES_EXHAUSTED: ResponseHint.CLOSE,
}


class ProtocolError(Exception):
    """Base class of every error the SIP2 codec raises."""


class LocalProtocolError(ProtocolError):
    """Our side misused the codec: an unencodable value, a send in the wrong state."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that are not an acceptable SIP2 frame.

    Args:
        message: A human-readable explanation, safe to log (it never quotes a PIN).
        reason: The machine-readable cause.
        response_hint: What to answer; defaults to the usual answer for ``reason``.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: FrameError = FrameError.MALFORMED,
        response_hint: ResponseHint | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.response_hint = (
            response_hint
            if response_hint is not None
            else _DEFAULT_HINTS.get(reason, ResponseHint.REQUEST_RESEND)
        )
