"""What one kiosk request carries through the gateway: rules, time budget, outcome.

A ``RequestContext`` is made when a request arrives.  It pins the ``Runtime`` in force
at that moment (a reload never changes the rules under a request in flight) and the
request's deadline: every call to a member ILS gets ``budget(member)``, the smaller
of that member's own timeout and what is left of the request's time.

An ``Outcome`` is the answer plus what the connection logs about it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import trio

from adapters.errors import IlsTimeout
from gateway.app.clock import utc_now
from gateway.app.runtime import Runtime
from gateway.sip2.routing import Route
from gateway.sip2.session import TerminalSession
from protocols.sip2 import Message

if TYPE_CHECKING:
    from adapters.ils.base import MemberIls

__all__ = ["Outcome", "RequestContext", "Result", "utc_now"]


class Result(enum.Enum):
    """How a request ended, for logs and metrics."""

    OK = "ok"
    """Served (the ILS may still have said no: that is its answer, passed on)."""
    REFUSED = "refused"
    """The gateway refused it by a rule (policy, cap, PIN, login)."""
    UNAVAILABLE = "unavailable"
    """A member ILS could not answer in time or at all."""
    ERROR = "error"
    """The gateway failed; the kiosk got a refusal."""


@dataclass(frozen=True)
class Outcome:
    """A request's answer, and what is logged about it."""

    response: Message
    result: Result = Result.OK
    reason: str = ""
    route: Route | None = None
    patron: str | None = None
    """The patron's keyed hash, when the request named one."""

    def routed(self, route: Route) -> Outcome:
        """This outcome with ``route`` (what ``dataclasses.replace`` does, per request
        and at a fraction of its cost: every field is kept, whatever fields there are)."""
        outcome = object.__new__(Outcome)
        object.__setattr__(outcome, "__dict__", {**self.__dict__, "route": route})
        return outcome


@dataclass
class RequestContext:
    """One request in flight."""

    runtime: Runtime
    session: TerminalSession
    message: Message
    now: datetime
    deadline: float
    request_key: str | None = None
    """The caller's own id for the request (NCIP ``RequestId``), for idempotency."""

    @classmethod
    def start(
        cls,
        runtime: Runtime,
        session: TerminalSession,
        message: Message,
        request_key: str | None = None,
    ) -> RequestContext:
        """A context whose deadline is the gateway's request timeout from now."""
        return cls(
            runtime,
            session,
            message,
            utc_now(),
            trio.current_time() + runtime.settings.request_timeout_s,
            request_key,
        )

    def member(self, member: str) -> MemberIls:
        """The client of a member's ILS."""
        return self.runtime.members[member]

    def budget(self, member: str) -> float:
        """Seconds the next call to ``member`` may take.

        Raises:
            IlsTimeout: The request's time is already spent.
        """
        left = self.deadline - trio.current_time()
        if left <= 0:
            raise IlsTimeout(member, "the request's time ran out before this call")
        own = self.runtime.consortium.policy(member).ils.timeout_s
        return min(own, left)

    def name(self, member: str) -> str:
        """A library's display name, for the kiosk's screen."""
        return self.runtime.name(member)
