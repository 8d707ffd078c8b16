"""``interlend demo``: simulated member ILSs and a gateway on loopback, in one command."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from gateway.cli.errors import port_in_use

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from gateway.demo.network import Demo
    from gateway.history.period import Period

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    """Add ``demo`` to the top-level subparsers."""
    demo = commands.add_parser(
        "demo",
        help="run three simulated member ILSs and the gateway on loopback",
        description=(
            "Run the embedded demo: three simulated member ILSs (alpha, beta, gamma) and "
            "the gateway with the in-memory registry and the embedded ledger. Port 0 picks "
            "a free port."
        ),
    )
    demo.add_argument("--sip2-port", type=int, default=6001, help="gateway SIP2 port (6001)")
    demo.add_argument("--admin-port", type=int, default=9090, help="admin HTTP port (9090)")
    demo.add_argument(
        "--ncip-port", type=int, default=8080, help="NCIP port (POST /ncip; 0: a free one)"
    )
    demo.add_argument(
        "--ncip-member",
        action="append",
        default=[],
        choices=["alpha", "beta", "gamma"],
        help="reach this member's simulated ILS over NCIP instead of SIP2 (repeatable)",
    )
    demo.add_argument("--manifest", help="write a JSON manifest here once everything is up")
    demo.add_argument(
        "--history",
        type=int,
        default=0,
        metavar="DAYS",
        help="first play DAYS days of synthetic reciprocal traffic into the registry "
        "(so reports have something to show)",
    )
    demo.add_argument(
        "--history-seed", type=int, default=1, metavar="N", help="the history's random seed (1)"
    )
    demo.add_argument(
        "--report",
        metavar="DIR",
        help="with --history: write the history's settlement report (HTML), invoices and "
        "netting statement into DIR",
    )
    demo.set_defaults(run=_demo)


def _demo(args: argparse.Namespace) -> int:
    from datetime import timedelta
    from functools import partial
    from pathlib import Path

    import trio

    from gateway.demo.network import how_to_try, run_demo
    from gateway.demo.seed import play_demo_history
    from gateway.history.period import Period

    if not 0 <= args.history <= 366:
        print("interlend: --history takes 0 to 366 days", file=sys.stderr)
        return 2
    if args.report and not args.history:
        print("interlend: --report needs --history DAYS (it reports them)", file=sys.stderr)
        return 2

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            demo = await nursery.start(
                partial(
                    run_demo,
                    sip2_port=args.sip2_port,
                    admin_port=args.admin_port,
                    ncip_port=args.ncip_port,
                    ncip_members=tuple(args.ncip_member),
                    manifest_path=Path(args.manifest) if args.manifest else None,
                )
            )
            if args.history:
                # Into the running gateway's own registry (whatever store it uses), at
                # the loans' own past times: the live demo is not disturbed.
                played = await play_demo_history(
                    demo.gateway.services.store, days=args.history, seed=args.history_seed
                )
            print(how_to_try(demo), flush=True)
            if args.history:
                span = f"{played.start.date()}..{(played.end - timedelta(days=1)).date()}"
                done = (
                    "was already in the registry"
                    if played.skipped
                    else f"{played.loans} synthetic reciprocal loans, now in the registry"
                )
                print(f"History of {span}: {done} (/api/loans)", flush=True)
                if args.report:
                    await _write_report(demo, Period.parse(span), Path(args.report))

    try:
        trio.run(main)
    except OSError as exc:
        print(port_in_use(exc), file=sys.stderr)
        return 1
    return 0


async def _write_report(demo: Demo, period: Period, out: Path) -> None:
    """The history's settlement report, written from the running demo's registry; a
    failure is one line and the demo runs on."""
    from adapters.state.base import StateUnavailable
    from gateway.cli import report
    from gateway.cli.report_settlement import ReportFailed, report_registry

    store = demo.gateway.services.store
    consortium = demo.gateway.rules.consortium
    try:
        lines = await report_registry(store, consortium, period, out, report.settle_for_reports)
    except (ReportFailed, StateUnavailable) as exc:
        print(f"interlend: no report of the history: {exc}", file=sys.stderr, flush=True)
        return
    print("\n".join(lines), flush=True)
