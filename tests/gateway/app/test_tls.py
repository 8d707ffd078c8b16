"""TLS end to end, with certificates the test makes: kiosks over TLS with client
certificates, a member ILS reached over TLS, the admin and NCIP ports over HTTPS, and
a SIGHUP that makes every listener serve a renewed certificate.

One gateway, started from a configuration file as ``interlend serve`` starts it, with
the demo's three simulated ILSs: alpha's behind TLS (its certificate names
``alpha-ils.test`` only, so ``ils.tls.server_name`` is needed), beta's and gamma's in
the clear.
"""

from __future__ import annotations

import os
import shutil
import signal
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
import trio
from structlog.testing import capture_logs

from gateway.app.daemon import Bound, Gateway
from gateway.cli.main import main
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.sip2_server import serve_simulator
from protocols.ncip import Header, LookupUser, Patron, read_reply, write_request
from protocols.sip2 import CheckoutResponse, LoginRequest, LoginResponse, PatronStatusResponse
from tests.helpers.cli import ROOT
from tests.helpers.kiosk import Kiosk, checkout, close_all, status
from tests.helpers.polling import eventually
from tests.helpers.tls import Authority, serial_of, served_serial

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.slow

DEMO_TOML = ROOT / "config" / "demo.toml"
PASSWORD = "pw"
NCIP_KEY = "ncip-key"
LIMIT_S = 20
LOGIN = LoginRequest(login_user_id="beta-kiosk", login_password="demo")


@dataclass
class TlsNetwork:
    gateway: Gateway
    bound: Bound
    authority: Authority
    cert: Path
    key: Path

    def kiosk_context(self, login: str | None) -> ssl.SSLContext:
        return self.authority.client(login)

    async def kiosk(self, login: str | None) -> Kiosk:
        """A kiosk connected over TLS (presenting a certificate when ``login`` is given)."""
        host, port = self.bound.sip2[0]
        stream = trio.SSLStream(
            await trio.open_tcp_stream(host, port),
            self.kiosk_context(login),
            server_hostname=host,
        )
        return Kiosk(stream)

    def listeners(self) -> dict[str, tuple[str, int]]:
        """Every TLS listener's host and port."""
        found = {"sip2": self.bound.sip2[0]}
        for name, url in (("admin", self.bound.admin), ("ncip", self.bound.ncip)):
            assert url is not None
            parts = urlsplit(url)
            assert parts.scheme == "https", url
            assert parts.hostname is not None
            assert parts.port is not None
            found[name] = (parts.hostname, parts.port)
        return found

    async def served(self) -> dict[str, str]:
        """The serial number of the certificate each listener serves now."""
        trust = self.authority.client("probe")
        return {
            name: await served_serial(host, port, trust)
            for name, (host, port) in self.listeners().items()
        }


def _config(
    tmp_path: Path, authority: Authority, ports: dict[str, int], cert: Path, key: Path
) -> Path:
    text = DEMO_TOML.read_text(encoding="utf-8")
    text = text.replace(
        'ils.endpoints = ["127.0.0.1:7101"]',
        f'ils.endpoints = ["tls://127.0.0.1:{ports["alpha"]}"]\n'
        f'ils.tls.ca = "{authority.ca_file}"\n'
        'ils.tls.server_name = "alpha-ils.test"',
    )
    for member, default in (("beta", 7102), ("gamma", 7103)):
        text = text.replace(f"127.0.0.1:{default}", f"127.0.0.1:{ports[member]}")
    files = f'cert = "{cert}", key = "{key}"'
    text += (
        "\n[gateway]\n"
        f"admin = {{ port = 0, tls = {{ {files} }} }}\n"
        f"ncip = {{ port = 0, tls = {{ {files} }} }}\n"
        '\n[gateway.ledger]\nbackend = "none"\n'
        "\n[[gateway.sip2]]\nport = 0\n"
        f'tls = {{ {files}, client_ca = "{authority.ca_file}", require_client_cert = true }}\n'
    )
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


@asynccontextmanager
async def tls_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TlsNetwork]:
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", PASSWORD)
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", NCIP_KEY)
    authority = Authority.new(tmp_path / "pki")
    alpha_tls = authority.tls("alpha-ils", "alpha-ils.test")
    cert, key = authority.issue("gateway")
    async with trio.open_nursery() as nursery:
        ports = {}
        for member in ("alpha", "beta", "gamma"):
            ils = SimulatedIls(packaged_library(member), PASSWORD)
            tls = alpha_tls if member == "alpha" else None
            _, ports[member] = await nursery.start(partial(serve_simulator, ils, tls=tls))
        path = _config(tmp_path, authority, ports, cert, key)
        gateway = Gateway.from_file(path, handle_signals=True)
        bound = await nursery.start(gateway.run)
        try:
            yield TlsNetwork(gateway, bound, authority, cert, key)
        finally:
            await close_all()
            gateway.stop()
        nursery.cancel_scope.cancel()


def _failed_handshakes(gateway: Gateway, kind: str) -> float:
    value = gateway.metrics.registry.get_sample_value(
        "interlend_tls_handshakes_failed_total",
        {"listener": "gateway.sip2[0].tls", "kind": kind},
    )
    return value or 0.0


