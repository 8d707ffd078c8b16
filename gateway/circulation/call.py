"""One request in flight through the circulation flows: who asks, with which rules, until when.

A ``Call`` is made when a request starts (by the SIP2 edge for a kiosk's message, by
the NCIP edge for a peer's).  It pins the rules and services in force at that moment
(a reload never changes them under a request in flight) and the request's deadline:
every call to a member ILS gets ``budget(member)``, the smaller of that member's own
time-out and what is left of the request's time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import trio

from adapters.errors import IlsTimeout
from gateway.circulation.session import Session
from gateway.runtime.clock import utc_now
from gateway.runtime.rules import Rules
from gateway.runtime.services import Services

if TYPE_CHECKING:
    from gateway.runtime.members import MemberHandle

__all__ = ["Call"]


@dataclass
class Call:
    """One request in flight (see the module documentation).

    Attributes:
        rules: The rules in force when the request started.
        services: The services in force when the request started.
        session: Who asks.
        now: When the request started (UTC, to the second).
        deadline: When its time runs out (trio time).
        request_key: The caller's own id of the request (an NCIP ``RequestId``), which
            makes a loan idempotent instead of the kiosk's transaction date.
    """

    rules: Rules
    services: Services
    session: Session
    now: datetime
    deadline: float
    request_key: str | None = None
    _last_key: tuple[str, str, str] | None = field(default=None, init=False, repr=False)
    """The last patron key made (a request asks for its patron's more than once)."""

    @classmethod
    def start(
        cls,
        rules: Rules,
        services: Services,
        session: Session,
        *,
        request_key: str | None = None,
    ) -> Call:
        """A call whose deadline is the gateway's request time-out from now."""
        return cls(
            rules,
            services,
            session,
            utc_now(),
            trio.current_time() + rules.settings.request_timeout_s,
            request_key,
        )

    def member(self, member: str) -> MemberHandle:
        """A member library's handle."""
        return self.services.members[member]

    def budget(self, member: str) -> float:
        """Seconds the next call to ``member`` may take.

        Raises:
            IlsTimeout: The request's time is already spent.
        """
        left = self.deadline - trio.current_time()
        if left <= 0:
            raise IlsTimeout(member, "the request's time ran out before this call")
        own = self.rules.policy(member).ils.timeout_s
        return min(own, left)

    def name(self, member: str) -> str:
        """A library's display name, for a patron's screen."""
        return self.rules.name(member)

    def patron_key(self, home: str, barcode: str) -> str:
        """The keyed hash that stands for a patron of ``home``."""
        last = self._last_key
        if last is not None and last[0] == home and last[1] == barcode:
            return last[2]
        key = self.rules.patron_key(home, barcode)
        self._last_key = (home, barcode, key)
        return key
