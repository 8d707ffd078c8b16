"""Member ILSs reached over TLS, against the simulated alpha ILS serving TLS with a
certificate the test made: the right CA (and server name) works, a wrong one is a
member error that says so and that the endpoint's breaker counts, for SIP2
(``tls://``) and NCIP (``https://``)."""

from __future__ import annotations

import shutil
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio

from adapters.errors import IlsUnavailable
from adapters.ils.balancing import BreakerState
from adapters.ils.ncip import NcipMemberIls
from adapters.ils.sip2 import Sip2MemberIls
from config.models import IlsSettings, IlsTlsSettings
from config.resolved import ResolvedIls
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.ncip_server import serve_simulator_ncip
from gateway.demo.simulator.sip2_server import serve_simulator
from gateway.runtime.members import build_members
from tests.adapters.endpoints import TRIP_AT_ONCE
from tests.config.helpers import PROXY, build, consortium, library
from tests.helpers.tls import Authority

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

PASSWORD = "sim-secret"
PATRON = "21001000000001"
LIMIT_S = 10
SERVER_NAME = "alpha-ils.test"
"""The only name on the simulated ILS's certificate: loopback addresses do not match it."""


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority.new(tmp_path / "pki")


@asynccontextmanager
async def alpha_over_tls(
    authority: Authority, *, ncip: bool, client_ca: Path | None = None
) -> AsyncIterator[str]:
    """The simulated alpha ILS over TLS (asking for a client certificate signed by
    ``client_ca`` when given); yields its endpoint (``tls://`` or ``https://``)."""
    ils = SimulatedIls(packaged_library("alpha"), PASSWORD)
    tls = authority.tls("alpha-ils", SERVER_NAME, client_ca=client_ca)
    async with trio.open_nursery() as nursery:
        if ncip:
            host, port = await nursery.start(partial(serve_simulator_ncip, ils, tls=tls))
            yield f"https://{host}:{port}/ncip"
        else:
            host, port = await nursery.start(partial(serve_simulator, ils, tls=tls))
            yield f"tls://{host}:{port}"
        nursery.cancel_scope.cancel()


def client(
    endpoint: str,
    ca: Path | None,
    server_name: str | None = SERVER_NAME,
    *,
    certificate: tuple[Path, Path] | None = None,
) -> Sip2MemberIls | NcipMemberIls:
    cert, key = certificate or (None, None)
    settings = ResolvedIls.of(
        IlsSettings(
            adapter="ncip" if endpoint.startswith("https") else "sip2",
            endpoints=(endpoint,),
            login="gateway",
            institution_id="alpha",
            timeout_s=5.0,
            connect_timeout_s=5.0,
            pool_size=1,
            tls=IlsTlsSettings(ca=ca, server_name=server_name, cert=cert, key=key),
        )
    )
    if endpoint.startswith("https"):
        return NcipMemberIls("alpha", settings, None, breaker=TRIP_AT_ONCE)
    return Sip2MemberIls("alpha", settings, PASSWORD, breaker=TRIP_AT_ONCE)


@pytest.mark.parametrize("ncip", [False, True], ids=["sip2", "ncip"])
async def test_the_right_ca_and_name_reach_the_ils(authority: Authority, ncip: bool) -> None:
    async with alpha_over_tls(authority, ncip=ncip) as endpoint:
        ils = client(endpoint, authority.ca_file)
        try:
            with trio.fail_after(LIMIT_S):
                record = await ils.patron_status(PATRON, "1234", timeout=5)
        finally:
            await ils.aclose()
    assert record.found
    assert record.pin_ok


@pytest.mark.parametrize("ncip", [False, True], ids=["sip2", "ncip"])
@pytest.mark.parametrize(
    ("trusted", "server_name", "reason"),
    [
        ("other", SERVER_NAME, "certificate verify failed"),
        ("own", None, "certificate verify failed"),  # 127.0.0.1 is not on it
    ],
    ids=["wrong-ca", "wrong-name"],
)
async def test_an_untrusted_ils_is_a_member_error_the_breaker_counts(
    authority: Authority,
    tmp_path: Path,
    ncip: bool,
    trusted: str,
    server_name: str | None,
    reason: str,
) -> None:
    other = Authority.new(tmp_path / "other-pki")
    ca = other.ca_file if trusted == "other" else authority.ca_file
    async with alpha_over_tls(authority, ncip=ncip) as endpoint:
        ils = client(endpoint, ca, server_name)
        try:
            with trio.fail_after(LIMIT_S), pytest.raises(IlsUnavailable) as failed:
                await ils.patron_status(PATRON, "1234", timeout=5)
            [figures] = ils.balancer.statistics()
        finally:
            await ils.aclose()
    assert failed.value.member == "alpha"
    assert reason in failed.value.detail.lower().replace("_", " ")
    assert "TLS handshake" in failed.value.detail
    assert endpoint in failed.value.detail
    assert figures.state is BreakerState.OPEN  # counted: one failure trips TRIP_AT_ONCE


@pytest.mark.parametrize("ncip", [False, True], ids=["sip2", "ncip"])
async def test_an_ils_that_asks_for_a_client_certificate_gets_the_gateway_s(
    authority: Authority, tmp_path: Path, ncip: bool
) -> None:
    """With ``ils.tls.cert`` and ``key`` the gateway is let in; without, it is a member
    error like any refused handshake."""
    clients = Authority.new(tmp_path / "clients")
    certificate = clients.issue("gateway-client", "gateway.example.org")
    async with alpha_over_tls(authority, ncip=ncip, client_ca=clients.ca_file) as endpoint:
        presenting = client(endpoint, authority.ca_file, certificate=certificate)
        anonymous = client(endpoint, authority.ca_file)
        try:
            with trio.fail_after(LIMIT_S):
                record = await presenting.patron_status(PATRON, "1234", timeout=5)
                with pytest.raises(IlsUnavailable) as refused:
                    await anonymous.patron_status(PATRON, "1234", timeout=5)
        finally:
            await presenting.aclose()
            await anonymous.aclose()
    assert record.found
    assert refused.value.member == "alpha"


def test_a_reload_rebuilds_a_member_whose_ca_file_changed(authority: Authority) -> None:
    """The client reads ``ils.tls.ca`` once: a new CA in the same file gets a new client
    at the next reload; an unchanged one keeps the warm client."""
    nodes = {
        "top": consortium(circulation=PROXY),
        "lib": library("top", ils={"tls": {"ca": str(authority.ca_file)}}),
    }
    first = build_members(build(nodes), {})
    kept = build_members(build(nodes), {}, first)
    shutil.copy(Authority.new(authority.folder / "next").ca_file, authority.ca_file)
    rebuilt = build_members(build(nodes), {}, kept)
    assert kept["lib"] is first["lib"]
    assert rebuilt["lib"] is not first["lib"]
