"""The gateway's cost on the wire: pass-through vs straight to the ILS, and idle kiosks.

Run by hand (``make bench``).  This process is the kiosks.  The gateway and the
simulated member ILSs (alpha, beta, gamma) run in one of two ways (``--ils``):

* ``demo`` (the default, and the reference of the gateway's targets): ``interlend
  demo`` in one child process, the simulated ILSs in the gateway's own process and
  event loop, as a user starts the demo;
* ``process``: the simulated ILSs in a child process of their own (this script with
  ``--serve-ils``), as a library's server is another machine, and the gateway as a
  user runs the daemon (``interlend serve`` on ``config/demo.toml`` pointed at them,
  JSON logs to a file).  Three processes then share the machine's cores.

**Pass-through.**  The same requests (23 patron status with PIN, 17 item
information, alternating; pre-encoded with AY/AZ) go either through the gateway as
``alpha-kiosk`` to alpha's own patrons and items (the local pass-through path) or
straight to alpha's simulated ILS with the gateway's own account.  Both paths end at
the same simulator in the same process, so the comparison is the gateway's hop alone
(its CPU, and the two extra socket hops).  Rounds alternate the two paths and which
goes first; the report gives medians and the median of the per-round ratios:

* throughput with ``--connections`` kiosks at once (requests/s, gateway / direct);
* latency with one kiosk, one request at a time: p50 of each path, and the p50 the
  gateway adds.

It also reads the CPU time of the processes around every throughput run (and the part
spent in the kernel): CPU per request shows where the time goes.  With ``--ils
demo`` the gateway's and the ILS's figures are the same process's.

**Against a bare relay** (``--relay``).  A third path goes through a trio relay
(``bench/relay.py``, a process of its own, as the gateway is) that copies bytes
between each kiosk connection and an upstream connection of its own to the same ILS,
with no decoding: the least any hop costs.  The three paths take turns in the same
rounds (the first one rotates), and the report adds gateway/relay throughput, the
gateway's CPU per request against the relay's, the p50 the gateway adds over the
relay's, and relay/direct.  ``--relay-work frames|codec|log`` (repeatable) adds relays
that do more of a gateway's necessary work, one layer each (whole frames and their
checksums; decoding and encoding every message; a JSON line and two metrics per
request): the ladder says what each layer costs against the bare relay, and what the
gateway spends beyond the top rung is its own logic.

**Idle kiosks.**  ``--idle`` connections log in and then stay idle; the gateway's
resident memory before and after, divided by the count, is the cost of one idle
kiosk connection.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import trio

from protocols.sip2 import (
    ItemInformationRequest,
    Language,
    LoginRequest,
    Message,
    PatronStatusRequest,
    encode,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MEMBERS = ("alpha", "beta", "gamma")
PASSWORD_ENV = "INTERLEND_DEMO_ILS_PASSWORD"  # the variable config/demo.toml names
TERMINAL = ("alpha-kiosk", "demo")  # alpha's terminal in config/demo.toml
ILS_LOGIN = "gateway"
IDLE_PER_ADDRESS = 200
MAX_IDLE = 4_000
"""Idle kiosks at most: the demo configuration's ``max_connections`` is 4096."""


@dataclass
class Target:
    """Where a kiosk connects and how it logs in."""

    name: str
    host: str
    port: int
    login: str
    password: str
    others: list[Target] = field(default_factory=list)
    """More paths to compare, set up beside this one (another gateway to compare with)."""


# --- the simulated ILSs (child process) ----------------------------------------------------


def serve_ils(port_file: Path) -> None:
    """Serve the three simulated ILSs until terminated; write their ports to ``port_file``."""
    from gateway.demo.simulator.data import packaged_library
    from gateway.demo.simulator.engine import SimulatedIls
    from gateway.demo.simulator.sip2_server import serve_simulator

    password = os.environ[PASSWORD_ENV]

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            ports = {}
            for member in MEMBERS:
                ils = SimulatedIls(packaged_library(member), password)
                _host, ports[member] = await nursery.start(partial(serve_simulator, ils))
            partial_file = port_file.with_suffix(".tmp")
            partial_file.write_text(json.dumps(ports))
            os.replace(partial_file, port_file)

    trio.run(serve)


# --- starting the processes -------------------------------------------------------------


