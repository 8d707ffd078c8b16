"""SIP2 server throughput: the simulated ILS's server vs pysip2's SIP2Server, same load.

Run by hand: ``.venv/bin/python bench/sim_server.py``.

Each server runs in a child process of its own (this script with ``--serve``), over
the same in-memory catalogue (``packaged_library("alpha")``).  Ours is
``SimulatedIls`` behind ``serve_simulator`` (trio, strict SIP2, login required);
pysip2's is a ``SIP2Server`` with ``login_required=True`` and async handlers for 93,
23 and 17 that look the patron or item up in the same data and build the same
answers (24 with AE/BL/CQ/BH/BV, 18 with status, title, owner, media type and
locations).  Its handlers are async because pysip2 hands sync handlers to a worker
thread, which would only slow it down, and it runs on anyio's trio backend by default,
which gave it less CPU per request than asyncio here (``--pysip2-backend`` to change).

The parent process is the load generator, kept as cheap as it can be: raw trio
sockets, frames encoded once up front (with the AY/AZ trailer, AY counting 0-9 on
each connection), and for every reply only a look for the closing CR, the response
code and the echoed AY digit; nothing is decoded while the clock runs.  Each of the
C connections logs in (93), waits until all of them have, and then sends R requests
one after the other, alternating 23 (with the PIN) and 17, each sent only once the
previous reply has arrived.  A run's rate is C x R over the time from the common
start to the last reply; latency is per request as seen by the client.

Before any timing, one 24 and one 18 from each server are decoded in full and checked
(a valid patron with the right PIN, the right title), so the load is real answers and
not error replies; then both get a warm-up run.  The machine is shared and noisy,
so the servers take turns, round after round (the one going first alternates); the
report gives each round's requests/s, the median of each server, the median of the
per-round ratios ours/pysip2 (above 1: ours is faster), and pooled p50/p99 latency.
It also reads each server's CPU time from /proc around every run: CPU per request
suffers less than requests/s from other jobs on the machine, and the client's own CPU
per request shows whether the load generator, not the server, is the limit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from gateway.demo.simulator.data import packaged_library
from protocols.sip2 import (
    CirculationStatus,
    ItemInformationRequest,
    ItemInformationResponse,
    LoginRequest,
    PatronStatusRequest,
    PatronStatusResponse,
    decode,
    encode,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from gateway.demo.simulator.data import LibraryData

SERVERS = ("ours", "pysip2")
PASSWORD = "bench-secret"
PIN = "1234"
INSTITUTION = "alpha"
PATRONS = [f"21001{n:09d}" for n in range(1, 21)]
ITEMS = [f"31001{n:09d}" for n in range(1, 51)]
# A fixed transaction date in the requests (pysip2 requires one in 23 and 17).
WHEN = datetime(2026, 11, 22, 23, 55, 13, tzinfo=UTC)
WARMUP_REQUESTS = 50


# --- the servers (child processes) -------------------------------------------------------


def _announce(port_file: Path, port: int) -> None:
    """Tell the parent the bound port (written whole, then renamed into place)."""
    partial_file = port_file.with_suffix(".tmp")
    partial_file.write_text(str(port))
    os.replace(partial_file, port_file)


def serve_ours(port_file: Path) -> None:
    """Serve the simulated ILS until terminated."""
    from gateway.demo.simulator.engine import SimulatedIls
    from gateway.demo.simulator.sip2_server import serve_simulator

    async def main() -> None:
        ils = SimulatedIls(packaged_library(INSTITUTION), PASSWORD)
        async with trio.open_nursery() as nursery:
            _host, port = await nursery.start(partial(serve_simulator, ils))
            _announce(port_file, port)

    trio.run(main)


def _utc_now_18() -> str:
    """The current time as SIP2's 18-character date, UTC (as our simulator writes it)."""
    return datetime.now(UTC).strftime("%Y%m%d    %H%M%S")


