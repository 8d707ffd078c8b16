"""``interlend report usage`` and ``interlend report collection``: the consortium's
analytics from the configured registry and holdings exports.

``usage --period P`` reads the period's loans and refusals from the state store named
by ``--config``; ``collection [--period P]`` reads the holdings exports the
configuration lists (``[[gateway.holdings]]``) and the loans (the period's, or every
loan the history keeps).  Both print a table, CSV or JSON (``--format``) to standard
output, or write ``usage-<period>.<ext>`` / ``collection-<period|all>.<ext>`` into
``--out DIR``.  The definitions are ``gateway/analytics``'s (``docs/analytics.md``).

A registry kept in the gateway's memory cannot be read from another process: ``usage``
then says to ask the running gateway (``GET /api/analytics/usage``), and
``collection`` reports the exports alone, with a note.

Exit status: 0 done, 1 with a one-line reason on standard error (configuration,
registry, export or output), 2 for a malformed argument.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.cli.loading import fail, load_with_secrets

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from adapters.state.base import ClosedHold, Loan, RefusalRecord
    from config.consortium import Consortium
    from gateway.history.period import Period

__all__ = ["add_parsers"]

FORMATS = ("table", "csv", "json")
EXTENSIONS = {"table": "txt", "csv": "csv", "json": "json"}
Found = tuple["Sequence[Loan]", "Sequence[RefusalRecord]", "Sequence[ClosedHold]"]
"""What a report reads: loans, refusals, ended title holds."""
EVERYTHING = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
"""The whole history, for a collection report without a period."""


def add_parsers(report_subcommands: Any) -> None:
    """Add ``usage`` and ``collection`` to the ``report`` command's subparsers."""
    usage = report_subcommands.add_parser(
        "usage",
        help="flows between libraries, net positions, fill rate, turnaround, refusals",
        description=(
            "How the network was used in a period: who lent to whom, each library's net "
            "position against its goal ratio, fill rate, turnaround, refusals by code and "
            "library, busiest hours and the weekly trend."
        ),
    )
    _common(usage, period_required=True)
    usage.set_defaults(run=run_usage)
    collection = report_subcommands.add_parser(
        "collection",
        help="overlap and unique holdings, titles held by many and never lent, top titles",
        description=(
            "What the libraries hold side by side (from the holdings exports) and what of "
            "it was lent across the network: pairwise overlap, titles held by one library "
            "only, titles held by many and never lent, top borrowed titles and items."
        ),
    )
    _common(collection, period_required=False)
    collection.add_argument(
        "--many",
        type=int,
        default=2,
        metavar="N",
        help="the fewest holders for 'held by many and never lent' (default 2)",
    )
    collection.set_defaults(run=run_collection)