def wait_for(what: str, ready: Any, process: subprocess.Popen[bytes], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = ready()
        if found:
            return found
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.05)


def start_ils(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    port_file = tmp / "ils-ports.json"
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve-ils", str(port_file)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    wait_for("the simulated ILSs", port_file.exists, process)
    ports: dict[str, int] = json.loads(port_file.read_text())
    return process, ports


def demo_config_text() -> str:
    return resources.files("config").joinpath("demo.toml").read_text(encoding="utf-8")


def secrets_env(ils_password: str) -> dict[str, str]:
    """The environment for both children: every secret the demo file names is set (as
    the demo does), the ILS password to the one the simulators are started with."""
    names = set(re.findall(r'env\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"', demo_config_text()))
    found = {name: os.urandom(12).hex() for name in names}
    return {**os.environ, **found, PASSWORD_ENV: ils_password}


def gateway_config(tmp: Path, ports: dict[str, int], concurrency: int | None = None) -> Path:
    """``config/demo.toml`` pointed at the simulators, listening on free ports; with
    ``concurrency``, each member's ILS bulkhead (requests in flight at most) set to it."""
    text = demo_config_text()
    for n, member in enumerate(MEMBERS, start=1):
        endpoints = f'ils.endpoints = ["127.0.0.1:{ports[member]}"]'
        if concurrency is not None:
            endpoints += f"\nils.concurrency = {concurrency}"
        text, count = re.subn(rf'ils\.endpoints = \["127\.0\.0\.1:710{n}"\]', endpoints, text)
        if count != 1:
            raise SystemExit(f"config/demo.toml: no endpoint of {member} to replace")
    gateway = "[gateway]\nadmin = { port = 0 }\n\n[[gateway.sip2]]\nport = 0\n\n"
    path = tmp / "bench.toml"
    path.write_text(gateway + text, encoding="utf-8")
    return path


def start_gateway(
    env: dict[str, str],
    config: Path,
    log: IO[bytes],
    tree: Path | None = None,
    log_level: str | None = None,
) -> tuple[subprocess.Popen[bytes], tuple[str, int]]:
    """``interlend serve`` (from ``tree``, a checkout of the project, if given: ``-m``
    puts the working directory first on the path); its JSON log goes to a file, where
    it says where it listens.  With ``log_level`` (``warning``: no line per request) it
    does not say so: it then gets a free port of its own and is up once it accepts."""
    options = ["--log-format", "json"]
    port = 0
    if log_level is not None:
        options += ["--log-level", log_level]
        port = free_port()
        text = config.read_text(encoding="utf-8")
        config = config.with_name(f"{config.stem}-{port}.toml")
        listener = "[[gateway.sip2]]\nport = 0"
        config.write_text(text.replace(listener, listener[:-1] + str(port)), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", *options, "serve", "--config", str(config)],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    log_path = Path(log.name)

    def started() -> tuple[str, int] | None:
        if port:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return "127.0.0.1", port
            return None
        for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"gateway started"' in line:
                host, _, found = json.loads(line)["sip2"][0].rpartition(":")
                return host, int(found)
        return None

    address: tuple[str, int] = wait_for("the gateway", started, process)
    return process, address


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_demo(tmp: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """``interlend demo``: the gateway and the simulated ILSs in one process."""
    manifest = tmp / "manifest.json"
    options = ["--sip2-port", "0", "--admin-port", "0", "--ncip-port", "0", "--manifest"]
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--log-format", "json", "demo", *options, str(manifest)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for("the demo", manifest.exists, process)
    data: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))
    return process, data


def relay_name(work: str) -> str:
    """A relay path's name: ``relay`` for the bare one, ``relay-<work>`` for the others."""
    return "relay" if work == "bytes" else f"relay-{work}"


@contextlib.contextmanager
def run_relay(tmp: Path, upstream: Target, work: str = "bytes") -> Iterator[tuple[Target, int]]:
    """``bench/relay.py`` in its own process, relaying to ``upstream`` (kiosks log in
    with the upstream's own account: the relay passes the login through), doing
    ``work`` (``bytes``: a bare relay; see ``bench/relay.py``)."""
    name = relay_name(work)
    port_file = tmp / f"{name}-port"
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve().with_name("relay.py")),
            "--upstream",
            f"{upstream.host}:{upstream.port}",
            "--port-file",
            str(port_file),
            "--work",
            work,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(f"the {name}", port_file.exists, process)
        port = int(port_file.read_text())
        yield Target(name, "127.0.0.1", port, upstream.login, upstream.password), process.pid
    finally:
        stop(process)


