"""Requests reaching a simulated ILS, as events a test can wait for.

``Arrivals.at(ils)`` listens on a ``SimulatedIls`` (SIP2: each request by its message
code) and ``Arrivals.at_ncip(simulator)`` on an ``NcipSimulator`` (NCIP: each request
by its service name).  ``await arrivals.wait("11")`` returns once a checkout is at the
ILS *now*: arrived, and (with the simulator's ``gate`` closed) not yet answered.

``held(ils)`` closes an ILS's gate for the length of a block: its answers wait until
the test calls ``release`` (or the block ends), instead of a long ``delay_s`` that a
loaded machine may outlast or a fast one wait out for nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

from gateway.demo.simulator.ncip_server import UNREADABLE, NcipSimulator
from protocols.ncip import NcipSyntaxError
from protocols.ncip.initiator import service_name

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

    from gateway.demo.simulator.engine import SimulatedIls
    from protocols.sip2 import Message

__all__ = ["Arrivals", "Gate", "held"]


class Arrivals:
    """The kinds of request (SIP2 code or NCIP service) that reached an ILS, in order."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._changed = trio.Event()

    @classmethod
    def at(cls, ils: SimulatedIls) -> Arrivals:
        """Listen on a simulated ILS's SIP2 side (takes its ``on_arrival``)."""
        assert ils.on_arrival is None, "the ILS has a listener already"
        arrivals = cls()

        def arrived(message: Message) -> None:
            arrivals.arrived(message.code)

        ils.on_arrival = arrived
        return arrivals

    @classmethod
    def at_ncip(cls, simulator: NcipSimulator) -> Arrivals:
        """Listen on a simulated ILS's NCIP side (takes its ``on_arrival``)."""
        assert simulator.on_arrival is None, "the simulator has a listener already"
        arrivals = cls()

        def arrived(body: bytes) -> None:
            try:
                kind = service_name(body)
            except NcipSyntaxError:
                kind = UNREADABLE
            arrivals.arrived(kind)

        simulator.on_arrival = arrived
        return arrivals

    def arrived(self, kind: str) -> None:
        """Record one arrival and wake whoever waits."""
        self.seen.append(kind)
        self._changed.set()
        self._changed = trio.Event()

    def count(self, kind: str) -> int:
        """How many requests of ``kind`` arrived so far."""
        return self.seen.count(kind)

    async def wait(self, kind: str, count: int = 1) -> None:
        """Return once ``count`` requests of ``kind`` have arrived in all."""
        while self.count(kind) < count:
            await self._changed.wait()


class Gate:
    """A closed gate in front of an ILS's answers; ``release`` opens it."""

    def __init__(self) -> None:
        self.event = trio.Event()

    def release(self) -> None:
        """Let every waiting and later request be answered."""
        self.event.set()


@contextmanager
def held(ils: SimulatedIls | NcipSimulator, *, codes: Collection[str] = ()) -> Iterator[Gate]:
    """Hold ``ils``'s answers until ``release`` is called or the block ends.

    Args:
        ils: The simulated ILS (SIP2) or its NCIP face.
        codes: For a SIP2 ILS, the message codes to hold (all when empty): holding
            only ``"11"`` lets a new connection's login (93) through.
    """
    gate = Gate()
    ils.gate = gate.event
    if codes:
        assert not isinstance(ils, NcipSimulator), "the NCIP face holds every request"
        ils.gated_codes = frozenset(codes)
    try:
        yield gate
    finally:
        gate.release()
        ils.gate = None
        if not isinstance(ils, NcipSimulator):
            ils.gated_codes = None
