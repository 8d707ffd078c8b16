"""A kiosk request's answer, and what its log line and metrics say about it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.sip2.routing import Route
from protocols.sip2 import Message

__all__ = ["Answer", "Result"]


class Result(enum.Enum):
    """How a request ended, for logs and metrics."""

    OK = "ok"
    """Served (the ILS may still have said no: that is its answer, passed on)."""
    REFUSED = "refused"
    """The gateway refused it by a rule (policy, cap, PIN, login)."""
    UNAVAILABLE = "unavailable"
    """A member ILS or the registry could not answer in time or at all."""
    ERROR = "error"
    """The gateway failed; the kiosk got a refusal."""


@dataclass(frozen=True)
class Answer:
    """A request's SIP2 answer, and what is logged about it."""

    response: Message
    result: Result = Result.OK
    reason: str = ""
    route: Route | None = None
    patron: str | None = None
    """The patron's keyed hash, when the request named one."""

    def routed(self, route: Route) -> Answer:
        """This answer with ``route`` (what ``dataclasses.replace`` does, per request and
        at a fraction of its cost: every field is kept, whatever fields there are)."""
        answer = object.__new__(Answer)
        object.__setattr__(answer, "__dict__", {**self.__dict__, "route": route})
        return answer
