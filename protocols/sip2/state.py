"""The two SIP2 roles as explicit state machines.

Theory of operation: SIP2 is strictly one request, one response.  Each role has a
small set of states and a transition table keyed by ``(state, input)``; any pair that
is not in the table is a bug in the caller (``LocalProtocolError``) and closes the
machine, so a misuse cannot leave a connection half-way.  The tables are plain
dictionaries so that tests can walk every pair and tools can draw them.

ACS (the role the gateway plays towards kiosks)::

    AWAITING_LOGIN --93--> LOGGING_IN --94 ok--> READY --request--> RESPONDING
          ^   |                |                   ^                    |
          |   +--99--> STATUS_BEFORE_LOGIN         +------response------+
          +-----------------94 refused

  With ``login_required`` off the machine starts in ``READY``.  A request other than
  93, 99 or 97 before a successful login closes the connection.

SC (the role the gateway plays towards member ILSs)::

    IDLE --request--> AWAITING_RESPONSE --response--> IDLE
                         |        ^
               bad frame |        | response
                         v        |
                      AWAITING_RESEND (we sent 97)

  A 96 while we wait makes us resend; a 96 after our own 97 means the link is broken
  (``FAILED``), as do exhausted retries.
"""

from __future__ import annotations

import enum

from .errors import LocalProtocolError

# Members are singletons compared by identity, so they hash by identity too: the
# transition tables are looked up twice per message, and ``Enum.__hash__`` (which
# hashes the name) is a Python call each time.
_identity_hash = object.__hash__

__all__ = [
    "ACS_TRANSITIONS",
    "SC_TRANSITIONS",
    "AcsInput",
    "AcsState",
    "AcsStateMachine",
    "ScInput",
    "ScState",
    "ScStateMachine",
]


class AcsState(enum.Enum):
    """Where an ACS-side connection stands."""

    __hash__ = _identity_hash

    AWAITING_LOGIN = "awaiting-login"
    LOGGING_IN = "logging-in"
    STATUS_BEFORE_LOGIN = "status-before-login"
    READY = "ready"
    RESPONDING = "responding"
    CLOSED = "closed"


class AcsInput(enum.Enum):
    """What can happen to an ACS-side connection."""

    __hash__ = _identity_hash

    RECV_LOGIN = "recv-login"
    RECV_STATUS = "recv-status"
    RECV_REQUEST = "recv-request"
    RECV_RESEND_REQUEST = "recv-resend-request"
    RECV_DUPLICATE = "recv-duplicate"
    RECV_BAD_FRAME = "recv-bad-frame"
    SEND_LOGIN_ACCEPTED = "send-login-accepted"
    SEND_LOGIN_REFUSED = "send-login-refused"
    SEND_RESPONSE = "send-response"
    CLOSE = "close"


_S = AcsState
_I = AcsInput

ACS_TRANSITIONS: dict[tuple[AcsState, AcsInput], AcsState] = {
    (_S.AWAITING_LOGIN, _I.RECV_LOGIN): _S.LOGGING_IN,
    (_S.AWAITING_LOGIN, _I.RECV_STATUS): _S.STATUS_BEFORE_LOGIN,
    (_S.AWAITING_LOGIN, _I.RECV_REQUEST): _S.CLOSED,
    (_S.AWAITING_LOGIN, _I.RECV_RESEND_REQUEST): _S.AWAITING_LOGIN,
    (_S.AWAITING_LOGIN, _I.RECV_DUPLICATE): _S.AWAITING_LOGIN,
    (_S.AWAITING_LOGIN, _I.RECV_BAD_FRAME): _S.AWAITING_LOGIN,
    (_S.LOGGING_IN, _I.SEND_LOGIN_ACCEPTED): _S.READY,
    (_S.LOGGING_IN, _I.SEND_LOGIN_REFUSED): _S.AWAITING_LOGIN,
    (_S.STATUS_BEFORE_LOGIN, _I.SEND_RESPONSE): _S.AWAITING_LOGIN,
    (_S.READY, _I.RECV_LOGIN): _S.LOGGING_IN,
    (_S.READY, _I.RECV_STATUS): _S.RESPONDING,
    (_S.READY, _I.RECV_REQUEST): _S.RESPONDING,
    (_S.READY, _I.RECV_RESEND_REQUEST): _S.READY,
    (_S.READY, _I.RECV_DUPLICATE): _S.READY,
    (_S.READY, _I.RECV_BAD_FRAME): _S.READY,
    (_S.RESPONDING, _I.SEND_RESPONSE): _S.READY,
    **{(state, _I.CLOSE): _S.CLOSED for state in AcsState},
}
"""Transitions of the ACS role when a login is required."""

