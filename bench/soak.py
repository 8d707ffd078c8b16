"""Load and soak: a thousand kiosks for ten minutes on ``serve --workers 2``.

Run by hand, on loopback only (never a test)::

    .venv/bin/python bench/soak.py [--kiosks 1000] [--minutes 10] [--think-s 5]
        [--hang beta] [--chart docs/soak.svg] [--json soak.json]

What it starts, each a process of its own (and stops at the end):

* a redis-server on a free port, append-only file on (``appendfsync everysec``, Redis's
  default), holding the loan registry and the ledger outbox;
* anvil (``node_modules/.bin/anvil``) with the registry contract deployed and the three
  libraries admitted the way ``interlend demo --chain`` does it; the gateway anchors
  with alpha's key (``serve --workers`` refuses the embedded chain: one per process);
* ``interlend simulate --members M`` once per member, so that one member's ILS can be
  hung alone: ``SIGSTOP`` to its process (SIP2 and NCIP both stop answering, while the
  kernel still accepts connections), ``SIGCONT`` a minute later;
* ``interlend serve --workers 2`` on ``config/examples/simulated.toml`` pointed at all
  of the above, with a kiosk terminal of its own per member (``<member>-soak``).

This process is the kiosks (``--kiosks``), from 127.0.0.2, .3, … (100 per address, under
the gateway's per-address cap).  Each belongs to a library (round-robin), logs in as
that library's terminal, and then loops: a think time (exponential, mean
``--think-s``), then one request of a real day's mix: patron status 40 %, checkout 25 %,
checkin 25 %, renew 5 %, item or patron information 5 %.  A quarter of the patrons
are visitors (another library's, so the request is reciprocal).  A kiosk checks out
its own library's items, and checks in and renews what it lent before where it can.

Every request is recorded: when, latency, the kiosk's library, whether it touched the
hung member (its kiosk or its patron's home), and the outcome: answered (ok, or a
refusal the kiosk expects, such as an item already on loan: not an error), or an
error (an answer saying a member's ILS cannot be reached or is not answering, a 96 or
another answer than the request's, no answer within ``--timeout-s``, a closed
connection).  Logins come first, spread over ``--ramp-s``; the run's clock starts when
every kiosk is in, and each kiosk's first think time with it.  The hang sits in the
middle of the run.

Every 5 s a sampler reads the throughput, p50/p99 per kiosk library, the errors, the
RSS and open file descriptors of the supervisor and each worker (``/proc``), and
Redis's ``used_memory`` and loan count (the registry's history).  The report gives the
figures, Redis memory growth per loan (a least-squares slope), and the other libraries'
p99 during the hang against the same length of time just before it.  ``--chart`` draws
the run (throughput, p99, RSS, fds, Redis memory; the hang shaded).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import coredis
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.demo.chain import deploy_demo_chain  # noqa: E402
from protocols.sip2 import (  # noqa: E402
    CheckinRequest,
    CheckoutRequest,
    ItemInformationRequest,
    Language,
    LoginRequest,
    Message,
    PatronInformationRequest,
    PatronStatusRequest,
    RenewRequest,
    Summary,
    encode,
)
from tests.helpers.services import (  # noqa: E402
    AnvilNode,
    RedisServer,
    free_port,
    start_anvil,
    start_redis,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

MEMBERS = ("alpha", "beta", "gamma")
NAMESPACE = "interlend-simulated"  # the example configuration's
KIOSKS_PER_ADDRESS = 100
SAMPLE_S = 5.0
HANG_S = 60.0
OPS = ("status", "checkout", "checkin", "renew", "other")
MIX = (0.40, 0.25, 0.25, 0.05, 0.05)
VISITORS = 0.25
EXPECTED = {"status": b"24", "checkout": b"12", "checkin": b"10", "renew": b"30"}

OK, REFUSED, UNAVAILABLE, ERROR_96, TIMEOUT, CLOSED, WRONG = range(7)
OUTCOMES = ("ok", "refused", "unavailable", "96", "timeout", "closed", "wrong answer")
ERRORS = (UNAVAILABLE, ERROR_96, TIMEOUT, CLOSED, WRONG)
"""An answer saying a member's ILS (or the registry) cannot be reached or is not
answering is an error too: the kiosk's patron got nothing done because of a failure."""
FAILURE_SCREENS = (b"cannot be reached", b"is not answering", b"try again later")


