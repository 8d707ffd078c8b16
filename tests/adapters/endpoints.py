"""Helpers for tests of member clients with several endpoints: simulated alpha ILSs
(SIP2 and NCIP) on loopback, clients over them, and their figures as the admin API
shows them."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import trio

from adapters.errors import IlsUnavailable
from adapters.ils.balancing import BreakerSettings
from adapters.ils.ncip import NcipMemberIls
from adapters.ils.sip2 import Sip2MemberIls
from config.models import IlsSettings
from config.resolved import ResolvedIls
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.ncip_server import NcipSimulator, serve_simulator_ncip
from gateway.demo.simulator.sip2_server import serve_simulator
from protocols.ncip.initiator import service_name
from protocols.sip2 import NEED_DATA, AcsConnection, LoginRequest, LoginResponse, MessageReceived

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

PASSWORD = "sim-secret"
PATRON = "21001000000001"
ITEM = "31001000000001"
LIMIT_S = 20
REQUESTS = 20

# Open at the first failure and stay open: the scenarios then need no repetition.
TRIP_AT_ONCE = BreakerSettings(failure_threshold=1, cool_down_s=60.0, max_cool_down_s=60.0)


# --- simulated ILSs ------------------------------------------------------------------------


@dataclass
class Sip2Sim:
    """A simulated alpha ILS answering SIP2 on loopback."""

    ils: SimulatedIls
    endpoint: str

    def count(self, code: str) -> int:
        return self.ils.executed.count(code)


@dataclass
class NcipSim:
    """A simulated alpha ILS answering NCIP on loopback."""

    ncip: NcipSimulator
    endpoint: str

    def count(self, service: str) -> int:
        return self.ncip.calls.count(service)


@asynccontextmanager
async def sip2_sim(port: int = 0, *, password: str = PASSWORD) -> AsyncIterator[Sip2Sim]:
    """Serve a fresh simulated alpha over SIP2 (on ``port``, or a free one), whose
    gateway account has ``password``."""
    ils = SimulatedIls(packaged_library("alpha"), password)
    async with trio.open_nursery() as nursery:
        host, bound = await nursery.start(
            partial(serve_simulator, ils, host="127.0.0.1", port=port)
        )
        yield Sip2Sim(ils, f"{host}:{bound}")
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def ncip_sim(port: int = 0) -> AsyncIterator[NcipSim]:
    """Serve a fresh simulated alpha over NCIP (on ``port``, or a free one)."""
    responder = NcipSimulator(SimulatedIls(packaged_library("alpha"), "unused"))
    async with trio.open_nursery() as nursery:
        host, bound = await nursery.start(partial(serve_simulator_ncip, responder, port=port))
        yield NcipSim(responder, f"http://{host}:{bound}/ncip")
        nursery.cancel_scope.cancel()


@dataclass
class RogueIls:
    """A server that takes requests and never answers them (SIP2 after logging the
    gateway in, or NCIP over HTTP).

    Attributes:
        endpoint: Where it listens.
        received: The code of each request it took.
    """

    endpoint: str
    received: list[str]


@asynccontextmanager
async def rogue_ils(*, hang_up: bool) -> AsyncIterator[RogueIls]:
    """Serve a ``RogueIls`` on a free loopback port: after reading a request it closes
    the connection (``hang_up``) or keeps it open and silent."""
    received: list[str] = []

    async def serve(stream: trio.SocketStream) -> None:
        conn = AcsConnection()
        async with stream:
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                    continue
                if not isinstance(event, MessageReceived):
                    return
                if isinstance(event.message, LoginRequest):
                    await stream.send_all(conn.send(LoginResponse(ok=True)))
                    continue
                received.append(event.message.code)
                if hang_up:
                    return
                await trio.sleep_forever()  # an ILS that took the request and went quiet

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield RogueIls(f"127.0.0.1:{port}", received)
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def rogue_ncip() -> AsyncIterator[RogueIls]:
    """Serve an HTTP endpoint on a free loopback port that reads each NCIP request
    whole and hangs up without an answer (``received`` holds the services)."""
    received: list[str] = []

    async def serve(stream: trio.SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += await stream.receive_some(65536)
            received.append(service_name(body))

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield RogueIls(f"http://127.0.0.1:{port}/ncip", received)
        nursery.cancel_scope.cancel()


# --- clients ---------------------------------------------------------------------------------


@asynccontextmanager
async def sip2_member(
    *endpoints: str,
    breaker: BreakerSettings | None = None,
    keepalive_s: float = 30.0,
    concurrency: int = 4,
) -> AsyncIterator[Sip2MemberIls]:
    """A ``Sip2MemberIls`` for alpha over ``endpoints``, always closed at the end."""
    settings = ResolvedIls.of(
        IlsSettings(
            endpoints=endpoints,
            login="gateway",
            institution_id="alpha",
            timeout_s=2.0,
            connect_timeout_s=1.0,
            concurrency=concurrency,
            pool_size=1,
        )
    )
    ils = Sip2MemberIls("alpha", settings, PASSWORD, keepalive_s=keepalive_s, breaker=breaker)
    try:
        yield ils
    finally:
        await ils.aclose()


@asynccontextmanager
async def ncip_member(
    *endpoints: str,
    breaker: BreakerSettings | None = None,
    keepalive_s: float = 30.0,
    concurrency: int = 4,
) -> AsyncIterator[NcipMemberIls]:
    """An ``NcipMemberIls`` for alpha over ``endpoints``, always closed at the end."""
    settings = ResolvedIls.of(
        IlsSettings(
            adapter="ncip",
            endpoints=endpoints,
            institution_id="alpha",
            timeout_s=2.0,
            connect_timeout_s=1.0,
            concurrency=concurrency,
            pool_size=1,
        )
    )
    ils = NcipMemberIls(
        "alpha",
        settings,
        None,
        keepalive_s=keepalive_s,
        backoff_base_s=0.05,
        backoff_max_s=0.2,
        breaker=breaker,
    )
    try:
        yield ils
    finally:
        await ils.aclose()


def endpoint_stats(ils: Sip2MemberIls | NcipMemberIls, index: int) -> dict[str, object]:
    """The admin API's figures for one endpoint."""
    endpoints = ils.statistics()["endpoints"]
    assert isinstance(endpoints, list)
    stats = endpoints[index]
    assert isinstance(stats, dict)
    return stats


def breaker_state(ils: Sip2MemberIls | NcipMemberIls, index: int) -> object:
    return endpoint_stats(ils, index)["state"]


def healthy(ils: Sip2MemberIls | NcipMemberIls) -> bool:
    """``ils.healthy``, read afresh (a call, so type checkers do not narrow it)."""
    return ils.healthy


async def sip2_request(ils: Sip2MemberIls) -> bool:
    """One patron lookup; whether it was answered."""
    try:
        record = await ils.patron_status(PATRON, "1234", timeout=2.0)
    except IlsUnavailable:
        return False
    assert record.found
    return True


async def ncip_request(ils: NcipMemberIls) -> bool:
    """One item lookup; whether it was answered."""
    try:
        record = await ils.item_information(ITEM, timeout=2.0)
    except IlsUnavailable:
        return False
    assert record.found
    return True
