"""``interlend report settlement``: a period's settlement as a table, CSV, JSON or HTML,
with the invoices, the netting statement and the webhook on request.

The loans come from the registry the configuration names (``--state`` points at
another Redis); the settlement is made from them by ``settle``, which the command is
given when its parser is added (the settlement engine, ``gateway.settlement``).  Every
failure a person can cause or meet (a bad period or format, a configuration that does
not load, a Redis that does not answer, a webhook that refuses) is one line on stderr
and exit status 1 (2 for a usage error), never a traceback.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from adapters.state.base import StateStore
    from config.consortium import Consortium
    from config.models import StateSettings
    from gateway.history.period import Period
    from gateway.history.reader import PeriodLoans
    from gateway.settlement.result import Settlement

    Settle = Callable[[PeriodLoans, Consortium], Settlement]

__all__ = ["FORMATS", "ReportFailed", "Settle", "add_parser", "report_registry"]

E = TypeVar("E", bound=BaseException)

FORMATS = ("table", "csv", "json", "html")
_SUFFIX = {"table": "txt", "csv": "csv", "json": "json", "html": "html"}


class ReportFailed(Exception):
    """A failure to print as one line (``status``: the exit status)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def add_parser(report_subcommands: Any, settle: Settle | None = None) -> None:
    """Add ``settlement`` to ``interlend report``'s sub-commands.

    Args:
        report_subcommands: The ``report`` parser's subparsers.
        settle: Makes a period's settlement from its loans and the consortium; without
            one the command says that this build has no settlement engine.
    """
    parser = report_subcommands.add_parser(
        "settlement",
        help="who owes what for a period, after netting",
        description=(
            "The period's settlement: each library's statement, every cost's shares and "
            "the payments after netting. Prints a table unless --format says otherwise; "
            "with --out, writes files there instead (docs/reports.md names every column)."
        ),
    )
    parser.add_argument("--period", required=True, help="YYYY-MM, or YYYY-MM-DD..YYYY-MM-DD")
    parser.add_argument(
        "--format", default="table", metavar="FORMAT", help="table (default), csv, json or html"
    )
    parser.add_argument("--out", metavar="DIR", help="write the report (and invoices) here")
    parser.add_argument("--config", required=True, metavar="FILE", help="the consortium's file")
    parser.add_argument(
        "--state", metavar="URL", help="read this Redis (redis://…) instead of the configured store"
    )
    parser.add_argument(
        "--invoices",
        action="store_true",
        help="also write one invoice per library and the netting statement (needs --out)",
    )
    parser.add_argument(
        "--webhook",
        action="store_true",
        help="also POST the settlement to [gateway.reports.webhook] (signed JSON)",
    )
    parser.set_defaults(run=partial(_run, settle=settle))


def _run(args: argparse.Namespace, *, settle: Settle | None) -> int:
    try:
        for line in _report(args, settle):
            print(line)
    except ReportFailed as exc:
        print(f"interlend: {exc}", file=sys.stderr)
        return exc.status
    return 0


def _report(args: argparse.Namespace, settle: Settle | None) -> Iterator[str]:
    """Do what ``args`` ask, giving the lines to print as it goes (so the files
    written are listed even if the webhook then fails).

    Raises:
        ReportFailed: With the one line that says what went wrong.
    """
    from pathlib import Path

    import trio

    from gateway.history.period import Period, PeriodError

    try:
        period = Period.parse(args.period)
    except PeriodError as exc:
        raise ReportFailed(f"--period {exc}", 2) from None
    if args.format not in FORMATS:
        raise ReportFailed(f"unknown --format {args.format!r}: choose {', '.join(FORMATS)}", 2)
    if args.invoices and args.out is None:
        raise ReportFailed("--invoices writes files: give --out DIR", 2)
    consortium = _load(args.config)
    settings = _state_settings(consortium, args.state)
    loans = trio.run(_read, settings, _state_password(settings), period)
    settlement = _settled(settle, loans, consortium)
    name = _consortium_name(consortium)
    if settings.backend == "memory":
        print(
            "interlend: note: the configuration keeps the registry in memory, which is empty "
            "in a new process; give --state redis://… to read the consortium's registry",
            file=sys.stderr,
        )
    if args.out is None:
        yield _render(settlement, args.format, name).rstrip("\n")
    else:
        out = Path(args.out)
        yield from _write_report(out, settlement, args.format, name)
        if args.invoices:
            yield from _write_invoices(out, settlement)
    if args.webhook:
        yield trio.run(_post, consortium, settlement)