# --- the processes ----------------------------------------------------------------------


def _env(secrets: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **secrets, "PYTHONPATH": str(ROOT)}


def _wait(what: str, ready: Any, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGCONT)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def simulators(
    tmp: Path, env: dict[str, str]
) -> Iterator[tuple[dict[str, subprocess.Popen[bytes]], dict[str, Any]]]:
    """``interlend simulate`` once per member; their processes and merged manifest."""
    processes: dict[str, subprocess.Popen[bytes]] = {}
    manifest: dict[str, Any] = {"members": {}, "patrons": [], "items": []}
    try:
        for member in MEMBERS:
            path = tmp / f"simulate-{member}.json"
            command = [sys.executable, "-m", "gateway", "--log-format", "json", "simulate"]
            options = ["--members", member, "--sip2-port-base", "0", "--ncip-port-base", "0"]
            processes[member] = subprocess.Popen(
                [*command, *options, "--manifest", str(path)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(tmp / f"simulate-{member}.log").open("wb"),
            )
            _wait(f"interlend simulate --members {member}", path.exists, processes[member])
            one = json.loads(path.read_text(encoding="utf-8"))
            manifest["members"].update(one["members"])
            manifest["patrons"] += one["patrons"]
            manifest["items"] += one["items"]
        yield processes, manifest
    finally:
        for process in processes.values():
            _stop(process)


def gateway_config(
    tmp: Path, manifest: dict[str, Any], redis_url: str, chain: dict[str, Any]
) -> tuple[Path, int, int]:
    """The example configuration pointed at this run's servers: its path, the SIP2 and
    admin ports."""
    text = (ROOT / "config/examples/simulated.toml").read_text(encoding="utf-8")
    sip2, ncip, admin = free_port(), free_port(), free_port()
    replacements = [
        ("port = 6001", f"port = {sip2}"),
        ("port = 8080", f"port = {ncip}"),
        ("port = 9090", f"port = {admin}"),
        ('url = "redis://127.0.0.1:6379/0"', f'url = "{redis_url}"'),
        (
            'backend = "none"',
            f'backend = "evm"\nrpc_url = "{chain["rpc_url"]}"\nchain_id = {chain["chain_id"]}\n'
            f'contract = "{chain["contract"]}"\ndeploy_block = {chain["deploy_block"]}\n'
            'key = { env = "INTERLEND_LEDGER_KEY" }\nbatch_size = 100\nbatch_interval_s = 10',
        ),
    ]
    for n, member in enumerate(MEMBERS, start=1):
        port = manifest["members"][member]["sip2"]["port"]
        replacements.append((f'"127.0.0.1:710{n}"', f'"127.0.0.1:{port}"'))
    for old, new in replacements:
        if text.count(old) != 1:
            raise SystemExit(f"config/examples/simulated.toml: expected {old!r} once")
        text = text.replace(old, new)
    demo_hash = re.search(r'password_hash = "([^"]+)"', text)
    assert demo_hash is not None  # alpha-kiosk's, whose password is "demo"
    for member in MEMBERS:
        text += (
            f'\n[[nodes.{member}.terminals]]\nlogin = "{member}-soak"\n'
            f'password_hash = "{demo_hash.group(1)}"\nlocation = "{member}-main"\n'
        )
    path = tmp / "soak.toml"
    path.write_text(text, encoding="utf-8")
    return path, sip2, admin


@dataclass
class Servers:
    """What a soak's gateway talks to, started (``start_servers``), and its configuration."""

    redis: RedisServer
    anvil: AnvilNode
    env: dict[str, str]
    ils: dict[str, subprocess.Popen[bytes]]
    """The simulated ILS process of each member."""
    manifest: dict[str, Any]
    config: Path
    sip2_port: int
    admin_port: int

    def patrons_and_items(self) -> tuple[dict[str, list[Patron]], dict[str, list[str]]]:
        """Each member's patrons who may borrow, and its items (from the manifest)."""
        patrons: dict[str, list[Patron]] = {m: [] for m in MEMBERS}
        for p in self.manifest["patrons"]:
            if not p["blocked"]:
                patrons[p["member"]].append(Patron(p["id"], p["pin"], p["member"]))
        items: dict[str, list[str]] = {m: [] for m in MEMBERS}
        for i in self.manifest["items"]:
            items[i["member"]].append(i["id"])
        return patrons, items


def start_servers(stack: contextlib.ExitStack, tmp: Path) -> Servers:
    """Redis (AOF on), anvil with the registry deployed, one simulated ILS process per
    member, and the gateway's configuration for them, in ``tmp``; all stopped when
    ``stack`` closes."""
    secrets = {
        name: os.urandom(16).hex()
        for name in ("INTERLEND_SIMULATOR_PASSWORD", "INTERLEND_NCIP_KEY", "INTERLEND_PATRON_KEY")
    }
    redis = start_redis(tmp, appendonly=True)
    anvil = start_anvil(tmp)
    if redis is None or anvil is None:
        raise SystemExit("needs redis-server and node_modules/.bin/anvil (make node_modules)")
    stack.callback(redis.stop)
    stack.callback(anvil.stop)
    deployed = deploy_demo_chain(anvil.url, MEMBERS)
    secrets["INTERLEND_LEDGER_KEY"] = deployed.keys["alpha"]
    env = _env(secrets)
    processes, manifest = stack.enter_context(simulators(tmp, env))
    config, sip2_port, admin_port = gateway_config(tmp, manifest, redis.url, deployed.manifest())
    return Servers(redis, anvil, env, processes, manifest, config, sip2_port, admin_port)


@contextlib.contextmanager
def gateway(
    tmp: Path, env: dict[str, str], config: Path, admin: int, workers: int
) -> Iterator[subprocess.Popen[bytes]]:
    """``interlend serve --workers N``, once its admin port says it is ready."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gateway", "--log-format", "json", "serve"),
            *("--config", str(config), "--workers", str(workers)),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "gateway.log").open("wb"),
    )

    def ready() -> bool:
        url = f"http://127.0.0.1:{admin}/readyz"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
        return False

    try:
        _wait("interlend serve --workers", ready, process, timeout=120)
        yield process
    finally:
        _stop(process)


def children(pid: int) -> list[int]:
    """A process's child processes (the supervisor's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# --- the kiosks -------------------------------------------------------------------------


@dataclass(frozen=True)
class Patron:
    id: str
    pin: str
    member: str


@dataclass
class Run:
    """Everything the kiosks and the sampler share."""

    hung: str
    timeout_s: float
    think_s: float
    patrons: dict[str, list[Patron]]
    items: dict[str, list[str]]
    started: float = math.inf
    """trio time at which the last kiosk logged in (the run's zero)."""
    hang: tuple[float, float] = (math.inf, math.inf)
    """The hang's start and end, in the run's seconds."""
    records: list[tuple[float, float, int, int, bool, int]] = field(default_factory=list)
    """(start in run seconds, latency s, kiosk library index, op index, touched the hung
    member, outcome)."""
    refusals: dict[str, int] = field(default_factory=dict)
    logins: list[float] = field(default_factory=list)
    login_failures: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)


