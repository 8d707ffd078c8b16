"""The daemon as operators meet it: admin HTTP, graceful stop, reload, the CLI."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from functools import partial
from typing import TYPE_CHECKING

import httpx
import trio
import trio.testing

from adapters.errors import IlsError
from gateway.app.daemon import Gateway
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.sip2_server import serve_simulator
from protocols.sip2 import CheckoutResponse, PatronStatusResponse
from tests.helpers.arrivals import Arrivals, held
from tests.helpers.cli import ROOT, read_manifest, start_cli
from tests.helpers.kiosk import Kiosk, checkout, status
from tests.helpers.services import dead_port, free_ports

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from gateway.demo.network import Demo

DEMO_TOML = ROOT / "config" / "demo.toml"
# A bound on failure only: a new interpreter on a fresh clone compiles the whole package
# first, which takes tens of seconds on two busy cores.
TIMEOUT = 60


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(url)


async def test_admin_endpoints(demo: Demo) -> None:
    base = demo.bound.admin
    assert base is not None
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "beta-kiosk")
        lent = await kiosk.expect(checkout("21001000000001", "31002000000003"), CheckoutResponse)
        assert lent.ok
        health = await get(f"{base}/healthz")
        ready = await get(f"{base}/readyz")
        members = (await get(f"{base}/api/members")).json()
        loans = (await get(f"{base}/api/loans?limit=5")).json()
        bad_limit = await get(f"{base}/api/loans?limit=many")
        metrics = (await get(f"{base}/metrics")).text
        page = await get(f"{base}/")
    assert health.status_code == 200
    assert ready.status_code == 200
    assert set(members) == {"alpha", "beta", "gamma"}
    assert members["beta"]["healthy"] is True
    assert members["beta"]["endpoints"][0]["healthy"] is True
    [loan] = loans["loans"]
    assert (loans["returned"], loans["limit"], loans["more"], loans["next"]) == (1, 5, False, None)
    assert loan["owner"] == "beta"
    assert loan["home"] == "alpha"
    assert "21001000000001" not in json.dumps(loans)  # keyed hashes only
    assert bad_limit.status_code == 400
    assert 'interlend_sip2_requests_total{code="11",result="ok",route="reciprocal"} 1.0' in metrics
    assert 'interlend_member_up{member="alpha"} 1.0' in metrics
    assert "Beta Public Library" in page.text


async def test_readiness_fails_when_no_member_is_reachable(demo: Demo) -> None:
    base = demo.bound.admin
    assert base is not None
    for member in ("alpha", "beta", "gamma"):
        demo.stop_ils(member)
    await trio.testing.wait_all_tasks_blocked()  # their listeners are closed by now
    with trio.fail_after(TIMEOUT):
        for handle in demo.gateway.services.members.values():
            with contextlib.suppress(IlsError):  # each client records its failure
                await handle.ils.item_information("x", timeout=1.0)
        ready = await get(f"{base}/readyz")
    assert ready.status_code == 503
    assert "no member ILS" in ready.text


async def test_graceful_stop_finishes_requests_in_flight(demo: Demo) -> None:
    """Stopping while alpha's ILS holds a kiosk's request: the idle kiosk is let go at
    once, the busy one gets its answer once the ILS gives it, then is let go."""
    alpha = demo.simulators["alpha"]
    arrivals = Arrivals.at(alpha)
    with trio.fail_after(TIMEOUT), held(alpha, codes=("23",)) as gate:
        busy = await Kiosk.logged_in(demo, "alpha-kiosk")
        idle = await Kiosk.logged_in(demo, "beta-kiosk")
        await busy.stream.send_all(busy.conn.send(status("21001000000001")))
        await arrivals.wait("23")  # the request is at alpha's ILS now
        demo.gateway.stop()
        assert await idle.closed()  # an idle kiosk is let go at once
        gate.release()
        answer = await busy._answer()  # the busy one still gets its answer
        assert isinstance(answer, PatronStatusResponse)
        assert answer.valid_patron
        assert await busy.closed()


def _config_file(tmp_path: Path, ports: dict[str, int], beta_days: int = 14) -> Path:
    text = DEMO_TOML.read_text(encoding="utf-8")
    for member, port in ports.items():
        default = {"alpha": 7101, "beta": 7102, "gamma": 7103}[member]
        text = text.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
    text = text.replace(
        "circulation.visitor_loan_days = 14", f"circulation.visitor_loan_days = {beta_days}"
    )
    text += "\n[gateway]\nadmin = { port = 0 }\n\n[[gateway.sip2]]\nport = 0\n"
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_reload_swaps_rules_and_keeps_unchanged_clients(
    tmp_path: Path, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLEND_DEMO_ILS_PASSWORD", "pw")
    monkeypatch.setenv("INTERLEND_DEMO_NCIP_KEY", "key")
    ports = {}
    for member in ("alpha", "beta", "gamma"):
        sim = SimulatedIls(packaged_library(member), "pw")
        _, ports[member] = await nursery.start(partial(serve_simulator, sim))
    path = _config_file(tmp_path, ports)
    gateway = Gateway.from_file(path, handle_signals=False)
    async with trio.open_nursery() as inner:
        bound = await inner.start(gateway.run)
        assert bound.sip2[0][1] != 0
        before = dict(gateway.services.members)
        _config_file(tmp_path, ports, beta_days=7)
        assert await gateway.reload()
        assert gateway.rules.consortium.policy("beta").circulation.visitor_loan_days == 7
        assert gateway.services.members["alpha"] is before["alpha"]  # warm pool kept
        path.write_text("[nodes.broken]\nkind = 'nonsense'\n", encoding="utf-8")
        assert not await gateway.reload()
        assert gateway.rules.consortium.policy("beta").circulation.visitor_loan_days == 7
        path.unlink()
        assert not await gateway.reload()
        gateway.stop()


def _sip2(host: str, port: int, frames: list[bytes]) -> list[bytes]:
    answers = []
    with socket.create_connection((host, port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for frame in frames:
            sock.sendall(frame + b"\r")
            answer = b""
            while not answer.endswith(b"\r"):
                byte = reader.read(1)
                assert byte, "the gateway closed the connection"
                answer += byte
            answers.append(answer)
        reader.close()
    return answers


def test_demo_command_end_to_end(tmp_path: Path) -> None:
    """`interlend demo --manifest` as a user runs it: manifest, SIP2, admin, Ctrl-C."""
    manifest_path = tmp_path / "manifest.json"
    process = start_cli(
        "demo", "--sip2-port", "0", "--admin-port", "0", "--ncip-port", "0",
        "--manifest", str(manifest_path),
    )  # fmt: skip
    try:
        manifest = read_manifest(manifest_path, process, timeout=TIMEOUT)
        host, port = manifest["sip2"]["host"], manifest["sip2"]["port"]
        terminal = next(t for t in manifest["terminals"] if t["member"] == "beta")
        patron = next(p for p in manifest["patrons"] if p["member"] == "alpha" and not p["blocked"])
        login = f"9300CN{terminal['login']}|CO{terminal['password']}|".encode()
        ask = f"2300120261123    120000AObeta|AA{patron['id']}|AC|AD{patron['pin']}|".encode()
        answers = _sip2(host, port, [login, ask])
        health = httpx.get(f"{manifest['admin']['url']}/healthz", timeout=5)
        console = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway",
                "send",
                f"{host}:{port}",
                login.decode(),
                "9900302.00",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        member = manifest["members"]["alpha"]["sip2"]
        direct = _sip2(
            member["host"],
            member["port"],
            [f"9300CN{member['login']}|CO{member['password']}|".encode()],
        )
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=TIMEOUT)
    assert console.returncode == 0
    assert "< 941" in console.stdout
    assert "< 98Y" in console.stdout
    assert answers[0] == b"941\r"
    assert b"|BLY|CQY|" in answers[1]
    assert health.status_code == 200
    assert direct == [b"941\r"]
    assert {"alpha", "beta", "gamma"} == set(manifest["members"])
    assert any(p["blocked"] for p in manifest["patrons"])
    assert "SIP2 gateway" in out
    assert process.returncode == 0
    assert "gateway stopped" in err
    assert "|AD1234|" not in err  # PINs never reach the log


def test_serve_refuses_a_bad_configuration(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[nodes.x]\nkind = 'member'\nunknown_key = 1\n", encoding="utf-8")
    process = start_cli("serve", "--config", str(bad))
    _, err = process.communicate(timeout=TIMEOUT)
    missing = start_cli("serve", "--config", str(tmp_path / "absent.toml"))
    _, missing_err = missing.communicate(timeout=TIMEOUT)
    assert process.returncode == 1
    assert "unknown_key" in err
    assert "nothing started" in err
    assert missing.returncode == 1
    assert "absent.toml" in missing_err


def test_serve_reloads_on_sighup_and_stops_on_sigterm(tmp_path: Path) -> None:
    # Nothing listens there: the members are down, the gateway still starts.
    ports = dict(zip(("alpha", "beta", "gamma"), free_ports(3), strict=True))
    path = _config_file(tmp_path, ports)
    env_process = start_cli(
        "serve",
        "--config",
        str(path),
        extra_env={"INTERLEND_DEMO_ILS_PASSWORD": "x", "INTERLEND_DEMO_NCIP_KEY": "k"},
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        assert env_process.stderr is not None
        lines: list[str] = []
        while not any("gateway started" in line for line in lines):
            assert time.monotonic() < deadline
            lines.append(env_process.stderr.readline())
        env_process.send_signal(signal.SIGHUP)
        while not any("configuration reloaded" in line for line in lines):
            assert time.monotonic() < deadline
            lines.append(env_process.stderr.readline())
    finally:
        env_process.send_signal(signal.SIGTERM)
        _, rest = env_process.communicate(timeout=TIMEOUT)
    assert env_process.returncode == 0
    assert "gateway stopped" in rest


def test_send_reports_bad_addresses() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "gateway", "send", "no-port", "9900302.00"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    refused = subprocess.run(
        [sys.executable, "-m", "gateway", "send", f"127.0.0.1:{dead_port()}", "9900302.00"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert bad.returncode == 2
    assert "not HOST:PORT" in bad.stderr
    assert refused.returncode == 1
    assert "refused" in refused.stderr.lower()