_ACS_WITHOUT_LOGIN = {
    **ACS_TRANSITIONS,
    (_S.LOGGING_IN, _I.SEND_LOGIN_REFUSED): _S.READY,
}


class AcsStateMachine:
    """The ACS role's state, advanced only through its transition table.

    Args:
        login_required: Whether requests other than 93, 99 and 97 need a login first.
    """

    def __init__(self, *, login_required: bool = True) -> None:
        self.login_required = login_required
        self._table = ACS_TRANSITIONS if login_required else _ACS_WITHOUT_LOGIN
        self.state = AcsState.AWAITING_LOGIN if login_required else AcsState.READY

    def process(self, event: AcsInput) -> AcsState:
        """Apply ``event`` and return the new state.

        Raises:
            LocalProtocolError: ``event`` is not allowed in the current state; the
                machine is closed.
        """
        try:
            self.state = self._table[self.state, event]
        except KeyError:
            old = self.state
            self.state = AcsState.CLOSED
            raise LocalProtocolError(f"{event.value} is not allowed in state {old.value}") from None
        return self.state


class ScState(enum.Enum):
    """Where an SC-side connection stands."""

    __hash__ = _identity_hash

    IDLE = "idle"
    AWAITING_RESPONSE = "awaiting-response"
    AWAITING_RESEND = "awaiting-resend"
    FAILED = "failed"


class ScInput(enum.Enum):
    """What can happen to an SC-side connection."""

    __hash__ = _identity_hash

    SEND_REQUEST = "send-request"
    RECV_RESPONSE = "recv-response"
    RECV_BAD_FRAME = "recv-bad-frame"
    RECV_RESEND_REQUEST = "recv-resend-request"
    RECV_STRAY = "recv-stray"
    TIMEOUT = "timeout"
    GIVE_UP = "give-up"


_C = ScState
_J = ScInput

SC_TRANSITIONS: dict[tuple[ScState, ScInput], ScState] = {
    (_C.IDLE, _J.SEND_REQUEST): _C.AWAITING_RESPONSE,
    (_C.IDLE, _J.RECV_STRAY): _C.IDLE,
    (_C.AWAITING_RESPONSE, _J.RECV_RESPONSE): _C.IDLE,
    (_C.AWAITING_RESPONSE, _J.RECV_BAD_FRAME): _C.AWAITING_RESEND,
    (_C.AWAITING_RESPONSE, _J.RECV_RESEND_REQUEST): _C.AWAITING_RESPONSE,
    (_C.AWAITING_RESPONSE, _J.RECV_STRAY): _C.AWAITING_RESPONSE,
    (_C.AWAITING_RESPONSE, _J.TIMEOUT): _C.AWAITING_RESPONSE,
    (_C.AWAITING_RESPONSE, _J.GIVE_UP): _C.FAILED,
    (_C.AWAITING_RESEND, _J.RECV_RESPONSE): _C.IDLE,
    (_C.AWAITING_RESEND, _J.RECV_BAD_FRAME): _C.AWAITING_RESEND,
    (_C.AWAITING_RESEND, _J.RECV_RESEND_REQUEST): _C.FAILED,
    (_C.AWAITING_RESEND, _J.RECV_STRAY): _C.AWAITING_RESEND,
    (_C.AWAITING_RESEND, _J.TIMEOUT): _C.AWAITING_RESEND,
    (_C.AWAITING_RESEND, _J.GIVE_UP): _C.FAILED,
}
"""Transitions of the SC role."""


class ScStateMachine:
    """The SC role's state, advanced only through its transition table."""

    def __init__(self) -> None:
        self.state = ScState.IDLE

    def process(self, event: ScInput) -> ScState:
        """Apply ``event`` and return the new state.

        Raises:
            LocalProtocolError: ``event`` is not allowed in the current state; the
                machine fails.
        """
        try:
            self.state = SC_TRANSITIONS[self.state, event]
        except KeyError:
            old = self.state
            self.state = ScState.FAILED
            raise LocalProtocolError(f"{event.value} is not allowed in state {old.value}") from None
        return self.state