class Closed(Exception):
    """The gateway closed the kiosk's connection."""


async def _frame(stream: trio.SocketStream, buffer: bytearray) -> bytes:
    while True:
        end = buffer.find(b"\r")
        if end >= 0:
            frame = bytes(buffer[:end])
            del buffer[: end + 1]
            return frame
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise Closed
        buffer += chunk


def _request(
    op: str, library: str, patron: Patron, item: str, now: datetime
) -> tuple[Message, bytes]:
    match op:
        case "status":
            return PatronStatusRequest(
                language=Language.ENGLISH,
                transaction_date=now,
                institution_id=library,
                patron_identifier=patron.id,
                patron_password=patron.pin,
            ), b"24"
        case "checkout":
            return CheckoutRequest(
                sc_renewal_policy=True,
                no_block=False,
                transaction_date=now,
                nb_due_date=now,
                institution_id=library,
                patron_identifier=patron.id,
                item_identifier=item,
                patron_password=patron.pin,
            ), b"12"
        case "checkin":
            return CheckinRequest(
                no_block=False,
                transaction_date=now,
                return_date=now,
                current_location=f"{library}-main",
                institution_id=library,
                item_identifier=item,
            ), b"10"
        case "renew":
            return RenewRequest(
                third_party_allowed=False,
                no_block=False,
                transaction_date=now,
                nb_due_date=now,
                institution_id=library,
                patron_identifier=patron.id,
                patron_password=patron.pin,
                item_identifier=item,
            ), b"30"
        case "item":
            return ItemInformationRequest(
                transaction_date=now, institution_id=library, item_identifier=item
            ), b"18"
        case _:
            return PatronInformationRequest(
                language=Language.ENGLISH,
                transaction_date=now,
                summary=Summary(0),
                institution_id=library,
                patron_identifier=patron.id,
                patron_password=patron.pin,
            ), b"64"


