"""What grows in a gateway under the soak's load: tracemalloc snapshots over time.

Run by hand, on loopback only (never a test)::

    .venv/bin/python bench/memory.py [--kiosks 200] [--minutes 10] [--think-s 1]
        [--interval-s 60] [--frames 12] [--top 12] [--out DIR]

The same servers as ``bench/soak.py`` (a redis-server with AOF, anvil with the registry
contract, ``interlend simulate`` per member; no hang unless ``--hang``), and the
gateway of ``serve`` on the same configuration, but one process started by this script
(``--serve``), the way a worker of ``serve --workers N`` runs it (``Gateway.from_file``
then ``Gateway.run``), under ``tracemalloc`` from its first line.  Fewer kiosks with a
shorter think time than the soak's pass as many requests per second: 200 kiosks
thinking 1 s on average ask about 200 a second, as 1,000 thinking 5 s do.

Every ``--interval-s`` the gateway process runs a full garbage collection, takes a
snapshot (written to ``--out``) and notes the time, tracemalloc's traced total, the RSS
and the open descriptors.  At the end this script prints that series, and, between
each snapshot and the next (and from the second snapshot to the last: the first minute
is the warm-up), the allocations that grew most, grouped by the line that made them and
by their whole traceback.  tracemalloc counts only what Python allocates through its
allocators; RSS counts pages, including pymalloc arenas and glibc heaps that freed
objects leave behind.  Traced memory flat while RSS creeps is fragmentation, not a
leak.  Each sample also gives glibc's account of its heaps (``mallinfo2``: in use,
free inside the heaps, mmapped) and pymalloc's (``sys._debugmallocstats``: arenas,
bytes in live blocks, bytes free in pools in use), also with ``--frames 0``, which runs
the gateway untraced at full speed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.soak import (  # noqa: E402
    MEMBERS,
    Run,
    _stop,
    _wait,
    kiosk,
    open_fds,
    rss_mib,
    start_servers,
)

SERIES = "series.jsonl"


# --- the gateway process ------------------------------------------------------------------


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _malloc_figures() -> dict[str, float]:
    """glibc's own account of its heaps (``mallinfo2``, every arena): bytes in use by
    the program, bytes free inside the heaps (fragmentation RSS keeps), mmapped bytes."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {
        "malloc_in_use_mib": info.uordblks / 2**20,
        "malloc_free_mib": info.fordblks / 2**20,
        "malloc_mmap_mib": info.hblkhd / 2**20,
    }


_PYMALLOC = {
    "# arenas allocated current": "pymalloc_arenas",
    "# bytes in allocated blocks": "pymalloc_used_mib",
    "# bytes in available blocks": "pymalloc_free_blocks_mib",
}