def pysip2_app(library: LibraryData) -> Any:
    """A pysip2 ``SIP2Server`` answering 93, 23 and 17 as the simulated ILS does."""
    from pysip2 import (
        ITEM_INFORMATION,
        LOGIN,
        PATRON_STATUS,
        ItemInformationResponse,
        LoginResponse,
        PatronStatusResponse,
        SIP2Server,
    )

    app = SIP2Server(
        login_required=True,
        institution_id=library.institution_id,
        library_name=library.name,
    )
    denied = "YYYY" + " " * 10

    @app.route(LOGIN)
    async def login(req: Any, ctx: Any) -> LoginResponse:
        ok = req.login_user_id == library.login and req.login_password == PASSWORD
        return LoginResponse(ok="1" if ok else "0")

    @app.route(PATRON_STATUS)
    async def patron_status(req: Any, ctx: Any) -> PatronStatusResponse:
        now = _utc_now_18()
        pin = req.patron_password
        patron = library.patrons.get(req.patron_identifier)
        if patron is None:
            return PatronStatusResponse(
                patron_status=denied,
                language="001",
                transaction_date=now,
                institution_id=library.institution_id,
                patron_identifier=req.patron_identifier,
                personal_name="",
                valid_patron="N",
                valid_patron_password="N" if pin else None,
                screen_message=("Patron not found",),
            )
        flags = [" "] * 14
        if patron.blocked:
            flags[0] = flags[3] = "Y"
            if patron.fines > 0:
                flags[10] = "Y"
        return PatronStatusResponse(
            patron_status="".join(flags),
            language="001",
            transaction_date=now,
            institution_id=library.institution_id,
            patron_identifier=req.patron_identifier,
            personal_name=patron.name,
            valid_patron="Y",
            valid_patron_password=("Y" if pin == patron.pin else "N") if pin else None,
            currency_type=library.currency,
            fee_amount=f"{patron.fines:.2f}",
        )

    @app.route(ITEM_INFORMATION)
    async def item_information(req: Any, ctx: Any) -> ItemInformationResponse:
        now = _utc_now_18()
        item = library.items.get(req.item_identifier)
        if item is None:
            return ItemInformationResponse(
                circulation_status="01",
                security_marker="00",
                fee_type="01",
                transaction_date=now,
                item_identifier=req.item_identifier,
                title_identifier="",
                screen_message=("Item not found",),
            )
        if item.holder is not None:
            status = "04"
        elif item.holds:
            status = "08"
        else:
            status = "03"
        return ItemInformationResponse(
            circulation_status=status,
            security_marker="02",
            fee_type="01",
            transaction_date=now,
            hold_queue_length=str(len(item.holds)),
            due_date=item.due.strftime("%Y%m%d    %H%M%S") if item.due is not None else None,
            item_identifier=item.id,
            title_identifier=item.title,
            owner=library.institution_id,
            media_type=f"{item.media_type:03d}",
            permanent_location=item.location,
            current_location=item.location if item.holder is None else "on loan",
            item_properties=item.properties or None,
        )

    return app


def serve_pysip2(port_file: Path, backend: str) -> None:
    """Serve pysip2's SIP2Server on the given anyio backend until terminated."""
    import anyio

    app = pysip2_app(packaged_library(INSTITUTION))

    async def main() -> None:
        async with app.start(host="127.0.0.1", port=0) as port:
            _announce(port_file, port)
            await anyio.sleep_forever()

    anyio.run(main, backend=backend)


