"""The gateway's cost on the wire: pass-through vs straight to the ILS, and idle kiosks.

Run by hand (``make bench``).  ``interlend demo`` runs in a child process (three
simulated ILSs and the gateway, as a user starts it); this process is the kiosks.

**Pass-through.**  The same requests (23 patron status with PIN, 17 item
information, alternating; pre-encoded with AY/AZ) go either through the gateway as
``alpha-kiosk`` to alpha's own patrons and items (the local pass-through path) or
straight to alpha's simulated ILS with the gateway's own account.  Both paths end at
the same simulator in the same child process, so the comparison is the gateway's hop
alone.  Rounds alternate the two paths and which goes first; the report gives medians
and the median of the per-round ratios:

* throughput with ``--connections`` kiosks at once (requests/s, gateway / direct);
* latency with one kiosk, one request at a time: p50 of each path, and the p50 the
  gateway adds.

**Idle kiosks.**  ``--idle`` connections log in and then stay idle; the child's
resident memory before and after, divided by the count, is the cost of one idle
kiosk connection.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from protocols.sip2 import (
    ItemInformationRequest,
    Language,
    LoginRequest,
    Message,
    PatronStatusRequest,
    encode,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Target:
    """Where a kiosk connects and how it logs in."""

    name: str
    host: str
    port: int
    login: str
    password: str


def start_demo(manifest: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway",
            "--log-format",
            "json",
            "demo",
            "--sip2-port",
            "0",
            "--admin-port",
            "0",
            "--manifest",
            str(manifest),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_manifest(path: Path, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the demo did not start")
        time.sleep(0.05)
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def frames(count: int) -> list[tuple[bytes, bytes]]:
    """``count`` requests with their sequence numbers, and the code each answer starts with."""
    built: list[tuple[bytes, bytes]] = []
    for n in range(count):
        message: Message
        if n % 2 == 0:
            message = PatronStatusRequest(
                language=Language.ENGLISH,
                transaction_date=NOW,
                institution_id="alpha",
                patron_identifier=f"21001{(n % 20) + 1:09d}",
                patron_password="1234",
            )
            expected = b"24"
        else:
            message = ItemInformationRequest(
                transaction_date=NOW,
                institution_id="alpha",
                item_identifier=f"31001{(n % 40) + 1:09d}",
            )
            expected = b"18"
        built.append((encode(message, sequence=(n + 1) % 10, error_detection=True), expected))
    return built


async def read_frame(stream: trio.SocketStream, buffer: bytearray) -> bytes:
    while True:
        end = buffer.find(b"\r")
        if end >= 0:
            frame = bytes(buffer[:end])
            del buffer[: end + 1]
            return frame
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise ConnectionError("closed")
        buffer += chunk


async def kiosk(
    path: Target, work: list[tuple[bytes, bytes]], latencies: list[float] | None
) -> None:
    stream = await trio.open_tcp_stream(path.host, path.port)
    buffer = bytearray()
    try:
        login = encode(
            LoginRequest(login_user_id=path.login, login_password=path.password),
            sequence=0,
            error_detection=True,
        )
        await stream.send_all(login)
        if not (await read_frame(stream, buffer)).startswith(b"941"):
            raise SystemExit(f"login refused on {path.name}")
        for data, expected in work:
            started = time.perf_counter()
            await stream.send_all(data)
            answer = await read_frame(stream, buffer)
            if latencies is not None:
                latencies.append(time.perf_counter() - started)
            if not answer.startswith(expected):
                raise SystemExit(f"{path.name}: unexpected answer {answer[:40]!r}")
    finally:
        await stream.aclose()


async def throughput(path: Target, connections: int, requests: int) -> float:
    work = frames(requests)
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(kiosk, path, work, None)
    return connections * requests / (time.perf_counter() - started)


async def latency(path: Target, requests: int) -> float:
    samples: list[float] = []
    await kiosk(path, frames(requests), samples)
    return statistics.median(samples)


@dataclass
class Round:
    gateway_rps: float
    direct_rps: float
    gateway_p50_us: float
    direct_p50_us: float


async def passthrough(
    gateway: Target, direct: Target, rounds: int, connections: int, requests: int
) -> list[Round]:
    await throughput(gateway, connections, 50)  # warm both paths
    await throughput(direct, connections, 50)
    results = []
    for n in range(rounds):
        order = (gateway, direct) if n % 2 == 0 else (direct, gateway)
        rps = {p.name: await throughput(p, connections, requests) for p in order}
        p50 = {p.name: await latency(p, requests * 2) for p in order}
        results.append(
            Round(rps["gateway"], rps["direct"], p50["gateway"] * 1e6, p50["direct"] * 1e6)
        )
        print(
            f"round {n + 1}: gateway {rps['gateway']:8.0f} req/s  direct {rps['direct']:8.0f}"
            f" req/s  p50 {p50['gateway'] * 1e6:6.0f} µs vs {p50['direct'] * 1e6:6.0f} µs",
            flush=True,
        )
    return results


async def idle(gateway: Target, count: int, pid: int) -> tuple[int, int]:
    before = rss_kib(pid)
    streams: list[trio.SocketStream] = []
    login = encode(
        LoginRequest(login_user_id=gateway.login, login_password=gateway.password),
        sequence=0,
        error_detection=True,
    )

    async def open_one() -> None:
        stream = await trio.open_tcp_stream(gateway.host, gateway.port)
        streams.append(stream)
        await stream.send_all(login)
        if not (await read_frame(stream, bytearray())).startswith(b"941"):
            raise SystemExit("idle kiosk login refused")

    try:
        for start in range(0, count, 200):
            async with trio.open_nursery() as nursery:
                for _ in range(min(200, count - start)):
                    nursery.start_soon(open_one)
        await trio.sleep(1)
        after = rss_kib(pid)
    finally:
        for stream in streams:
            await stream.aclose()
    return before, after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print a JSON summary line too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest_path = Path(tmp) / "manifest.json"
        process = start_demo(manifest_path)
        try:
            manifest = wait_manifest(manifest_path, process)
            host, port = manifest["sip2"]["host"], manifest["sip2"]["port"]
            terminal = next(t for t in manifest["terminals"] if t["member"] == "alpha")
            member = manifest["members"]["alpha"]["sip2"]
            gateway = Target("gateway", host, port, terminal["login"], terminal["password"])
            direct = Target(
                "direct", member["host"], member["port"], member["login"], member["password"]
            )
            rounds = trio.run(
                passthrough, gateway, direct, args.rounds, args.connections, args.requests
            )
            before, after = trio.run(idle, gateway, args.idle, process.pid)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    ratio = statistics.median(r.gateway_rps / r.direct_rps for r in rounds)
    added = statistics.median(r.gateway_p50_us - r.direct_p50_us for r in rounds)
    per_connection = (after - before) * 1024 / args.idle
    summary = {
        "throughput_ratio_median": round(ratio, 3),
        "throughput_ratio_min": round(min(r.gateway_rps / r.direct_rps for r in rounds), 3),
        "gateway_rps_median": round(statistics.median(r.gateway_rps for r in rounds)),
        "direct_rps_median": round(statistics.median(r.direct_rps for r in rounds)),
        "gateway_p50_us_median": round(statistics.median(r.gateway_p50_us for r in rounds)),
        "direct_p50_us_median": round(statistics.median(r.direct_p50_us for r in rounds)),
        "added_p50_us_median": round(added),
        "idle_connections": args.idle,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "bytes_per_idle_connection": round(per_connection),
        "connections": args.connections,
        "requests_per_connection": args.requests,
        "rounds": [asdict(r) for r in rounds],
    }
    print()
    print(f"throughput gateway/direct: median {ratio:.2f} (target >= 0.6)")
    print(f"added p50 latency (1 kiosk): median {added:.0f} µs (target <= 250 µs)")
    print(
        f"idle kiosks: {args.idle} connections, RSS {before} -> {after} KiB,"
        f" {per_connection / 1024:.1f} KiB each (target <= 20 KB)"
    )
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