def _outcome(answer: bytes, expected: bytes) -> int:
    if answer.startswith(b"96"):
        return ERROR_96
    if not answer.startswith(expected):
        return WRONG
    if expected in (b"12", b"10", b"30") and answer[2:3] != b"1":
        return UNAVAILABLE if any(s in answer for s in FAILURE_SCREENS) else REFUSED
    if expected == b"24" and b"|BLN|" in answer:
        return REFUSED
    return OK


def _screen(answer: bytes) -> str:
    found = re.search(rb"\|AF([^|]*)", answer)
    return found.group(1)[:60].decode("ascii", "replace") if found else ""


async def _login(host: str, port: int, source: str, login: str, run: Run) -> trio.SocketStream:
    while True:
        started = time.perf_counter()
        try:
            with trio.fail_after(run.timeout_s * 4):
                stream = await trio.open_tcp_stream(host, port, local_address=source)
                try:
                    await stream.send_all(
                        encode(
                            LoginRequest(login_user_id=login, login_password="demo"),
                            sequence=0,
                            error_detection=True,
                        )
                    )
                    if (await _frame(stream, bytearray())).startswith(b"941"):
                        run.logins.append(time.perf_counter() - started)
                        return stream
                except BaseException:
                    await stream.aclose()
                    raise
                await stream.aclose()
        except (OSError, trio.BrokenResourceError, trio.TooSlowError, Closed):
            pass
        run.login_failures += 1
        await trio.sleep(1.0)


