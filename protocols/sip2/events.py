"""What a SIP2 connection reports to its user after reading bytes.

``next_event()`` returns one of these, or a ``Pending`` value when it has nothing yet:

* ``MessageReceived``: a message to act on (a request for the ACS, a response for the
  SC).  An ACS must answer it with ``send()`` before it gets the next one.
* ``SendReply``: bytes the connection prepared itself (a 96 or 97 asking for a
  resend, or a retransmission of what was sent before); write them to the peer.
* ``FrameDiscarded``: a frame that SIP2 says to ignore (a message meant for the other
  side, a response with the wrong sequence number, an unknown command at the SC);
  nothing to send, worth a log line.
* ``ConnectionFailed``: the exchange cannot continue; close the transport.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import RemoteProtocolError
from .spec import Message

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "ConnectionFailed",
    "Event",
    "FrameDiscarded",
    "MessageReceived",
    "Pending",
    "ReplyCause",
    "SendReply",
]


class Pending(enum.Enum):
    """``next_event()`` has nothing to report yet."""

    NEED_DATA = "need-data"
    """Feed more bytes with ``receive_data()``."""

    PAUSED = "paused"
    """A message is waiting for our answer; ``send()`` it first."""


NEED_DATA = Pending.NEED_DATA
PAUSED = Pending.PAUSED


class ReplyCause(enum.Enum):
    """Why the connection prepared bytes on its own."""

    BAD_FRAME = "bad-frame"
    """The frame was refused; the reply asks for it again (96 from an ACS, 97 from an SC)."""

    RESEND_REQUESTED = "resend-requested"
    """The peer asked for our last message again (97 to an ACS, 96 to an SC)."""

    DUPLICATE = "duplicate"
    """The peer repeated its last request (same AY and AZ); it is answered, not re-run."""

    TIMEOUT = "timeout"
    """No answer came in time; the SC sends its message again."""


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A message to act on, with the ``AY`` number it carried."""

    message: Message
    sequence: int | None


@dataclass(frozen=True, slots=True)
class SendReply:
    """Bytes to write to the peer, prepared by the connection."""

    data: bytes
    cause: ReplyCause
    error: RemoteProtocolError | None = None


@dataclass(frozen=True, slots=True)
class FrameDiscarded:
    """A frame that is ignored, as the protocol requires."""

    error: RemoteProtocolError


@dataclass(frozen=True, slots=True)
class ConnectionFailed:
    """The exchange cannot go on: close the connection."""

    error: RemoteProtocolError


Event = MessageReceived | SendReply | FrameDiscarded | ConnectionFailed