def _common(parser: argparse.ArgumentParser, *, period_required: bool) -> None:
    parser.add_argument("--config", required=True, help="the gateway's configuration (TOML)")
    parser.add_argument(
        "--period",
        required=period_required,
        metavar="PERIOD",
        help="YYYY-MM, or YYYY-MM-DD..YYYY-MM-DD (both days included)"
        + ("" if period_required else "; default: every loan the history keeps"),
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    parser.add_argument("--out", metavar="DIR", help="write the report into DIR")


def _period(text: str | None) -> Period | int | None:
    from gateway.history.period import Period, PeriodError

    if text is None:
        return None
    try:
        return Period.parse(text)
    except PeriodError as exc:
        return fail(f"--period: {exc}", 2)


def _load(path: str) -> tuple[Consortium, str | None] | int:
    """The configuration and the state store's password (when it has one)."""
    loaded = load_with_secrets(path)
    if isinstance(loaded, int):
        return loaded
    consortium, found = loaded
    state = consortium.config.gateway.state
    password = found.get(("gateway", "state", "password"))
    if state.password is not None and password is None:
        return fail("the state store's password cannot be read: set it first")
    return consortium, password


def _read(
    consortium: Consortium, password: str | None, period: Period | None, *, refusals: bool
) -> Found | str:
    """The loans (and refusals and ended title holds) of ``period`` from the configured
    store, or why not."""
    import trio

    from adapters.state.base import StateUnavailable
    from adapters.state.connect import open_state
    from gateway.history.holds import read_closed_holds
    from gateway.history.reader import read_period
    from gateway.history.refusals import read_refusals

    async def read() -> Found:
        async with open_state(consortium.config.gateway.state, password) as store:
            if period is None:
                return await store.loans_between(*EVERYTHING), (), ()
            loans = (await read_period(store, period)).loans
            if not refusals:
                return loans, (), ()
            return loans, await read_refusals(store, period), await read_closed_holds(store, period)

    try:
        return trio.run(read)
    except StateUnavailable as exc:
        return f"the state store: {exc.detail}"
    except ExceptionGroup as group:
        # A failure inside the client's task group comes out wrapped.
        found = group.subgroup(StateUnavailable)
        if found is None:
            raise
        first = found.exceptions[0]
        assert isinstance(first, StateUnavailable)
        return f"the state store: {first.detail}"


def _emit(text: str, out: str | None, name: str) -> int:
    if out is None:
        sys.stdout.write(text)
        return 0
    target = Path(out) / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        return fail(f"cannot write {target}: {exc.strerror or exc}")
    print(target)
    return 0


def run_usage(args: argparse.Namespace) -> int:
    """``report usage``: the exit status."""
    from gateway.analytics.inputs import goal_ratios
    from gateway.analytics.render import usage_csv, usage_table
    from gateway.analytics.usage import usage_report
    from gateway.history.reader import PeriodLoans

    period = _period(args.period)
    if isinstance(period, int):
        return period
    assert period is not None
    loaded = _load(args.config)
    if isinstance(loaded, int):
        return loaded
    consortium, password = loaded
    if consortium.config.gateway.state.backend == "memory":
        return fail(
            "the registry lives in the gateway's memory: ask the running gateway "
            f"(GET /api/analytics/usage?period={period.label} on its admin port)"
        )
    found = _read(consortium, password, period, refusals=True)
    if isinstance(found, str):
        return fail(found)
    loans, refusals, closed = found
    report = usage_report(
        PeriodLoans(period, tuple(loans)),
        refusals,
        libraries=consortium.libraries,
        goal_ratios=goal_ratios(consortium),
        closed_holds=closed,
    )
    if args.format == "json":
        text = json.dumps(report.to_json(), indent=2) + "\n"
    else:
        text = usage_csv(report) if args.format == "csv" else usage_table(report)
    return _emit(text, args.out, f"usage-{period.label}.{EXTENSIONS[args.format]}")


def run_collection(args: argparse.Namespace) -> int:
    """``report collection``: the exit status."""
    from gateway.analytics.collection import collection_report
    from gateway.analytics.render import collection_csv, collection_table
    from gateway.network.discovery import HoldingsError, HoldingsIndex

    if args.many < 1:
        return fail("--many: give a number of libraries, 1 or more", 2)
    period = _period(args.period)
    if isinstance(period, int):
        return period
    loaded = _load(args.config)
    if isinstance(loaded, int):
        return loaded
    consortium, password = loaded
    settings = consortium.config.gateway
    index = HoldingsIndex()
    for export in settings.holdings:
        try:
            index.load_csv(export.file, export.member)
        except HoldingsError as exc:
            return fail(str(exc))
        except OSError as exc:
            return fail(f"cannot read {export.file}: {exc.strerror or exc}")
    loans: Sequence[Loan] = ()
    if settings.state.backend == "memory":
        print(
            "interlend: loans are not counted: the registry lives in the gateway's memory "
            "(GET /api/analytics/collection on its admin port counts them)",
            file=sys.stderr,
        )
    else:
        found = _read(consortium, password, period, refusals=False)
        if isinstance(found, str):
            return fail(found)
        loans = found[0]
    report = collection_report(
        index.copies(), loans, libraries=consortium.libraries, many=args.many
    )
    label = period.label if period is not None else "all"
    if args.format == "json":
        data = {"period": None if period is None else period.label, **report.to_json()}
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = collection_csv(report) if args.format == "csv" else collection_table(report)
    return _emit(text, args.out, f"collection-{label}.{EXTENSIONS[args.format]}")