async def kiosk(
    number: int,
    host: str,
    port: int,
    run: Run,
    rng: random.Random,
    ready: trio.MemorySendChannel[int],
    go: trio.Event,
) -> None:
    library_index = number % len(MEMBERS)
    library = MEMBERS[library_index]
    source = f"127.0.0.{2 + number // KIOSKS_PER_ADDRESS}"
    login = f"{library}-soak"
    others = [m for m in MEMBERS if m != library]
    lent: list[tuple[str, Patron]] = []  # items this kiosk checked out, oldest first
    stream = await _login(host, port, source, login, run)
    await ready.send(number)
    await go.wait()
    buffer = bytearray()
    sequence = 1
    try:
        while True:
            await trio.sleep(rng.expovariate(1 / run.think_s))
            visitor = rng.random() < VISITORS
            home = rng.choice(others) if visitor else library
            patron = rng.choice(run.patrons[home])
            op = rng.choices(OPS, MIX)[0]
            item = rng.choice(run.items[library])
            if op == "checkin" and lent:
                item, _ = lent.pop(0)
            elif op == "renew" and lent:
                item, patron = rng.choice(lent)
            elif op == "other":
                op = rng.choice(("item", "patron"))
            message, expected = _request(op, library, patron, item, datetime.now(UTC))
            touched = run.hung in (library, patron.member if op not in ("checkin", "item") else "")
            op_index = OPS.index(op) if op in OPS else OPS.index("other")
            data = encode(message, sequence=sequence, error_detection=True)
            sequence = (sequence + 1) % 10
            started = trio.current_time()
            outcome, answer = TIMEOUT, b""
            try:
                with trio.move_on_after(run.timeout_s):
                    await stream.send_all(data)
                    answer = await _frame(stream, buffer)
                    outcome = _outcome(answer, expected)
            except (Closed, OSError, trio.BrokenResourceError):
                outcome = CLOSED
            latency = trio.current_time() - started
            run.records.append(
                (started - run.started, latency, library_index, op_index, touched, outcome)
            )
            if outcome in (REFUSED, UNAVAILABLE):
                reason = f"{op}: {_screen(answer)}"
                run.refusals[reason] = run.refusals.get(reason, 0) + 1
            elif outcome == OK and op == "checkout":
                lent.append((item, patron))
            if outcome in (TIMEOUT, CLOSED, WRONG):
                # The stream is out of step (or gone): start a new session.
                await stream.aclose()
                stream = await _login(host, port, source, login, run)
                buffer.clear()
    finally:
        await stream.aclose()


# --- the sampler ------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def sampler(
    run: Run, supervisor: int, redis_url: str, hung: subprocess.Popen[bytes], minutes: float
) -> None:
    """Every ``SAMPLE_S``: the figures of the last interval; hangs and releases the ILS."""
    hang_start = minutes * 60 / 2 - HANG_S / 2
    run.hang = (hang_start, hang_start + HANG_S)
    hung_now = False
    hung_index = MEMBERS.index(run.hung)
    async with coredis.Redis.from_url(redis_url, decode_responses=True) as redis:
        seen = 0
        tick = 0
        while True:
            tick += 1
            await trio.sleep_until(run.started + tick * SAMPLE_S)
            now = tick * SAMPLE_S
            if not hung_now and run.hang[0] <= now < run.hang[1]:
                hung.send_signal(signal.SIGSTOP)
                hung_now = True
            elif hung_now and now >= run.hang[1]:
                hung.send_signal(signal.SIGCONT)
                hung_now = False
            fresh = run.records[seen:]
            seen = len(run.records)
            info = await redis.info("memory")
            loans = await redis.zcard(f"{{{NAMESPACE}}}:history")
            workers = children(supervisor)
            sample: dict[str, Any] = {
                "t": now,
                "requests_per_s": len(fresh) / SAMPLE_S,
                "errors": sum(1 for r in fresh if r[5] in ERRORS),
                "errors_by_kind": {
                    OUTCOMES[k]: n for k in ERRORS if (n := sum(1 for r in fresh if r[5] == k))
                },
                "others_untouched_p99_ms": percentile(
                    [r[1] for r in fresh if r[2] != hung_index and not r[4]], 0.99
                )
                * 1000,
                "p50_ms": {},
                "p99_ms": {},
                "rss_mib": {"supervisor": rss_mib(supervisor)},
                "fds": {"supervisor": open_fds(supervisor)},
                "redis_used_mib": int(str(info["used_memory"])) / 2**20,
                "loans": loans,
                "load": os.getloadavg()[0],
            }
            for index, member in enumerate(MEMBERS):
                latencies = [r[1] for r in fresh if r[2] == index]
                sample["p50_ms"][member] = percentile(latencies, 0.5) * 1000
                sample["p99_ms"][member] = percentile(latencies, 0.99) * 1000
            for n, pid in enumerate(sorted(workers), start=1):
                with contextlib.suppress(OSError):
                    sample["rss_mib"][f"worker {n}"] = rss_mib(pid)
                    sample["fds"][f"worker {n}"] = open_fds(pid)
            run.samples.append(sample)
            p99 = " ".join(f"{m} {v:.0f}" for m, v in sample["p99_ms"].items())
            rss = " ".join(f"{v:.0f}" for v in sample["rss_mib"].values())
            fds = " ".join(str(v) for v in sample["fds"].values())
            print(
                f"{now:5.0f} s {sample['requests_per_s']:6.1f} req/s errors {sample['errors']:3d}"
                f"  p99 ms {p99}  RSS MiB {rss}  fds {fds}"
                f"  redis {sample['redis_used_mib']:.1f} MiB loans {loans}"
                f"{'  HUNG' if hung_now else ''}",
                flush=True,
            )