async def test_a_kiosk_over_tls_lends_and_one_without_a_certificate_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beta's kiosk, with its client certificate, checks out a beta item to an alpha
    patron whose PIN is checked at alpha's ILS over TLS; a kiosk without a certificate
    never gets to log in."""
    async with tls_network(tmp_path, monkeypatch) as network:
        with trio.fail_after(LIMIT_S):
            kiosk = await network.kiosk("beta-kiosk")
            await kiosk.expect(LOGIN, LoginResponse)
            patron = await kiosk.expect(status("21001000000001"), PatronStatusResponse)
            lent = await kiosk.expect(
                checkout("21001000000001", "31002000000001"), CheckoutResponse
            )
            stranger = await network.kiosk(None)
            with pytest.raises((trio.BrokenResourceError, EOFError)):
                await stranger.request(LOGIN)
            await eventually(
                lambda: _failed_handshakes(network.gateway, "no_client_certificate") == 1,
                what="the refused handshake to be counted",
            )
    assert patron.valid_patron
    assert patron.valid_patron_password
    assert lent.ok


async def test_the_console_speaks_sip2_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``interlend send tls://…`` with a client certificate logs in; trusting another
    CA, or without a certificate, it says why it got nowhere."""
    async with tls_network(tmp_path, monkeypatch) as network:
        host, port = network.bound.sip2[0]
        cert, key = network.authority.issue("console")
        stranger = Authority.new(tmp_path / "other")
        address = ["send", f"tls://{host}:{port}"]
        common = [*address, "--cert", str(cert), "--key", str(key)]
        login = "9300CNbeta-kiosk|COdemo|"
        with trio.fail_after(LIMIT_S):
            trusted = await trio.to_thread.run_sync(
                main, [*common, "--ca", str(network.authority.ca_file), login]
            )
            out = capsys.readouterr().out
            untrusted = await trio.to_thread.run_sync(
                main, [*common, "--ca", str(stranger.ca_file), login]
            )
            err = capsys.readouterr().err
            anonymous = await trio.to_thread.run_sync(
                main, [*address, "--ca", str(network.authority.ca_file), login]
            )
            anonymous_err = capsys.readouterr().err
            await eventually(
                lambda: _failed_handshakes(network.gateway, "certificate_refused_by_client") == 1,
                what="the gateway to count the console's refusal of its certificate",
            )
    assert trusted == 0
    assert "< 941" in out
    assert untrusted == 1
    assert anonymous == 1
    assert "client certificate" in anonymous_err or "certificate required" in anonymous_err
    assert f"tls://{host}:{port}: certificate verify failed" in err


async def test_admin_and_ncip_answer_over_https(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_network(tmp_path, monkeypatch) as network:
        assert network.bound.admin is not None
        assert network.bound.ncip is not None
        request = LookupUser(
            Header(from_agency="rs-beta", to_agency="interlend"),
            Patron("21001000000001", None, "1234"),
        )
        with trio.fail_after(LIMIT_S):
            async with httpx.AsyncClient(verify=network.authority.client(), timeout=10) as http:
                health = await http.get(f"{network.bound.admin}/healthz")
                members = await http.get(f"{network.bound.admin}/api/members")
                answer = await http.post(
                    network.bound.ncip,
                    content=write_request(request),
                    headers={
                        "Content-Type": "application/xml; charset=utf-8",
                        "X-API-Key": NCIP_KEY,
                    },
                )
            async with httpx.AsyncClient(timeout=10) as untrusting:
                with pytest.raises(httpx.ConnectError):  # the CA is not in its trust store
                    await untrusting.get(f"{network.bound.admin}/healthz")
    assert health.status_code == 200
    assert members.json()["alpha"]["healthy"] is True  # reached over TLS
    assert answer.status_code == 200
    assert read_reply(answer.content).ok


async def test_sighup_serves_a_renewed_certificate_and_keeps_it_through_a_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the files are replaced and SIGHUP sent, every listener serves the new
    certificate to new connections; a key that does not match leaves it serving."""
    async with tls_network(tmp_path, monkeypatch) as network:
        with trio.fail_after(LIMIT_S):
            original = serial_of(network.cert)
            before = await network.served()
            kept = await network.kiosk("beta-kiosk")  # opened before the renewal
            await kept.expect(LOGIN, LoginResponse)
            soon = datetime.now(UTC) + timedelta(days=10)
            renewed_cert, renewed_key = network.authority.issue("renewed", not_after=soon)
            shutil.copy(renewed_cert, network.cert)
            shutil.copy(renewed_key, network.key)
            renewed = serial_of(renewed_cert)
            # The gateway's signal watcher is in place (else SIGHUP would end the run).
            assert signal.getsignal(signal.SIGHUP) not in (signal.SIG_DFL, signal.SIG_IGN)
            with capture_logs() as logs:
                os.kill(os.getpid(), signal.SIGHUP)

                async def serving_renewed() -> bool:
                    return set((await network.served()).values()) == {renewed}

                await eventually(serving_renewed, what="every listener to serve the renewed one")
            _, stray_key = network.authority.issue("stray")
            shutil.copy(stray_key, network.key)
            os.kill(os.getpid(), signal.SIGHUP)

            def failed() -> bool:
                value = network.gateway.metrics.registry.get_sample_value(
                    "interlend_tls_certificate_reloads_total", {"result": "failed"}
                )
                return value == 3  # sip2, admin, ncip

            await eventually(failed, what="the bad key to be refused")
            after = await network.served()
            still = await kept.expect(status("21002000000001"), PatronStatusResponse)
    assert set(before.values()) == {original}
    assert set(after.values()) == {renewed}
    assert renewed != original
    warned = [e for e in logs if e["event"] == "TLS certificate expires soon"]
    assert {e["listener"] for e in warned} == set(network.gateway.tls)
    assert all(e["days_left"] == 9 for e in warned)
    assert still.valid_patron  # a connection open across the reload carries on
