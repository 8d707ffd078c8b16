"""``interlend demo --history DAYS [--history-seed N] [--report DIR]``.

The demo command calls three hooks from here: ``add_arguments`` (its options),
``refusal`` (a mistake in them, before anything starts) and ``play`` (once the demo
runs: the synthetic history into the running gateway's own registry, whatever store it
uses, then the history's settlement report when asked).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from gateway.demo.network import Demo
    from gateway.history.period import Period

__all__ = ["add_arguments", "play", "refusal"]

MOST_DAYS = 366


def add_arguments(demo: Any) -> None:
    """Add the history's options to the ``demo`` parser."""
    demo.add_argument(
        "--history",
        type=int,
        default=0,
        metavar="DAYS",
        help="play DAYS days of synthetic reciprocal traffic into the registry (so reports "
        "have something to show)",
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


def refusal(args: argparse.Namespace) -> str | None:
    """What is wrong with the history's options (one line), or ``None``."""
    if not 0 <= args.history <= MOST_DAYS:
        return f"--history takes 0 to {MOST_DAYS} days"
    if args.report and not args.history:
        return "--report needs --history DAYS (it reports them)"
    return None


async def play(demo: Demo, args: argparse.Namespace) -> None:
    """Play the history into the running demo and print what happened (nothing without
    ``--history``)."""
    from datetime import timedelta
    from pathlib import Path

    from gateway.demo.seed import play_demo_history
    from gateway.history.period import Period

    if not args.history:
        return
    # At the loans' own past times and on items of their own: the live demo is not
    # disturbed.
    played = await play_demo_history(
        demo.gateway.services.store, days=args.history, seed=args.history_seed
    )
    span = f"{played.start.date()}..{(played.end - timedelta(days=1)).date()}"
    done = (
        "was already in the registry"
        if played.skipped
        else f"{played.loans} synthetic reciprocal loans, now in the registry"
    )
    print(f"History of {span}: {done} (/api/loans)", flush=True)
    if args.report:
        await write_report(demo, Period.parse(span), Path(args.report))


async def write_report(demo: Demo, period: Period, out: Path) -> None:
    """The period's settlement report, written from the running demo's registry; a
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