async def soak(
    args: argparse.Namespace,
    host: str,
    port: int,
    supervisor: int,
    redis_url: str,
    hung: subprocess.Popen[bytes],
    run: Run,
) -> None:
    rng = random.Random(args.seed)
    go = trio.Event()
    send, receive = trio.open_memory_channel[int](args.kiosks)
    async with trio.open_nursery() as nursery:
        for number in range(args.kiosks):
            kiosk_rng = random.Random(rng.random())
            nursery.start_soon(kiosk, number, host, port, run, kiosk_rng, send, go)
            await trio.sleep(args.ramp_s / args.kiosks)
        for _ in range(args.kiosks):
            await receive.receive()
        run.started = trio.current_time()
        go.set()
        print(f"{args.kiosks} kiosks logged in; the run starts", flush=True)
        with trio.move_on_after(args.minutes * 60 + 0.5):
            await sampler(run, supervisor, redis_url, hung, args.minutes)
        hung.send_signal(signal.SIGCONT)
        nursery.cancel_scope.cancel()  # the kiosks, wherever they are


# --- the report -------------------------------------------------------------------------


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    if len(xs) < 2 or max(xs) == min(xs):
        return math.nan
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return covariance / sum((x - mean_x) ** 2 for x in xs)


def summarise(run: Run, args: argparse.Namespace, load: tuple[float, ...]) -> dict[str, Any]:
    records = [r for r in run.records if r[0] < args.minutes * 60]
    seconds = args.minutes * 60
    latencies = [r[1] for r in records]
    errors = {OUTCOMES[kind]: sum(1 for r in records if r[5] == kind) for kind in ERRORS}
    start, end = run.hang
    hung = MEMBERS.index(run.hung)

    def p99(window: tuple[float, float], touched: bool | None) -> float:
        chosen = [
            r[1]
            for r in records
            if window[0] <= r[0] < window[1]
            and r[2] != hung
            and (touched is None or r[4] == touched)
        ]
        return percentile(chosen, 0.99) * 1000

    before = (start - HANG_S, start)
    samples = run.samples
    memory = [(s["loans"], s["redis_used_mib"] * 2**20) for s in samples]
    per_loan = slope([float(m[0]) for m in memory], [m[1] for m in memory])
    first, last = samples[0], samples[-1]
    summary: dict[str, Any] = {
        "kiosks": args.kiosks,
        "minutes": args.minutes,
        "think_s": args.think_s,
        "hung": run.hung,
        "hang_s": [start, end],
        "requests": len(records),
        "throughput_per_s": len(records) / seconds,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "p99_ms_by_library": {
            m: percentile([r[1] for r in records if r[2] == i], 0.99) * 1000
            for i, m in enumerate(MEMBERS)
        },
        "errors": errors,
        "error_share": sum(errors.values()) / max(1, len(records)),
        "errors_outside_hang_touching_it": sum(
            1 for r in records if r[5] in ERRORS and not (start <= r[0] < end + 10 and r[4])
        ),
        "outcomes": {name: sum(1 for r in records if r[5] == k) for k, name in enumerate(OUTCOMES)},
        "refusals_top": dict(sorted(run.refusals.items(), key=lambda kv: -kv[1])[:12]),
        "logins": len(run.logins),
        "login_p50_ms": percentile(run.logins, 0.5) * 1000,
        "login_failures": run.login_failures,
        "others_p99_ms": {
            "before_hang_all": p99(before, None),
            "during_hang_all": p99((start, end), None),
            "before_hang_untouched": p99(before, False),
            "during_hang_untouched": p99((start, end), False),
            # The same p99 per 5-s sample, median inside the hang and outside it: how
            # much it moves with no hang at all.
            "samples_median_inside_hang_untouched": statistics.median(
                s["others_untouched_p99_ms"] for s in samples if start < s["t"] <= end
            ),
            "samples_median_outside_hang_untouched": statistics.median(
                s["others_untouched_p99_ms"] for s in samples if not start < s["t"] <= end
            ),
        },
        "rss_mib": {"first": first["rss_mib"], "last": last["rss_mib"]},
        "fds": {"first": first["fds"], "last": last["fds"]},
        "redis_bytes_per_loan": per_loan,
        "redis_used_mib": [first["redis_used_mib"], last["redis_used_mib"]],
        "loans": [first["loans"], last["loans"]],
        "load_average_before_after": list(load),
        "samples": samples,
    }
    return summary