@contextlib.contextmanager
def run_demo(tmp: Path) -> Iterator[tuple[Target, Target, Pids]]:
    process, manifest = start_demo(tmp)
    try:
        host, port = manifest["sip2"]["host"], manifest["sip2"]["port"]
        ils = manifest["members"]["alpha"]["sip2"]
        direct = Target("direct", ils["host"], ils["port"], ils["login"], ils["password"])
        yield Target("gateway", host, port, *TERMINAL), direct, Pids(process.pid, process.pid)
    finally:
        stop(process)


@contextlib.contextmanager
def run_separately(
    tmp: Path,
    concurrency: int | None = None,
    baseline: Path | None = None,
    baseline_log_level: str | None = None,
) -> Iterator[tuple[Target, Target, Pids]]:
    """The ILSs in their own process and the gateway as ``interlend serve``; with
    ``baseline`` (another checkout), a second gateway from it on the same ILSs, whose
    target is named ``baseline`` and which ``Pids.baseline`` names (at
    ``baseline_log_level`` if given: the cost of the log line per request)."""
    password = os.urandom(12).hex()
    env = secrets_env(password)
    ils, ports = start_ils(tmp, env)
    try:
        config = gateway_config(tmp, ports, concurrency)
        with contextlib.ExitStack() as stack:
            log = stack.enter_context((tmp / "gateway.log").open("wb"))
            process, (host, port) = start_gateway(env, config, log)
            stack.callback(stop, process)
            pids = Pids(process.pid, ils.pid)
            gateway = Target("gateway", host, port, *TERMINAL)
            if baseline is not None:
                log = stack.enter_context((tmp / "baseline.log").open("wb"))
                other, (host, port) = start_gateway(env, config, log, baseline, baseline_log_level)
                stack.callback(stop, other)
                pids = Pids(process.pid, ils.pid, baseline=other.pid)
                gateway.others.append(Target("baseline", host, port, *TERMINAL))
            direct = Target("direct", "127.0.0.1", ports["alpha"], ILS_LOGIN, password)
            yield gateway, direct, pids
    finally:
        ils.terminate()
        ils.wait()


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


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


@dataclass(frozen=True)
class Pids:
    """The processes whose CPU time a run reads."""

    gateway: int
    ils: int
    relay: int | None = None
    baseline: int | None = None
    ladder: tuple[tuple[str, int], ...] = ()
    """The relays doing more work (``--relay-work``), by path name."""


@dataclass(frozen=True)
class Rate:
    requests_per_s: float
    cpu_us: dict[str, float]  # CPU time per request of the gateway, the ILS, the kiosks
    # and the part of the gateway's and the ILS's spent in the kernel (system time)


async def throughput(path: Target, connections: int, requests: int, pids: Pids) -> Rate:
    work = frames(requests)
    watched = [("gateway", pids.gateway), ("ils", pids.ils)]
    for name, pid in (("relay", pids.relay), ("baseline", pids.baseline), *pids.ladder):
        if pid is not None:
            watched.append((name, pid))
    cpu = {name: cpu_seconds(pid) for name, pid in watched}
    kiosks = os.times()
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(kiosk, path, work, None)
    elapsed = time.perf_counter() - started
    total = connections * requests
    kiosks_after = os.times()
    used: dict[str, float] = {"kiosks": sum(kiosks_after[:2]) - sum(kiosks[:2])}
    for name, pid in watched:
        (user, system), (user_0, system_0) = cpu_seconds(pid), cpu[name]
        used[name] = user + system - user_0 - system_0
        used[f"{name}_system"] = system - system_0
    return Rate(total / elapsed, {k: v / total * 1e6 for k, v in used.items()})


async def latency(path: Target, requests: int) -> float:
    samples: list[float] = []
    await kiosk(path, frames(requests), samples)
    return statistics.median(samples)


@dataclass
class Round:
    """One round's figures, by path (``gateway``, ``direct`` and maybe ``relay``)."""

    rps: dict[str, float]
    p50_us: dict[str, float]
    cpu_us: dict[str, dict[str, float]]  # per path: CPU per request of each process


