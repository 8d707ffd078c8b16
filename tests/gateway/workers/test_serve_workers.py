"""`interlend simulate` and `interlend serve --workers 2` as an operator runs them: the
simulated ILSs on their own, two gateway workers under a supervisor on a test Redis
with the example configuration pointed at them, a worker killed and replaced, SIGHUP
and SIGTERM.

The processes are started once for the module (starting a worker takes seconds), and
the tests run in file order against them; each waits on log lines, manifests and
polls, never on a sleep.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

import config
from gateway.cli.main import main
from tests.helpers.cli import read_manifest, start_cli
from tests.helpers.logtail import LogTail
from tests.helpers.services import free_ports

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

TIMEOUT = 60
"""Starting a worker imports the whole gateway: seconds on a loaded machine."""
EXAMPLE = Path(config.__file__).parent / "examples" / "simulated.toml"
ENV = {
    "INTERLEND_SIMULATOR_PASSWORD": "simulated-ils-password",
    "INTERLEND_NCIP_KEY": "ncip-key-for-the-tests",
    "INTERLEND_PATRON_KEY": "patron-key-for-the-tests",
    "INTERLEND_ADMIN_TOKEN": "admin-token-for-the-workers-tests",
}
BEARER = {"authorization": f"Bearer {ENV['INTERLEND_ADMIN_TOKEN']}"}
TODAY = "20261123    120000"


class Sip2:
    """A kiosk over a plain socket (the test drives processes, so it is synchronous)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.reader = self.sock.makefile("rb")

    def ask(self, frame: str) -> str:
        """Send a frame, return the answer (``""`` when the gateway closed the line)."""
        try:
            self.sock.sendall(frame.encode() + b"\r")
            answer = b""
            while not answer.endswith(b"\r"):
                byte = self.reader.read(1)
                if not byte:
                    return ""
                answer += byte
        except OSError:
            return ""
        return answer.decode()

    def login(self, terminal: str = "beta-kiosk") -> str:
        return self.ask(f"9300CN{terminal}|COdemo|CPbeta-main|")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@dataclass
class Served:
    """The running supervisor and what the tests need of it."""

    process: subprocess.Popen[str]
    logs: LogTail
    sip2_port: int
    admin: str
    config: Path
    manifest: dict[str, Any]

    def worker_pids(self) -> dict[int, int]:
        """The latest process of each worker, from the supervisor's log."""
        return {line["worker"]: line["pid"] for line in self.logs.matching("worker started")}

    def metric(self, name: str) -> dict[str, float]:
        """One metric's samples, by their label text."""
        text = httpx.get(f"{self.admin}/metrics", headers=BEARER, timeout=10).text
        found: dict[str, float] = {}
        for line in text.splitlines():
            match = re.fullmatch(rf"{name}(\{{.*\}})? (\S+)", line)
            if match:
                found[match.group(1) or ""] = float(match.group(2))
        return found


def _config_text(manifest: dict[str, Any], redis_url: str, ports: list[int]) -> str:
    """The example configuration pointed at the simulators, a test Redis and free ports."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for n, member in enumerate(("alpha", "beta", "gamma")):
        sip2 = manifest["members"][member]["sip2"]
        text = text.replace(f"127.0.0.1:{7101 + n}", f"{sip2['host']}:{sip2['port']}")
    sip2_port, ncip_port, admin_port = ports
    text = text.replace("port = 6001", f"port = {sip2_port}")
    text = text.replace("port = 8080", f"port = {ncip_port}")
    text = text.replace(
        "port = 9090", f'port = {admin_port}\ntokens = [{{ env = "INTERLEND_ADMIN_TOKEN" }}]'
    )
    text = text.replace('url = "redis://127.0.0.1:6379/0"', f'url = "{redis_url}"')
    return text.replace('"interlend-simulated"', f'"workers-{secrets.token_hex(4)}"')


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`interlend simulate` on free ports; stopped with SIGTERM (it must exit 0)."""
    path = tmp_path_factory.mktemp("simulate") / "simulated.json"
    process = start_cli(
        "simulate", "--sip2-port-base", "0", "--ncip-port-base", "0", "--manifest", str(path),
        extra_env=ENV,
    )  # fmt: skip
    try:
        yield read_manifest(path, process, timeout=TIMEOUT)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err


