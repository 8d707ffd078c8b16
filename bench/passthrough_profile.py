"""Where the gateway's CPU goes on the pass-through path: Python calls per request.

Run by hand: ``.venv/bin/python bench/passthrough_profile.py [--requests 1000]``.

The simulated ILSs run in a process of their own and the gateway as ``interlend
serve`` (as ``bench/passthrough.py --ils process`` runs them), the gateway under
``cProfile`` with the thread's CPU clock as its timer (time spent waiting for a core on
a loaded machine is not counted).  One kiosk sends the pass-through mix (23 with PIN
and 17, alternating) one request at a time; this is done twice, with ``--requests``
and three times as many, in two fresh gateways, and the two profiles are subtracted:
what remains is the cost of ``2 * --requests`` requests, start-up and shutdown gone.

The report gives calls per request by function and by part of the gateway (codec,
scheduler, logging, ...).  A builtin's time is given to the part that called it.
Profiled times are inflated by the profiler's own cost per call, so read the shares,
and the call counts (which do not move with the machine's load); the CPU per request
itself comes from ``bench/passthrough.py``.
"""

from __future__ import annotations

import argparse
import collections
import json
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import passthrough

_PROFILED_GATEWAY = """
import cProfile, sys, time
out, root = sys.argv[1:3]
sys.path.insert(0, root)  # this tree's gateway, whatever else is installed
sys.argv = ["interlend", *sys.argv[3:]]
from gateway.cli.main import main
profile = cProfile.Profile(time.thread_time)
profile.enable()
try:
    main()
finally:
    profile.disable()
    profile.dump_stats(out)
"""

PARTS: tuple[tuple[str, str], ...] = (
    ("protocols/sip2", "SIP2 codec and connection state (kiosk and ILS sides)"),
    ("structlog", "logging (structlog, redaction, JSON line, write)"),
    ("telemetry/logs", "logging (structlog, redaction, JSON line, write)"),
    ("json/", "logging (structlog, redaction, JSON line, write)"),
    ("prometheus_client", "metrics (prometheus-client)"),
    ("telemetry/metrics", "metrics (prometheus-client)"),
    ("_io_epoll", "trio I/O readiness (epoll)"),
    ("trio/", "trio scheduler, cancel scopes, clock"),
    ("outcome/", "trio scheduler, cancel scopes, clock"),
    ("contextlib", "trio scheduler, cancel scopes, clock"),
    ("adapters/wire", "socket reads and writes (Wire, syscalls)"),
    ("adapters/ils", "member ILS client (bulkhead, balancer, pool, link)"),
    ("gateway/sip2/routing", "routing (barcode rules)"),
    ("config/", "routing (barcode rules)"),
    ("gateway/runtime", "routing (barcode rules)"),
    ("hmac", "patron keyed hash, session, call set-up"),
    ("adapters/state", "patron keyed hash, session, call set-up"),
    ("gateway/circulation", "patron keyed hash, session, call set-up"),
    ("gateway/sip2", "kiosk loop, dispatch, forwarding"),
)
_SYSCALLS = ("posix.write", "posix.read")


def part_of(path: str, name: str) -> str:
    if any(call in name for call in _SYSCALLS):
        return "socket reads and writes (Wire, syscalls)"
    if "select.epoll" in name:
        return "trio I/O readiness (epoll)"
    if "hmac" in name:
        return "patron keyed hash, session, call set-up"
    for marker, part in PARTS:
        if marker in path:
            return part
    return "other"