async def passthrough(
    paths: list[Target], rounds: int, connections: int, requests: int, pids: Pids
) -> list[Round]:
    for path in paths:  # warm every path
        await throughput(path, connections, 50, pids)
    results = []
    for n in range(rounds):
        order = paths[n % len(paths) :] + paths[: n % len(paths)]  # who goes first rotates
        rates = {p.name: await throughput(p, connections, requests, pids) for p in order}
        p50 = {p.name: await latency(p, requests * 2) for p in order}
        results.append(
            Round(
                {name: rate.requests_per_s for name, rate in rates.items()},
                {name: seconds * 1e6 for name, seconds in p50.items()},
                {name: rate.cpu_us for name, rate in rates.items()},
            )
        )
        line = "  ".join(
            f"{p.name} {rates[p.name].requests_per_s:6.0f}/s p50 {p50[p.name] * 1e6:4.0f} µs"
            f" CPU {hop_cpu(p.name, rates[p.name].cpu_us):4.0f} µs"
            for p in paths
        )
        print(f"round {n + 1}: {line}", flush=True)
    return results


def hop_cpu(path: str, cpu_us: dict[str, float]) -> float:
    """CPU per request of the hop a path adds (the gateway's or the relay's process);
    the ILS's for the direct path.  With ``--ils demo`` the gateway's process holds the
    ILS too."""
    return cpu_us["ils"] if path == "direct" else cpu_us[path]


def new_over_old(rounds: list[Round]) -> dict[str, Any]:
    """This tree's gateway against the baseline tree's, per round: throughput, CPU."""
    return {
        "throughput": ratio(rounds, lambda r: r.rps["gateway"] / r.rps["baseline"]),
        "cpu": ratio(
            rounds, lambda r: r.cpu_us["gateway"]["gateway"] / r.cpu_us["baseline"]["baseline"]
        ),
        "p50_minus_us": ratio(rounds, lambda r: r.p50_us["gateway"] - r.p50_us["baseline"])[0],
    }