@pytest.fixture(scope="module")
def served(
    simulated: dict[str, Any], redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`interlend serve --workers 2` with the example configuration, both workers ready."""
    ports = free_ports(3)
    path = tmp_path_factory.mktemp("serve") / "simulated.toml"
    path.write_text(_config_text(simulated, redis_url, ports), encoding="utf-8")
    process = start_cli("serve", "--config", str(path), "--workers", "2", extra_env=ENV)
    logs = LogTail(process)
    try:
        logs.wait_for("worker ready", count=2, timeout=TIMEOUT)
        yield Served(process, logs, ports[0], f"http://127.0.0.1:{ports[2]}", path, simulated)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(TIMEOUT)
        logs.join()
        assert process.stdout is not None
        process.stdout.close()


def test_a_kiosk_checks_out_through_serve_against_simulate(served: Served) -> None:
    """A visitor's checkout goes through a worker to the simulated ILSs, and the loan is
    in the shared registry that the supervisor's admin port shows."""
    patron = next(p for p in served.manifest["patrons"] if p["member"] == "alpha")
    kiosk = Sip2(served.sip2_port)
    try:
        login = kiosk.login()
        status = kiosk.ask(f"23001{TODAY}AObeta|AA{patron['id']}|AC|AD{patron['pin']}|")
        checkout = kiosk.ask(
            f"11YN{TODAY}{TODAY}AObeta|AA{patron['id']}|AB31002000000001|AC|AD{patron['pin']}|"
        )
    finally:
        kiosk.close()
    loans = httpx.get(f"{served.admin}/api/loans", headers=BEARER, timeout=10).json()["loans"]
    ready = httpx.get(f"{served.admin}/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.text == "ok: 2 worker(s) ready\n"
    assert login == "941\r"
    assert "|BLY|CQY|" in status
    assert checkout.startswith("121")
    assert [(loan["item"], loan["owner"], loan["home"]) for loan in loans] == [
        ("31002000000001", "beta", "alpha")
    ]
    assert served.metric("interlend_sip2_requests_total")[
        '{code="11",result="ok",route="reciprocal"}'
    ] == pytest.approx(1.0)


def test_a_console_session_opened_at_the_supervisor_works_on_every_worker(
    served: Served,
) -> None:
    """A person logs in to the console at the supervisor's admin port (a browser's POST,
    with its Origin); the cookie then opens the pages whichever worker the supervisor
    passes them to; logging out ends it on all of them."""
    origin = served.admin
    with httpx.Client(base_url=served.admin, timeout=10) as browser:
        login = browser.post(
            "/login",
            data={"token": ENV["INTERLEND_ADMIN_TOKEN"], "next": "/"},
            headers={"origin": origin},
        )
        cookie = login.headers.get("set-cookie", "").split(";", 1)[0]
        pages = [browser.get("/loans", headers={"cookie": cookie}) for _ in range(4)]
        logout = browser.post("/logout", headers={"cookie": cookie, "origin": origin})
        after = [browser.get("/loans", headers={"cookie": cookie}) for _ in range(4)]
    assert login.status_code == 303, login.text
    assert cookie.startswith("interlend_session=")
    assert [page.status_code for page in pages] == [200] * 4
    assert "<h1>Loans" in pages[0].text
    assert logout.status_code == 303
    assert [(page.status_code, page.headers.get("location")) for page in after] == [
        (303, "/login?next=%2Floans")
    ] * 4


def _spread_kiosks(served: Served) -> list[Sip2]:
    """Kiosks logged in until both workers hold some (the kernel spreads them)."""
    kiosks: list[Sip2] = []
    for _ in range(64):
        kiosk = Sip2(served.sip2_port)
        kiosks.append(kiosk)
        assert kiosk.login() == "941\r"
        held = served.metric("interlend_sip2_connections")
        if len(kiosks) >= 6 and all(held.get(f'{{worker="{w}"}}', 0) >= 1 for w in (0, 1)):
            return kiosks
    raise AssertionError(f"64 kiosks all went to one worker: {held}")


def test_a_killed_worker_is_replaced_and_only_its_kiosks_are_lost(served: Served) -> None:
    """SIGKILL one worker: the supervisor starts another; the other worker's kiosks go
    on, new kiosks are all served meanwhile, and the counts already made stay."""
    kiosks = _spread_kiosks(served)
    on_worker_0 = served.metric("interlend_sip2_connections")['{worker="0"}']
    requests_before = sum(served.metric("interlend_sip2_requests_total").values())
    victim = served.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    died = served.logs.wait_for("worker died; starting another", worker=0)
    new_kiosks = [Sip2(served.sip2_port) for _ in range(8)]
    new_logins = [k.login() for k in new_kiosks]
    served.logs.wait_for("worker ready", worker=0, count=2, timeout=TIMEOUT)
    answers = [k.ask("9900302.00") for k in kiosks]
    for kiosk in kiosks + new_kiosks:
        kiosk.close()
    lost = answers.count("")
    assert died[0]["status"] == "killed by SIGKILL"
    assert served.worker_pids()[0] != victim
    assert new_logins == ["941\r"] * 8
    assert lost == on_worker_0
    assert all(a.startswith("98") for a in answers if a)
    assert served.metric("interlend_worker_restarts_total")[""] == 1
    # The dead worker's counts (read before the kill) stay in the totals, and the new
    # logins are added: the total never went down.
    assert sum(served.metric("interlend_sip2_requests_total").values()) >= requests_before + 8


def test_sighup_reloads_every_worker(served: Served) -> None:
    """SIGHUP to the supervisor reaches each worker, which reloads the file."""
    before = len(served.logs.matching("configuration reloaded"))
    served.process.send_signal(signal.SIGHUP)
    reloaded = served.logs.wait_for("configuration reloaded", count=before + 2)
    assert {line["worker"] for line in reloaded[before:]} == {0, 1}


def test_sigterm_drains_every_worker_and_stops(served: Served) -> None:
    """SIGTERM: both workers drain and exit 0, then the supervisor; the ports close."""
    pids = served.worker_pids()
    served.process.send_signal(signal.SIGTERM)
    served.process.wait(TIMEOUT)
    served.logs.join()
    stopped = served.logs.matching("worker stopped")
    assert served.process.returncode == 0
    assert {(line["worker"], line["status"]) for line in stopped} == {(0, "exit 0"), (1, "exit 0")}
    assert served.logs.matching("supervisor stopped")
    assert {line["worker"] for line in served.logs.matching("gateway stopped")} >= {0, 1}
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", served.sip2_port), timeout=5)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_workers_need_a_shared_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`serve --workers 2` on the in-memory store is refused in one line, exit 2."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    text = EXAMPLE.read_text(encoding="utf-8").replace('backend = "redis"', 'backend = "memory"')
    path = tmp_path / "memory.toml"
    path.write_text(text, encoding="utf-8")
    status = main(["serve", "--config", str(path), "--workers", "2"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert "needs a shared state store" in err


def test_simulate_refuses_an_unknown_member(capsys: pytest.CaptureFixture[str]) -> None:
    """`simulate --members` with a library it has no data for: one line, exit 2."""
    status = main(["simulate", "--members", "alpha,zeta"])
    err = capsys.readouterr().err
    assert status == 2
    expected = "no simulated data for zeta (choose from alpha, beta, gamma)"
    assert err == f"interlend simulate: --members: {expected}\n"


def test_workers_refuse_a_port_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SIP2 port already taken: one line, exit 1, and no worker started."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = EXAMPLE.read_text(encoding="utf-8").replace("port = 6001", f"port = {port}")
        path = tmp_path / "taken.toml"
        path.write_text(text, encoding="utf-8")
        status = main(["serve", "--config", str(path), "--workers", "2"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("interlend: a port is already in use")
    assert err.count("\n") == 1