@contextlib.contextmanager
def server_process(kind: str, backend: str, timeout: float = 30.0) -> Iterator[Server]:
    """Start one server in a child process; yield its port and pid; always terminate it."""
    with tempfile.TemporaryDirectory(prefix="sim-bench-") as tmp:
        port_file = Path(tmp) / "port"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            kind,
            "--port-file",
            str(port_file),
            "--pysip2-backend",
            backend,
        ]
        # The child's stdout goes to our stderr so that a --json line stays clean.
        proc = subprocess.Popen(command, stdout=sys.stderr)
        try:
            deadline = time.monotonic() + timeout
            while not port_file.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"{kind} server exited early with {proc.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} server did not start in {timeout:.0f} s")
                time.sleep(0.02)
            yield Server(int(port_file.read_text()), proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# --- the load (parent process) -----------------------------------------------------------


@dataclass(frozen=True)
class Server:
    port: int
    pid: int


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # utime and stime are fields 14 and 15 of the line, 12 and 13 after "pid (comm) ".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Plan:
    """One connection's frames, encoded once, with what each reply must start/end with."""

    login: bytes
    frames: list[bytes]
    codes: list[bytes]
    tags: list[bytes]


def plan(connection: int, requests: int) -> Plan:
    """Login with AY0, then 23 and 17 alternately, AY counting on from 1 (mod 10)."""
    login = encode(
        LoginRequest(login_user_id="gateway", login_password=PASSWORD),
        sequence=0,
        error_detection=True,
    )
    patron = PATRONS[connection % len(PATRONS)]
    frames, codes, tags = [], [], []
    for i in range(requests):
        sequence = (i + 1) % 10
        message: PatronStatusRequest | ItemInformationRequest
        if i % 2 == 0:
            message = PatronStatusRequest(
                transaction_date=WHEN,
                institution_id=INSTITUTION,
                patron_identifier=patron,
                patron_password=PIN,
            )
            codes.append(b"24")
        else:
            item = ITEMS[(connection * 7 + i // 2) % len(ITEMS)]
            message = ItemInformationRequest(
                transaction_date=WHEN, institution_id=INSTITUTION, item_identifier=item
            )
            codes.append(b"18")
        frames.append(encode(message, sequence=sequence, error_detection=True))
        tags.append(b"AY%d" % sequence)
    return Plan(login, frames, codes, tags)


async def connect(port: int) -> trio.socket.SocketType:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    await sock.connect(("127.0.0.1", port))
    return sock


async def exchange(sock: trio.socket.SocketType, frame: bytes) -> bytes:
    """Send one frame and read the reply up to its CR."""
    view = memoryview(frame)
    while view:
        view = view[await sock.send(view) :]
    reply = await sock.recv(65536)
    while not reply.endswith(b"\r"):
        more = await sock.recv(65536)
        if not more:
            raise ConnectionError(f"connection closed mid-reply after {reply!r}")
        reply += more
    return reply


async def log_in(sock: trio.socket.SocketType, login: bytes, kind: str) -> None:
    reply = await exchange(sock, login)
    if not reply.startswith(b"941"):
        raise RuntimeError(f"{kind}: login refused: {reply!r}")


async def client(
    port: int,
    kind: str,
    p: Plan,
    count: int,
    go: trio.Event,
    latencies: list[float],
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    sock = await connect(port)
    with sock:
        await log_in(sock, p.login, kind)
        task_status.started()
        await go.wait()
        perf = time.perf_counter
        for frame, code, tag in zip(p.frames[:count], p.codes, p.tags, strict=False):
            start = perf()
            reply = await exchange(sock, frame)
            latencies.append(perf() - start)
            if reply[:2] != code or reply[-10:-7] != tag:
                raise RuntimeError(f"{kind}: unexpected reply to {frame!r}: {reply!r}")


@dataclass(frozen=True)
class Run:
    requests_per_s: float
    latencies: list[float]
    server_cpu_us: float  # server CPU time per request
    client_cpu_us: float  # load generator CPU time per request


async def run_load(server: Server, kind: str, plans: list[Plan], count: int, timeout: float) -> Run:
    """All connections log in, then send ``count`` requests each; time the requests."""
    go = trio.Event()
    latencies: list[float] = []
    with trio.fail_after(timeout):
        async with trio.open_nursery() as nursery:
            for p in plans:
                await nursery.start(client, server.port, kind, p, count, go, latencies)
            server_cpu = cpu_seconds(server.pid)
            client_cpu = time.process_time()
            start = time.perf_counter()
            go.set()
        elapsed = time.perf_counter() - start
        client_cpu = time.process_time() - client_cpu
        server_cpu = cpu_seconds(server.pid) - server_cpu
    total = len(plans) * count
    return Run(total / elapsed, latencies, server_cpu / total * 1e6, client_cpu / total * 1e6)


async def verify(port: int, kind: str, library: LibraryData) -> list[str]:
    """Decode one 24 and one 18 in full and check them; return notes on oddities."""
    from protocols.sip2 import Dialect

    notes = []
    p = plan(0, 2)
    sock = await connect(port)
    with sock:
        await log_in(sock, p.login, kind)
        replies = [await exchange(sock, frame) for frame in p.frames]
    status, info = (decode(reply) for reply in replies)
    patron = library.patrons[PATRONS[0]]
    assert isinstance(status.message, PatronStatusResponse), (kind, replies[0])
    assert status.sequence == 1, (kind, replies[0])
    assert status.message.valid_patron is True, (kind, replies[0])
    assert status.message.valid_patron_password is True, (kind, replies[0])
    assert status.message.personal_name == patron.name, (kind, replies[0])
    item = library.items[ITEMS[0]]
    assert isinstance(info.message, ItemInformationResponse), (kind, replies[1])
    assert info.sequence == 2, (kind, replies[1])
    assert info.message.title_identifier == item.title, (kind, replies[1])
    assert info.message.circulation_status == CirculationStatus.AVAILABLE, (kind, replies[1])
    for reply in replies:
        try:
            decode(reply, Dialect(strict=True))
        except Exception as exc:
            notes.append(f"{kind}: reply not accepted by a strict decoder: {reply!r} ({exc})")
    return notes


@dataclass(frozen=True)
class Report:
    """Medians over the rounds; ratio is ours/pysip2 in requests/s (above 1: ours faster)."""

    connections: int
    requests_per_connection: int
    rounds: int
    pysip2_backend: str
    ours_req_per_s: list[float]
    pysip2_req_per_s: list[float]
    ratios: list[float]
    ours_median_req_per_s: float
    pysip2_median_req_per_s: float
    ratio_median: float
    ours_p50_ms: float
    pysip2_p50_ms: float
    ours_p99_ms: float
    pysip2_p99_ms: float
    ours_server_cpu_us_per_req: float
    pysip2_server_cpu_us_per_req: float
    cpu_ratio_median: float
    client_cpu_us_per_req: float
    target_ratio: float
    target_met: bool
    notes: list[str]


def _quantile_ms(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def bench(servers: dict[str, Server], args: argparse.Namespace) -> Report:
    library = packaged_library(INSTITUTION)
    plans = [plan(c, args.requests) for c in range(args.connections)]
    notes: list[str] = []
    for kind in SERVERS:
        notes += await verify(servers[kind].port, kind, library)
        await run_load(servers[kind], kind, plans, min(WARMUP_REQUESTS, args.requests), 60)
    rates: dict[str, list[float]] = {kind: [] for kind in SERVERS}
    latencies: dict[str, list[float]] = {kind: [] for kind in SERVERS}
    cpu: dict[str, list[float]] = {kind: [] for kind in SERVERS}
    client_cpu: list[float] = []
    for n in range(args.rounds):
        for kind in SERVERS if n % 2 == 0 else SERVERS[::-1]:
            run = await run_load(servers[kind], kind, plans, args.requests, args.timeout)
            rates[kind].append(run.requests_per_s)
            latencies[kind] += run.latencies
            cpu[kind].append(run.server_cpu_us)
            client_cpu.append(run.client_cpu_us)
    ratios = [o / t for o, t in zip(rates["ours"], rates["pysip2"], strict=True)]
    ratio = statistics.median(ratios)
    cpu_ratios = [t / o for o, t in zip(cpu["ours"], cpu["pysip2"], strict=True) if o > 0]
    return Report(
        connections=args.connections,
        requests_per_connection=args.requests,
        rounds=args.rounds,
        pysip2_backend=args.pysip2_backend,
        ours_req_per_s=[round(r, 1) for r in rates["ours"]],
        pysip2_req_per_s=[round(r, 1) for r in rates["pysip2"]],
        ratios=[round(r, 3) for r in ratios],
        ours_median_req_per_s=round(statistics.median(rates["ours"]), 1),
        pysip2_median_req_per_s=round(statistics.median(rates["pysip2"]), 1),
        ratio_median=round(ratio, 3),
        ours_p50_ms=round(_quantile_ms(latencies["ours"], 50), 3),
        pysip2_p50_ms=round(_quantile_ms(latencies["pysip2"], 50), 3),
        ours_p99_ms=round(_quantile_ms(latencies["ours"], 99), 3),
        pysip2_p99_ms=round(_quantile_ms(latencies["pysip2"], 99), 3),
        ours_server_cpu_us_per_req=round(statistics.median(cpu["ours"]), 1),
        pysip2_server_cpu_us_per_req=round(statistics.median(cpu["pysip2"]), 1),
        cpu_ratio_median=round(statistics.median(cpu_ratios), 3) if cpu_ratios else float("nan"),
        client_cpu_us_per_req=round(statistics.median(client_cpu), 1),
        target_ratio=args.target,
        target_met=ratio >= args.target,
        notes=notes,
    )


def print_table(r: Report) -> None:
    import pysip2

    print(
        f"SIP2 server, {r.connections} connections x {r.requests_per_connection} requests "
        f"(23/17 alternating, AY/AZ), {r.rounds} interleaved rounds, "
        f"Python {sys.version.split()[0]}, pysip2 {pysip2.__version__} on anyio/{r.pysip2_backend}"
    )
    print(f"{'round':18}{'ours':>12}{'pysip2':>12}{'ours/pysip2':>14}")
    for n, (o, t, ratio) in enumerate(
        zip(r.ours_req_per_s, r.pysip2_req_per_s, r.ratios, strict=True), start=1
    ):
        label = f"{n} ({SERVERS[(n - 1) % 2]} first)"
        print(f"{label:18}{o:>12,.0f}{t:>12,.0f}{ratio:>13.2f}x")
    print(
        f"{'median req/s':18}{r.ours_median_req_per_s:>12,.0f}"
        f"{r.pysip2_median_req_per_s:>12,.0f}{r.ratio_median:>13.2f}x"
    )
    print(f"{'p50 latency ms':18}{r.ours_p50_ms:>12.3f}{r.pysip2_p50_ms:>12.3f}")
    print(f"{'p99 latency ms':18}{r.ours_p99_ms:>12.3f}{r.pysip2_p99_ms:>12.3f}")
    print(
        f"{'server CPU us/req':18}{r.ours_server_cpu_us_per_req:>12.1f}"
        f"{r.pysip2_server_cpu_us_per_req:>12.1f}{r.cpu_ratio_median:>13.2f}x (pysip2/ours)"
    )
    print(f"{'client CPU us/req':18}{r.client_cpu_us_per_req:>12.1f}")
    verdict = "met" if r.target_met else "NOT met"
    print(f"target ours >= {r.target_ratio:.2f}x pysip2 req/s: {verdict} ({r.ratio_median:.2f}x)")
    for note in r.notes:
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=20, help="concurrent connections")
    parser.add_argument("--requests", type=int, default=200, help="requests per connection")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument(
        "--pysip2-backend",
        choices=("asyncio", "trio"),
        default="trio",
        help="anyio backend for pysip2's server (default trio, its faster one here)",
    )
    parser.add_argument("--target", type=float, default=1.5, help="wanted ours/pysip2 ratio")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per run")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve:
        if args.port_file is None:
            parser.error("--serve needs --port-file")
        if args.serve == "ours":
            serve_ours(args.port_file)
        else:
            serve_pysip2(args.port_file, args.pysip2_backend)
        return 0
    if args.requests < 2 or args.connections < 1 or args.rounds < 1:
        parser.error("need at least 1 connection, 2 requests and 1 round")

    with contextlib.ExitStack() as stack:
        servers = {
            kind: stack.enter_context(server_process(kind, args.pysip2_backend)) for kind in SERVERS
        }
        report = trio.run(bench, servers, args)
    if not args.json:
        print_table(report)
    print(json.dumps(asdict(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