async def idle(gateway: Target, count: int, pid: int) -> tuple[int, int]:
    before = rss_kib(pid)
    streams: list[trio.SocketStream] = []
    login = encode(
        LoginRequest(login_user_id=gateway.login, login_password=gateway.password),
        sequence=0,
        error_detection=True,
    )

    async def open_one(n: int) -> None:
        # From 127.0.0.2, .3, ...: the gateway takes at most
        # ``max_connections_per_address`` (256 by default) from one address.
        source = f"127.0.0.{2 + n // IDLE_PER_ADDRESS}"
        stream = await trio.open_tcp_stream(gateway.host, gateway.port, local_address=source)
        streams.append(stream)
        await stream.send_all(login)
        if not (await read_frame(stream, bytearray())).startswith(b"941"):
            raise SystemExit("idle kiosk login refused")

    try:
        for start in range(0, count, 200):
            async with trio.open_nursery() as nursery:
                for n in range(start, min(start + 200, count)):
                    nursery.start_soon(open_one, n)
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
    parser.add_argument(
        "--idle",
        type=int,
        default=4_000,
        help=f"idle kiosks to measure (0: skip that part; at most {MAX_IDLE})",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary line too")
    parser.add_argument(
        "--ils",
        choices=("demo", "process"),
        default="demo",
        help="simulated ILSs in the gateway's process (the demo) or in their own",
    )
    parser.add_argument(
        "--relay", action="store_true", help="a bare byte relay as a third path (bench/relay.py)"
    )
    parser.add_argument(
        "--relay-work",
        action="append",
        choices=("frames", "codec", "log"),
        default=[],
        help="a relay doing this much of a gateway's work as a further path (repeatable;"
        " implies --relay): frames, codec, log (see bench/relay.py)",
    )
    parser.add_argument(
        "--ils-concurrency",
        type=int,
        help="each member's ILS bulkhead in the gateway (default: the config's, 8)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout: its gateway runs beside this one's in the same rounds",
    )
    parser.add_argument(
        "--baseline-log-level",
        choices=("warning", "error"),
        help="run the baseline gateway (this tree's without --baseline) at this level:"
        " without its line per request",
    )
    parser.add_argument("--serve-ils", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 0 <= args.idle <= MAX_IDLE:
        parser.error(f"--idle: at most {MAX_IDLE} (the gateway's max_connections is 4096)")
    if args.serve_ils is not None:
        serve_ils(args.serve_ils)
        return 0
    setup = run_demo if args.ils == "demo" else run_separately
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.baseline_log_level is not None and args.baseline is None:
            args.baseline = Path(__file__).resolve().parent.parent  # this tree, quieter
        if args.ils_concurrency is not None or args.baseline is not None:
            if args.ils != "process":
                parser.error("--ils-concurrency and --baseline need --ils process")
            setup = partial(
                run_separately,
                concurrency=args.ils_concurrency,
                baseline=args.baseline,
                baseline_log_level=args.baseline_log_level,
            )
        gateway, direct, pids = stack.enter_context(setup(tmp))
        paths = [gateway, *gateway.others, direct]
        if args.relay or args.relay_work:
            args.relay = True
            bare, relay_pid = stack.enter_context(run_relay(tmp, direct))
            ladder = [stack.enter_context(run_relay(tmp, direct, w)) for w in args.relay_work]
            paths[1:1] = [bare, *(path for path, _ in ladder)]
            pids = Pids(
                pids.gateway,
                pids.ils,
                relay_pid,
                pids.baseline,
                tuple((path.name, pid) for path, pid in ladder),
            )
        load = os.getloadavg()
        rounds = trio.run(passthrough, paths, args.rounds, args.connections, args.requests, pids)
        load_after = os.getloadavg()
        before, after = (
            trio.run(idle, gateway, args.idle, pids.gateway) if args.idle > 0 else (0, 0)
        )
    summary = summarise(rounds, args, (before, after))
    summary["ils_concurrency"] = args.ils_concurrency
    if args.baseline is not None:
        summary["gateway_over_baseline"] = new_over_old(rounds)
        print(f"this tree's gateway over the baseline's: {summary['gateway_over_baseline']}")
    summary["load_average"] = [round(x, 2) for x in (*load, *load_after)]
    report(summary, args)
    if args.json:
        print(json.dumps(summary))
    return 0


def ratio(rounds: list[Round], of: Callable[[Round], float]) -> tuple[float, float]:
    """Median and minimum over the rounds of a per-round figure."""
    values = [of(r) for r in rounds]
    return round(statistics.median(values), 3), round(min(values), 3)


def summarise(
    rounds: list[Round], args: argparse.Namespace, rss: tuple[int, int]
) -> dict[str, Any]:
    names = list(rounds[0].rps)
    before, after = rss
    per_connection = (after - before) * 1024 / args.idle if args.idle > 0 else 0.0

    processes = [*rounds[0].cpu_us["gateway"]]
    summary: dict[str, Any] = {
        "ils": args.ils,
        "connections": args.connections,
        "requests_per_connection": args.requests,
        "rps_median": {n: round(statistics.median(r.rps[n] for r in rounds)) for n in names},
        "p50_us_median": {n: round(statistics.median(r.p50_us[n] for r in rounds)) for n in names},
        "cpu_us_median": {
            n: {p: round(statistics.median(r.cpu_us[n][p] for r in rounds), 1) for p in processes}
            for n in names
        },
        "throughput_ratio": ratio(rounds, lambda r: r.rps["gateway"] / r.rps["direct"]),
        "added_p50_us": ratio(rounds, lambda r: r.p50_us["gateway"] - r.p50_us["direct"])[0],
        "idle_connections": args.idle,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "bytes_per_idle_connection": round(per_connection),
        "rounds": [asdict(r) for r in rounds],
    }
    if "relay" in names:
        summary["gateway_relay_throughput"] = ratio(
            rounds, lambda r: r.rps["gateway"] / r.rps["relay"]
        )
        summary["relay_direct_throughput"] = ratio(
            rounds, lambda r: r.rps["relay"] / r.rps["direct"]
        )
        summary["gateway_relay_cpu"] = ratio(
            rounds, lambda r: gateway_hop_cpu(r, args.ils) / r.cpu_us["relay"]["relay"]
        )
        summary["gateway_hop_cpu_us"] = round(
            statistics.median(gateway_hop_cpu(r, args.ils) for r in rounds), 1
        )
        summary["gateway_minus_relay_p50_us"] = ratio(
            rounds, lambda r: r.p50_us["gateway"] - r.p50_us["relay"]
        )[0]
        summary["relay_minus_direct_p50_us"] = ratio(
            rounds, lambda r: r.p50_us["relay"] - r.p50_us["direct"]
        )[0]
        summary["ladder"] = {
            name: ladder_step(rounds, name) for name in names if name.startswith("relay-")
        }
    return summary


def ladder_step(rounds: list[Round], name: str) -> dict[str, Any]:
    """A relay doing more work (``--relay-work``) against the bare relay, per round."""
    return {
        "cpu_us": round(statistics.median(r.cpu_us[name][name] for r in rounds), 1),
        "cpu_over_relay": ratio(
            rounds, lambda r: r.cpu_us[name][name] / r.cpu_us["relay"]["relay"]
        ),
        "throughput_over_relay": ratio(rounds, lambda r: r.rps[name] / r.rps["relay"]),
        "p50_minus_relay_us": ratio(rounds, lambda r: r.p50_us[name] - r.p50_us["relay"])[0],
    }


def gateway_hop_cpu(round_: Round, ils: str) -> float:
    """The gateway's own CPU per request in a round: its process's, less (with ``--ils
    demo``, where that process holds the ILSs too) what the same process spent per
    request on the direct path, which is the ILSs' work alone."""
    own = round_.cpu_us["gateway"]["gateway"]
    return own - round_.cpu_us["direct"]["gateway"] if ils == "demo" else own


def report(summary: dict[str, Any], args: argparse.Namespace) -> None:
    rps, p50, cpu = summary["rps_median"], summary["p50_us_median"], summary["cpu_us_median"]
    g, d = cpu["gateway"], cpu["direct"]
    print()
    print(f"load average (1/5/15 min) before and after the rounds: {summary['load_average']}")
    for name in rps:
        print(f"{name:8} {rps[name]:8.0f} req/s  p50 {p50[name]:5.0f} µs (medians)")
    median, low = summary["throughput_ratio"]
    print(f"throughput gateway/direct: median {median:.2f} (min {low:.2f})")
    print(f"added p50 latency (1 kiosk), gateway - direct: median {summary['added_p50_us']:.0f} µs")
    if "gateway_relay_throughput" in summary:
        median, low = summary["gateway_relay_throughput"]
        print(
            f"throughput gateway/relay ({args.connections} kiosks): median {median:.2f}"
            f" (min {low:.2f}; target >= 0.6)"
        )
        median, low = summary["gateway_relay_cpu"]
        print(
            f"CPU per request gateway/relay: median {median:.2f}×"
            f" ({summary['gateway_hop_cpu_us']} vs {cpu['relay']['relay']} µs; target <= 2×)"
        )
        print(
            f"p50 gateway - relay (1 kiosk): median {summary['gateway_minus_relay_p50_us']:.0f}"
            f" µs (target <= 50 µs)"
        )
        median, low = summary["relay_direct_throughput"]
        print(
            f"relay vs direct: throughput {median:.2f}, p50"
            f" +{summary['relay_minus_direct_p50_us']:.0f} µs"
        )
        for name, step in summary.get("ladder", {}).items():
            print(
                f"{name}: CPU {step['cpu_us']} µs per request, {step['cpu_over_relay'][0]:.2f}×"
                f" the relay's (min {step['cpu_over_relay'][1]:.2f}); throughput"
                f" {step['throughput_over_relay'][0]:.2f} of the relay's; p50"
                f" +{step['p50_minus_relay_us']:.0f} µs over it"
            )
    if args.ils == "demo":
        print(
            f"CPU µs per request, median: the demo process (gateway and ILS): through the"
            f" gateway {g['gateway']} (kernel {g['gateway_system']}), direct {d['gateway']}"
            f" (kernel {d['gateway_system']}); kiosks {g['kiosks']} and {d['kiosks']}"
        )
    else:
        print(
            f"CPU µs per request, median: through the gateway: gateway {g['gateway']}"
            f" (kernel {g['gateway_system']}), ILS {g['ils']} (kernel {g['ils_system']}),"
            f" kiosks {g['kiosks']}; direct: ILS {d['ils']} (kernel {d['ils_system']}),"
            f" kiosks {d['kiosks']}"
        )
    if args.idle > 0:
        print(
            f"idle kiosks: {args.idle} connections, RSS {summary['rss_before_kib']} ->"
            f" {summary['rss_after_kib']} KiB,"
            f" {summary['bytes_per_idle_connection'] / 1024:.1f} KiB each (target <= 20 KB)"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