def report(summary: dict[str, Any]) -> None:
    print()
    print(
        f"{summary['kiosks']} kiosks, {summary['minutes']} min, think {summary['think_s']} s;"
        f" load average before/after: {summary['load_average_before_after']}"
    )
    print(
        f"throughput {summary['throughput_per_s']:.1f} req/s ({summary['requests']} requests);"
        f" p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms"
    )
    print(f"p99 by kiosk library (ms): {summary['p99_ms_by_library']}")
    print(
        f"errors: {summary['errors']} ({summary['error_share']:.4%}); outside the hang's"
        f" requests to {summary['hung']}: {summary['errors_outside_hang_touching_it']}"
    )
    print(f"outcomes: {summary['outcomes']}")
    print(f"refusals (top): {summary['refusals_top']}")
    print(
        f"logins {summary['logins']} (p50 {summary['login_p50_ms']:.0f} ms),"
        f" failed {summary['login_failures']}"
    )
    others = summary["others_p99_ms"]
    print(
        f"other libraries' p99 (ms), 60 s before the hang of {summary['hung']} vs during it:"
        f" all {others['before_hang_all']:.1f} -> {others['during_hang_all']:.1f};"
        f" not touching {summary['hung']} {others['before_hang_untouched']:.1f} ->"
        f" {others['during_hang_untouched']:.1f}; median of the 5-s samples' p99 (not"
        f" touching it) inside the hang {others['samples_median_inside_hang_untouched']:.1f},"
        f" outside it {others['samples_median_outside_hang_untouched']:.1f}"
    )
    print(f"RSS MiB first/last: {summary['rss_mib']}")
    print(f"fds first/last: {summary['fds']}")
    print(
        f"Redis {summary['redis_used_mib'][0]:.1f} -> {summary['redis_used_mib'][1]:.1f} MiB,"
        f" loans {summary['loans'][0]} -> {summary['loans'][1]}:"
        f" {summary['redis_bytes_per_loan']:.0f} bytes per loan (slope)"
    )