def _pymalloc_figures() -> dict[str, float]:
    """Python's small-object allocator's account (``sys._debugmallocstats``, which
    writes to the C stderr, caught here): its arenas (1 MiB each on 3.11), the bytes in
    live blocks, the bytes in free blocks of pools in use, and in unused pools."""
    with tempfile.TemporaryFile() as caught:
        saved = os.dup(2)
        try:
            os.dup2(caught.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        text = caught.read().decode("ascii", "replace")
    figures: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition("=")
        number = value.strip().replace(",", "")
        if not number.isdigit():
            continue
        key = _PYMALLOC.get(name.strip())
        if key is not None:
            figures[key] = int(number) / (1 if key == "pymalloc_arenas" else 2**20)
        elif "unused pools" in name:
            figures["pymalloc_unused_pools_mib"] = int(number) / 2**20
    return figures


def serve(config: Path, out: Path, interval_s: float, snapshot_every: int) -> int:
    """The gateway, sampling; under tracemalloc when started with ``-X tracemalloc``."""
    from gateway.app.daemon import Bound, Gateway
    from gateway.telemetry.logs import configure_logging

    configure_logging(level="warning", json=True)
    gateway = Gateway.from_file(config)
    started = time.monotonic()
    tracing = tracemalloc.is_tracing()

    def sample(number: int) -> None:
        row: dict[str, float] = {"n": number, "t": time.monotonic() - started}
        if tracing and snapshot_every and number % snapshot_every == 0:
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
            snapshot.dump(str(out / f"snapshot-{number:03d}.pickle"))
        if tracing:
            current, _ = tracemalloc.get_traced_memory()
            row["traced_mib"] = current / 2**20
            row["tracemalloc_overhead_mib"] = tracemalloc.get_tracemalloc_memory() / 2**20
        row |= {
            "rss_mib": rss_mib(os.getpid()),
            "fds": open_fds(os.getpid()),
            "gc_objects": len(gc.get_objects()),
            "allocated_blocks": sys.getallocatedblocks(),
            **_malloc_figures(),
            **_pymalloc_figures(),
        }
        with (out / SERIES).open("a", encoding="utf-8") as series:
            series.write(json.dumps(row) + "\n")

    async def main() -> None:
        async with trio.open_nursery() as nursery:

            async def run_gateway(*, task_status: trio.TaskStatus[Bound]) -> None:
                await gateway.run(task_status=task_status)
                nursery.cancel_scope.cancel()

            await nursery.start(run_gateway)
            number = 0
            while True:
                sample(number)
                number += 1
                await trio.sleep(interval_s)

    trio.run(main)
    return 0


# --- the report -----------------------------------------------------------------------------


def _filtered(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    return snapshot.filter_traces(
        [
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        ]
    )


def _short(filename: str) -> str:
    for prefix in (str(ROOT) + "/", "/usr/lib/python3.11/"):
        if filename.startswith(prefix):
            return filename[len(prefix) :]
    marker = "site-packages/"
    return filename.split(marker, 1)[1] if marker in filename else filename


def diff(old: tracemalloc.Snapshot, new: tracemalloc.Snapshot, top: int, frames: int) -> None:
    """The allocations that grew most from ``old`` to ``new``."""
    for key in ("lineno", "traceback"):
        stats = new.compare_to(old, key)
        growth = sum(s.size_diff for s in stats)
        print(f"  by {key}: net {growth / 1024:+.1f} KiB")
        grown = sorted((s for s in stats if s.size_diff > 0), key=lambda s: -s.size_diff)
        for stat in grown[:top]:
            newest_first = list(reversed(stat.traceback))
            frame = newest_first[0]
            print(
                f"    {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks"
                f" (now {stat.size / 1024:.1f} KiB)  {_short(frame.filename)}:{frame.lineno}"
            )
            if key == "traceback":
                for f in newest_first[1 : frames + 1]:
                    print(f"        from {_short(f.filename)}:{f.lineno}")


def summary(out: Path, top: int, frames: int) -> None:
    rows = [json.loads(line) for line in (out / SERIES).read_text(encoding="utf-8").splitlines()]
    columns = (
        ("t", "t s", "{:.0f}"),
        ("traced_mib", "traced MiB", "{:.2f}"),
        ("rss_mib", "RSS MiB", "{:.1f}"),
        ("malloc_in_use_mib", "malloc used", "{:.1f}"),
        ("malloc_free_mib", "malloc free", "{:.1f}"),
        ("malloc_mmap_mib", "mmapped", "{:.1f}"),
        ("pymalloc_arenas", "py arenas", "{:.0f}"),
        ("pymalloc_used_mib", "py used", "{:.1f}"),
        ("pymalloc_free_blocks_mib", "py free", "{:.1f}"),
        ("allocated_blocks", "py blocks", "{:.0f}"),
        ("gc_objects", "gc objects", "{:.0f}"),
        ("fds", "fds", "{:.0f}"),
    )
    print("\n" + " ".join(f"{title:>11}" for _, title, _ in columns))
    for row in rows:
        print(
            " ".join(
                f"{form.format(row[key]):>11}" if key in row else f"{'-':>11}"
                for key, _, form in columns
            )
        )
    paths = sorted(out.glob("snapshot-*.pickle"))

    def load(path: Path) -> tracemalloc.Snapshot:
        return _filtered(tracemalloc.Snapshot.load(str(path)))

    previous = load(paths[0]) if paths else None
    for a, path in enumerate(paths[1:]):
        current = load(path)
        print(f"\nsnapshot {a} -> {a + 1}")
        assert previous is not None
        diff(previous, current, top, frames)
        previous = current
    if len(paths) > 3:
        # The last snapshot may come after the kiosks left: the one before it too.
        for last in (len(paths) - 2, len(paths) - 1):
            print(f"\nsnapshot 1 -> {last} (after the first minute)")
            diff(load(paths[1]), load(paths[last]), top, frames)


# --- the run --------------------------------------------------------------------------------


async def load(args: argparse.Namespace, port: int, run: Run) -> None:
    rng = random.Random(args.seed)
    go = trio.Event()
    send, receive = trio.open_memory_channel[int](args.kiosks)
    async with trio.open_nursery() as nursery:
        for number in range(args.kiosks):
            kiosk_rng = random.Random(rng.random())
            nursery.start_soon(kiosk, number, "127.0.0.1", port, run, kiosk_rng, send, go)
            await trio.sleep(args.ramp_s / args.kiosks)
        for _ in range(args.kiosks):
            await receive.receive()
        run.started = trio.current_time()
        go.set()
        print(f"{args.kiosks} kiosks logged in; the run starts", flush=True)
        with trio.move_on_after(args.minutes * 60):
            seen = 0
            while True:
                await trio.sleep(60)
                fresh = len(run.records) - seen
                seen = len(run.records)
                print(f"{seen} requests ({fresh / 60:.1f}/s)", flush=True)
        nursery.cancel_scope.cancel()


def measure(args: argparse.Namespace, out: Path) -> None:
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="memory-")))
        servers = start_servers(stack, tmp)
        env, config, processes = servers.env, servers.config, servers.ils
        sip2_port, admin_port = servers.sip2_port, servers.admin_port
        tracing = ("-X", f"tracemalloc={args.frames}") if args.frames else ()
        command = [
            *(sys.executable, *tracing, __file__, "--serve", str(config), "--out", str(out)),
            *("--interval-s", str(args.interval_s), "--snapshot-every", str(args.snapshot_every)),
        ]
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stderr=(out / "gateway.log").open("wb")
        )
        stack.callback(_stop, process)

        def ready() -> bool:
            url = f"http://127.0.0.1:{admin_port}/readyz"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
                return bool(answer.status == 200)
            return False

        _wait("the gateway", ready, process, timeout=600)
        run = Run(args.hang or "", args.timeout_s, args.think_s, *servers.patrons_and_items())
        load_before = os.getloadavg()
        if args.hang:
            processes[args.hang].send_signal(signal.SIGSTOP)
        trio.run(load, args, sip2_port, run)
        if args.hang:
            processes[args.hang].send_signal(signal.SIGCONT)
        print(f"load average before {load_before}, after {os.getloadavg()}")
        print(f"{len(run.records)} requests, {run.login_failures} failed logins")
        time.sleep(args.interval_s / 2)  # one more snapshot with the kiosks gone


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kiosks", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--think-s", type=float, default=1.0)
    parser.add_argument("--ramp-s", type=float, default=20.0)
    parser.add_argument("--timeout-s", type=float, default=15.0)
    parser.add_argument("--interval-s", type=float, default=60.0, help="between snapshots")
    parser.add_argument(
        "--frames", type=int, default=12, help="tracemalloc's traceback depth (0: not traced)"
    )
    parser.add_argument(
        "--snapshot-every", type=int, default=1, help="a snapshot every N samples (0: none)"
    )
    parser.add_argument("--top", type=int, default=12, help="lines of growth shown per diff")
    parser.add_argument("--hang", choices=MEMBERS, help="hang this member's ILS all the run")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--out", type=Path, help="snapshots here (default: a temporary dir)")
    parser.add_argument("--report", action="store_true", help="only report on --out's snapshots")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve, args.out, args.interval_s, args.snapshot_every)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.ExitStack() as stack:
        out = args.out or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="snap-")))
        out.mkdir(parents=True, exist_ok=True)
        if not args.report:
            for old in (*out.glob("snapshot-*.pickle"), out / SERIES):
                old.unlink(missing_ok=True)
            measure(args, out)
        summary(out, args.top, args.frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