def profile(requests: int, out: Path, tmp: Path) -> None:
    """One fresh gateway under the profiler; one kiosk sends ``requests`` requests."""
    script = tmp / "profiled_gateway.py"
    script.write_text(_PROFILED_GATEWAY)

    def start_gateway(
        env: dict[str, str],
        config: Path,
        log: IO[bytes],
        tree: Path | None = None,
        log_level: str | None = None,
    ) -> tuple[subprocess.Popen[bytes], tuple[str, int]]:
        root = str(Path(__file__).resolve().parent.parent)
        command = [sys.executable, str(script), str(out), root, "--log-format", "json", "serve"]
        process = subprocess.Popen(
            [*command, "--config", str(config)], env=env, stdout=subprocess.DEVNULL, stderr=log
        )
        log_path = Path(log.name)

        def started() -> tuple[str, int] | None:
            for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
                if '"gateway started"' in line:
                    host, _, port = json.loads(line)["sip2"][0].rpartition(":")
                    return host, int(port)
            return None

        address: tuple[str, int] = passthrough.wait_for("the gateway", started, process)
        return process, address

    passthrough.start_gateway = start_gateway  # the bench's own start-up, profiled
    with passthrough.run_separately(tmp) as (gateway, _direct, pids):
        trio.run(passthrough.throughput, gateway, 1, requests, pids)


Row = tuple[float, float]  # calls, seconds (per request)


def per_request(
    short: Path, long: Path, requests: int, *, cumulative: bool = False
) -> dict[tuple[str, int, str], Any]:
    """The long run's profile minus the short one's, per request, by function, with
    each function's callers (for giving a builtin's time to its callers); the time is
    the function's own, or with ``cumulative`` its own and its callees'."""
    before: Any = pstats.Stats(str(short)).stats  # type: ignore[attr-defined]
    after: Any = pstats.Stats(str(long)).stats  # type: ignore[attr-defined]
    rows = {}
    for key, (_cc, calls, own, total, callers) in after.items():
        _c0, calls_0, own_0, total_0, callers_0 = before.get(key, (0, 0, 0.0, 0.0, {}))
        if cumulative:
            own, own_0 = total, total_0
        extra_calls = (calls - calls_0) / requests
        if extra_calls <= 0:
            continue  # start-up or shutdown only
        by_caller = {
            caller: numbers[2] - callers_0.get(caller, (0, 0, 0.0, 0.0))[2]
            for caller, numbers in callers.items()
        }
        rows[key] = (extra_calls, (own - own_0) / requests, by_caller)
    return rows


def report(
    rows: dict[tuple[str, int, str], Any],
    top: int,
    *,
    listed: dict[tuple[str, int, str], Any] | None = None,
) -> None:
    """The parts' shares (from ``rows``, own times) and the ``top`` functions of
    ``listed`` (``rows`` when not given)."""
    seconds: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    for (path, _line, name), (count, own, by_caller) in rows.items():
        builtin = path == "~" and part_of(path, name) == "other"
        if not builtin:
            seconds[part_of(path, name)] += own
            calls[part_of(path, name)] += count
            continue
        total = sum(t for t in by_caller.values() if t > 0) or 1.0
        for (c_path, _c_line, c_name), share in by_caller.items():
            if share > 0:
                seconds[part_of(c_path, c_name)] += own * share / total
    everything = sum(seconds.values())
    print(f"Python-level calls per request: {sum(r[0] for r in rows.values()):.0f}")
    print("| part | calls per request (builtins not counted) | share of profiled CPU |")
    print("|---|---:|---:|")
    for part, spent in seconds.most_common():
        print(f"| {part} | {calls[part]:.0f} | {100 * spent / everything:.0f} % |")
    print()
    print("calls/req  µs/req (profiled)  function")
    shown = rows if listed is None else listed
    for (path, line, name), (count, own, _) in sorted(shown.items(), key=lambda r: -r[1][1])[:top]:
        where = path.rsplit("site-packages/", 1)[-1].rsplit("/", 3)[-3:]
        print(f"{count:8.2f}  {own * 1e6:8.2f}  {'/'.join(where)}:{line} {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--top", type=int, default=30, help="functions to list")
    parser.add_argument(
        "--cumulative",
        action="store_true",
        help="list functions by their time with their callees' (the parts stay by own time)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        short, long = tmp / "short.prof", tmp / "long.prof"
        for count, out in ((args.requests, short), (3 * args.requests, long)):
            run = tmp / out.stem
            run.mkdir()
            profile(count, out, run)
        rows = per_request(short, long, 2 * args.requests)
        listed = (
            per_request(short, long, 2 * args.requests, cumulative=True)
            if args.cumulative
            else None
        )
        report(rows, args.top, listed=listed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