def _settled(settle: Settle | None, loans: PeriodLoans, consortium: Consortium) -> Settlement:
    if settle is None:
        raise ReportFailed(
            "this build has no settlement engine (gateway.settlement) to make the settlement"
        )
    try:
        return settle(loans, consortium)
    except ValueError as exc:
        label = loans.period.label
        raise ReportFailed(f"the settlement of {label} cannot be made: {exc}") from None


async def report_registry(
    store: StateStore,
    consortium: Consortium,
    period: Period,
    out: Path,
    settle: Settle | None,
) -> list[str]:
    """Settle ``period`` from an open registry and write the HTML report, the invoices
    and the netting statement into ``out`` (what ``interlend demo --report`` does with
    the demo's own registry); the lines that say what was written.

    Raises:
        ReportFailed: No engine, a settlement that cannot be made, or a file that
            cannot be written.
        StateUnavailable: The registry cannot be read.
    """
    from gateway.history.reader import read_period

    settlement = _settled(settle, await read_period(store, period), consortium)
    name = _consortium_name(consortium)
    return _write_report(out, settlement, "html", name) + _write_invoices(out, settlement)


def _load(path: str) -> Consortium:
    from config.errors import ConfigError
    from config.loader import load_consortium

    try:
        return load_consortium(path, check_secrets=False)
    except ConfigError as exc:
        first = str(exc.issues[0]) if exc.issues else str(exc)
        more = f" (and {len(exc.issues) - 1} more)" if len(exc.issues) > 1 else ""
        raise ReportFailed(
            f"{first}{more}; `interlend check-config {path}` lists every issue"
        ) from None


def _state_settings(consortium: Consortium, url: str | None) -> StateSettings:
    settings = consortium.config.gateway.state
    if url is None:
        return settings
    if not url.startswith(("redis://", "rediss://")):
        raise ReportFailed(f"--state {url!r} is not a redis:// or rediss:// URL", 2)
    return settings.model_copy(update={"backend": "redis", "url": url, "sentinels": ()})


def _state_password(settings: StateSettings) -> str | None:
    from config.secrets import read_secret

    if settings.backend == "memory" or settings.password is None:
        return None
    try:
        return read_secret(env=settings.password.env, file=settings.password.file)
    except LookupError as exc:
        raise ReportFailed(f"the registry's password ({settings.password}): {exc}") from None


async def _read(settings: StateSettings, password: str | None, period: Period) -> PeriodLoans:
    """The period's loans, from the configured store, within a bounded time."""
    import trio

    from adapters.state.base import StateUnavailable
    from adapters.state.connect import describe, open_state
    from gateway.history.reader import read_period

    where = describe(settings)
    # Opening, checking the server and one read: a few of the store's own time limits.
    try:
        with trio.fail_after(settings.timeout_s * 4):
            async with open_state(settings, password) as store:
                return await read_period(store, period)
    except (StateUnavailable, BaseExceptionGroup) as exc:
        # The Redis client's task group hands its failures on in a group.
        found = _leaf(exc, StateUnavailable)
        if found is None:
            raise
        raise ReportFailed(f"the loan registry ({where}) cannot be read: {found.detail}") from None
    except trio.TooSlowError:
        raise ReportFailed(f"the loan registry ({where}) did not answer in time") from None
    except OSError as exc:
        raise ReportFailed(f"the loan registry ({where}) cannot be reached: {exc}") from None


