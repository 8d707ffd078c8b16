"""An honest kiosk beside abuse: its latency alone and while others misbehave.

Run by hand: ``.venv/bin/python bench/abuse.py [--rounds 3] [--seconds 5]``.

The gateway is ``interlend demo`` in a child process (JSON logs to a file, whose growth
is measured).  The honest kiosk is this process: it connects from 127.0.0.2 as
``alpha-kiosk`` and asks for its own patrons' status (23 with the PIN, the local
pass-through path) one request at a time; every half second a second honest kiosk
connects and logs in afresh.  The abuse runs in another child process (this script
with ``--abuse KIND``), from 127.0.0.1 and 127.0.0.10-59:

* ``bad-frames``: 8 connections that never log in, each sending 2,048 bad frames in
  one write, reconnecting when closed;
* ``bad-frames-logged-in``: the same, logged in first (as ``beta-kiosk``);
* ``logins``: 50 connections guessing terminal passwords (names never seen, so every
  guess would cost a password hash), each from its own address;
* ``connections``: as many connections as it can open (up to 6,000), held open.

Scenarios are interleaved round by round (``alone`` among them); the report gives, per
scenario, the medians over rounds of the honest kiosk's p50 and p99 request latency,
the honest logins' p50 and worst (and how many were refused: a connection flood from
many addresses fills the gateway's cap in all, and then new connections are closed
while the kiosks already connected are served), and the gateway's log growth.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trio.lowlevel

from protocols.sip2 import (
    Language,
    LoginRequest,
    PatronStatusRequest,
    encode,
)

HONEST = "127.0.0.2"
ABUSERS = [f"127.0.0.{n}" for n in range(10, 60)]
PATRON = "21001000000001"
BAD = b"9900302.00AY1AZ0000\r" * 2048
SCENARIOS = ("alone", "bad-frames", "bad-frames-logged-in", "logins", "connections")


def _login(name: str, password: str) -> bytes:
    return encode(LoginRequest(login_user_id=name, login_password=password)) + b"\r"


STATUS = (
    encode(
        PatronStatusRequest(
            language=Language.ENGLISH,
            transaction_date=None,
            institution_id="alpha",
            patron_identifier=PATRON,
            patron_password="1234",
        )
    )
    + b"\r"
)


async def _frame(stream: trio.SocketStream, buffer: bytearray) -> bytes:
    while b"\r" not in buffer:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise EOFError
        buffer += chunk
    frame, _, rest = bytes(buffer).partition(b"\r")
    buffer[:] = rest
    return frame


async def _drain(stream: trio.SocketStream) -> None:
    with contextlib.suppress(trio.BrokenResourceError, OSError):
        while await stream.receive_some(65536):
            pass


# --- the abuser (a child process) ----------------------------------------------------------


async def _bad_frames(host: str, port: int, address: str, login: bool) -> None:
    while True:
        try:
            stream = await trio.open_tcp_stream(host, port, local_address=address)
        except OSError:
            await trio.sleep(0.05)
            continue
        async with stream:
            with contextlib.suppress(trio.BrokenResourceError, OSError, EOFError):
                if login:
                    await stream.send_all(_login("beta-kiosk", "demo"))
                    await _frame(stream, bytearray())
                while True:
                    await stream.send_all(BAD)
                    await trio.lowlevel.checkpoint()


async def _guess_logins(host: str, port: int, address: str, worker: int) -> None:
    attempt = 0
    while True:
        try:
            stream = await trio.open_tcp_stream(host, port, local_address=address)
        except OSError:
            await trio.sleep(0.05)
            continue
        async with stream:
            with contextlib.suppress(trio.BrokenResourceError, OSError, EOFError):
                buffer = bytearray()
                while True:
                    attempt += 1
                    await stream.send_all(_login(f"guess-{worker}-{attempt}", "password1"))
                    await _frame(stream, buffer)


async def _hold_connections(host: str, port: int, limit: int) -> None:
    held: list[trio.SocketStream] = []
    async with trio.open_nursery() as nursery:
        while True:
            if len(held) < limit:
                try:
                    stream = await trio.open_tcp_stream(
                        host, port, local_address=ABUSERS[len(held) % len(ABUSERS)]
                    )
                except OSError:
                    await trio.sleep(0.05)
                    continue
                held.append(stream)
                nursery.start_soon(_drain, stream)
            else:
                await trio.sleep(0.1)
                held = [s for s in held if s.socket.fileno() != -1]


async def abuse(kind: str, host: str, port: int) -> None:
    async with trio.open_nursery() as nursery:
        if kind in ("bad-frames", "bad-frames-logged-in"):
            for n in range(8):
                address = ABUSERS[n]
                nursery.start_soon(_bad_frames, host, port, address, kind.endswith("logged-in"))
        elif kind == "logins":
            for n, address in enumerate(ABUSERS):
                nursery.start_soon(_guess_logins, host, port, address, n)
        elif kind == "connections":
            nursery.start_soon(_hold_connections, host, port, 6000)


# --- the honest kiosk ----------------------------------------------------------------------


@dataclass
class Sample:
    requests: list[float] = field(default_factory=list)
    logins: list[float] = field(default_factory=list)
    refused: int = 0
    """Honest logins whose connection the gateway closed (at its connection cap)."""


async def _honest_requests(host: str, port: int, sample: Sample, until: float) -> None:
    stream = await trio.open_tcp_stream(host, port, local_address=HONEST)
    async with stream:
        buffer = bytearray()
        await stream.send_all(_login("alpha-kiosk", "demo"))
        assert (await _frame(stream, buffer)).startswith(b"941")
        while trio.current_time() < until:
            started = time.perf_counter()
            await stream.send_all(STATUS)
            await _frame(stream, buffer)
            sample.requests.append(time.perf_counter() - started)


async def _honest_logins(host: str, port: int, sample: Sample, until: float) -> None:
    while trio.current_time() < until:
        started = time.perf_counter()
        try:
            with trio.fail_after(30):
                stream = await trio.open_tcp_stream(host, port, local_address=HONEST)
                async with stream:
                    await stream.send_all(_login("alpha-kiosk", "demo"))
                    answer = await _frame(stream, bytearray())
                    assert answer.startswith(b"941"), answer
        except (OSError, trio.BrokenResourceError, EOFError, trio.TooSlowError):
            sample.refused += 1  # the gateway is at its connection cap
        else:
            sample.logins.append(time.perf_counter() - started)
        await trio.sleep(0.5)


async def honest(host: str, port: int, seconds: float) -> Sample:
    sample = Sample()
    until = trio.current_time() + seconds
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_honest_requests, host, port, sample, until)
        nursery.start_soon(_honest_logins, host, port, sample, until)
    return sample


# --- the run -------------------------------------------------------------------------------


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(rounds: int, seconds: float) -> dict[str, dict[str, float]]:
    results: dict[str, list[dict[str, float]]] = {s: [] for s in SCENARIOS}
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "manifest.json"
        log_path = Path(tmp) / "gateway.log"
        with log_path.open("wb") as log:
            options = ["--sip2-port", "0", "--admin-port", "0", "--manifest", str(manifest)]
            demo = subprocess.Popen(
                [sys.executable, "-m", "gateway", "--log-format", "json", "demo", *options],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            try:
                deadline = time.monotonic() + 60
                while not manifest.exists():
                    if demo.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("the demo did not start")
                    time.sleep(0.05)
                address = json.loads(manifest.read_text())["sip2"]
                host, port = address["host"], address["port"]
                for number in range(rounds):
                    order = SCENARIOS if number % 2 == 0 else tuple(reversed(SCENARIOS))
                    for scenario in order:
                        results[scenario].append(_one(scenario, host, port, seconds, log_path))
                        print(scenario, results[scenario][-1], flush=True)
            finally:
                _stop(demo)
    return {
        scenario: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for scenario, runs in results.items()
    }


def _one(scenario: str, host: str, port: int, seconds: float, log_path: Path) -> dict[str, float]:
    abuser = None
    if scenario != "alone":
        abuser = subprocess.Popen(
            [sys.executable, __file__, "--abuse", scenario, "--host", host, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # let the abuse reach full strength before measuring
    try:
        before = log_path.stat().st_size
        started = time.monotonic()
        sample = trio.run(honest, host, port, seconds)
        elapsed = time.monotonic() - started
        grown = log_path.stat().st_size - before
    finally:
        if abuser is not None:
            abuser.kill()
            abuser.wait()
            time.sleep(1.0)  # the gateway closes what the abuser left
    return {
        "requests": float(len(sample.requests)),
        "p50_ms": 1000 * statistics.median(sample.requests),
        "p99_ms": 1000 * _percentile(sample.requests, 0.99),
        "login_p50_ms": 1000 * statistics.median(sample.logins) if sample.logins else -1,
        "login_max_ms": 1000 * max(sample.logins) if sample.logins else -1,
        "logins_refused": float(sample.refused),
        "log_kib_per_s": grown / 1024 / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--abuse", choices=SCENARIOS[1:])
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.abuse:
        with contextlib.suppress(KeyboardInterrupt):
            trio.run(abuse, args.abuse, args.host, args.port)
        return 0
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    summary = run(args.rounds, args.seconds)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