def chart(summary: dict[str, Any], path: Path) -> None:
    """The run over time, five panels, the hang shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = summary["samples"]
    t = [s["t"] / 60 for s in samples]
    figure, axes = plt.subplots(5, 1, figsize=(9, 12), sharex=True)
    panels: list[tuple[str, list[tuple[str, list[float]]]]] = [
        ("requests/s", [("all kiosks", [s["requests_per_s"] for s in samples])]),
        (
            "p99 latency (ms)",
            [(f"{m} kiosks", [s["p99_ms"][m] for s in samples]) for m in MEMBERS]
            + [
                (
                    f"other kiosks, not touching {summary['hung']}",
                    [s.get("others_untouched_p99_ms", math.nan) for s in samples],
                )
            ],
        ),
        (
            "RSS (MiB)",
            [(p, [s["rss_mib"].get(p, math.nan) for s in samples]) for p in samples[-1]["rss_mib"]],
        ),
        (
            "open fds",
            [(p, [s["fds"].get(p, math.nan) for s in samples]) for p in samples[-1]["fds"]],
        ),
        ("Redis used_memory (MiB)", [("used_memory", [s["redis_used_mib"] for s in samples])]),
    ]
    start, end = summary["hang_s"]
    hang_label = f"{summary['hung']} hung"
    for axis, (label, lines) in zip(axes, panels, strict=True):
        for name, values in lines:
            axis.plot(t, values, label=name)
        axis.axvspan(start / 60, end / 60, color="tab:red", alpha=0.15, label=hang_label)
        axis.set_ylabel(label)
        axis.legend(loc="upper left", fontsize="small")
        axis.grid(alpha=0.3)
    axes[1].set_yscale("log")
    errors = axes[0].twinx()
    errors.plot(t, [s["errors"] / SAMPLE_S for s in samples], color="tab:red", linestyle=":")
    errors.set_ylabel("errors/s (dotted)")
    loans = axes[4].twinx()
    loans.plot(t, [s["loans"] for s in samples], color="tab:gray", linestyle="--")
    loans.set_ylabel("loans (dashed)")
    axes[-1].set_xlabel("minutes")
    figure.suptitle(
        f"interlend soak: {summary['kiosks']} kiosks, serve --workers 2, Redis (AOF) and anvil"
    )
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})
    plt.close(figure)


# --- main -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kiosks", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--think-s", type=float, default=5.0, help="mean think time per kiosk")
    parser.add_argument("--ramp-s", type=float, default=60.0, help="logins spread over this")
    parser.add_argument("--timeout-s", type=float, default=15.0, help="a kiosk's wait")
    parser.add_argument("--hang", choices=MEMBERS, default="beta", help="the member ILS hung")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--chart", type=Path, help="draw the run here (.svg or .png)")
    parser.add_argument("--json", type=Path, help="write the summary and samples here")
    parser.add_argument("--logs", type=Path, help="keep the logs here (default: a temporary dir)")
    args = parser.parse_args()
    # Started in the background by a non-interactive shell, SIGINT comes ignored: take it
    # back, so that trio turns it into KeyboardInterrupt and every child is stopped.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if not 1 <= args.kiosks <= KIOSKS_PER_ADDRESS * 250:
        parser.error("--kiosks: 1 to 25,000")
    if args.minutes * 60 < HANG_S + 2 * SAMPLE_S:
        parser.error(f"--minutes: at least {(HANG_S + 2 * SAMPLE_S) / 60:.2f} (the hang is 60 s)")
    if args.think_s <= 0 or args.ramp_s < 0 or args.timeout_s <= 0:
        parser.error("--think-s and --timeout-s must be positive, --ramp-s not negative")
    with contextlib.ExitStack() as stack:
        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
            tmp = args.logs
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        servers = start_servers(stack, tmp)
        redis, anvil, env, processes = servers.redis, servers.anvil, servers.env, servers.ils
        sip2_port, admin_port = servers.sip2_port, servers.admin_port
        supervisor = stack.enter_context(
            gateway(tmp, env, servers.config, admin_port, args.workers)
        )
        run = Run(args.hang, args.timeout_s, args.think_s, *servers.patrons_and_items())
        print(
            f"redis {redis.url}, anvil {anvil.url}, gateway 127.0.0.1:{sip2_port}"
            f" (admin {admin_port}); logs in {tmp}",
            flush=True,
        )
        load_before = os.getloadavg()
        trio.run(
            soak, args, "127.0.0.1", sip2_port, supervisor.pid, redis.url, processes[args.hang], run
        )
        load = (*load_before, *os.getloadavg())
        log_size = (tmp / "gateway.log").stat().st_size
    summary = summarise(run, args, tuple(round(x, 2) for x in load))
    summary["gateway_log_mib"] = log_size / 2**20
    report(summary)
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    if args.chart is not None:
        chart(summary, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