def _leaf(exc: BaseException, kind: type[E]) -> E | None:
    """The first ``kind`` in ``exc`` or the exception groups nested in it."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _leaf(inner, kind)
            if found is not None:
                return found
    return None


def _consortium_name(consortium: Consortium) -> str | None:
    for node in consortium.nodes.values():
        if node.kind == "consortium":
            return node.name
    return None


def _render(settlement: Settlement, fmt: str, name: str | None) -> str:
    from gateway.reports.html import settlement_html
    from gateway.reports.table import settlement_table
    from gateway.reports.tabular import settlement_csv, settlement_json

    if fmt == "html":
        return settlement_html(settlement, consortium=name)
    if fmt == "csv":
        return settlement_csv(settlement)
    if fmt == "json":
        return settlement_json(settlement)
    return settlement_table(settlement)


def _write(path: Path, text: str) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # CSV brings its own \r\n line ends: write the text as it is.
        path.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise ReportFailed(f"cannot write {path}: {exc.strerror or exc}") from None
    return f"wrote {path}"


def _write_report(out: Path, settlement: Settlement, fmt: str, name: str | None) -> list[str]:
    from gateway.reports.tabular import allocations_csv, transfers_csv

    stem = f"settlement-{settlement.period}"
    written = [_write(out / f"{stem}.{_SUFFIX[fmt]}", _render(settlement, fmt, name))]
    if fmt == "csv":
        written.append(_write(out / f"{stem}-allocations.csv", allocations_csv(settlement)))
        written.append(_write(out / f"{stem}-transfers.csv", transfers_csv(settlement)))
    return written


def _write_invoices(out: Path, settlement: Settlement) -> list[str]:
    from gateway.reports.invoices import invoices, netting_csv, netting_json, statements_file

    folder = out / f"invoices-{settlement.period}"
    written = []
    for invoice in invoices(settlement):
        library = invoice.statement.library
        written.append(_write(folder / f"{library}.csv", invoice.to_csv()))
        written.append(_write(folder / f"{library}.json", invoice.to_json()))
    written.append(_write(out / f"netting-{settlement.period}.csv", netting_csv(settlement)))
    written.append(_write(out / f"netting-{settlement.period}.json", netting_json(settlement)))
    written.append(
        _write(out / f"statements-{settlement.period}.json", statements_file(settlement))
    )
    return written


async def _post(consortium: Consortium, settlement: Settlement) -> str:
    """POST the settlement to the configured webhook; the line that says so."""
    import time
    import uuid

    from adapters.backoff import Backoff
    from adapters.billing.webhook import WebhookFailed, post_signed, shown_url
    from config.loader import WEBHOOK_SECRET_MIN
    from config.secrets import read_secret
    from gateway.reports.delivery import webhook_body

    webhook = consortium.config.gateway.reports.webhook
    if webhook is None:
        raise ReportFailed("--webhook: the configuration has no [gateway.reports.webhook]", 2)
    try:
        secret = read_secret(env=webhook.secret.env, file=webhook.secret.file)
    except LookupError as exc:
        raise ReportFailed(f"the webhook's secret ({webhook.secret}): {exc}") from None
    if len(secret.strip()) < WEBHOOK_SECRET_MIN:
        raise ReportFailed(
            f"gateway.reports.webhook.secret: the secret in {webhook.secret} is shorter than "
            f"{WEBHOOK_SECRET_MIN} characters: anyone could sign a settlement with it; "
            "nothing posted"
        )
    sent_at = int(time.time())
    body = webhook_body(settlement, delivery=uuid.uuid4().hex, sent_at=sent_at)
    try:
        delivered = await post_signed(
            webhook.url,
            body,
            secret=secret.encode("utf-8"),
            timestamp=sent_at,
            attempts=webhook.attempts,
            timeout_s=webhook.timeout_s,
            backoff=Backoff(webhook.backoff_s, max(webhook.backoff_s, webhook.backoff_cap_s)),
        )
    except WebhookFailed as exc:
        raise ReportFailed(f"webhook: {exc}") from None
    status, tries = delivered.status, delivered.attempts
    return f"posted the settlement to {shown_url(webhook.url)} (HTTP {status}, try {tries})"
