"""The analytics API of the admin port: the usage and collection reports as JSON.

* ``GET /api/analytics/usage?period=YYYY-MM`` (or ``YYYY-MM-DD..YYYY-MM-DD``; the
  current UTC month when left out): ``UsageReport.to_json()``.
* ``GET /api/analytics/collection[?period=…][&many=N]``: ``CollectionReport.to_json()``
  over the discovery index's holdings and the period's loans (the last 365 days
  without one), with ``period`` added.

A period is at most ``MAX_DAYS`` long: a request reads every loan of its period, and
an admin page must not make the registry read its whole history at once.

The keys are documented in ``docs/analytics.md``.  A malformed parameter is 400 with
``{"error": …}``; a registry that cannot be read, 503.  Both sit behind the admin
port's bearer tokens like every ``/api`` route (``auth.py``); neither holds personal
data (libraries, titles, item barcodes and counts only).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

from adapters.state.base import StateUnavailable
from gateway.analytics.collection import CollectionReport, collection_report
from gateway.analytics.inputs import goal_ratios
from gateway.analytics.usage import UsageReport, usage_report
from gateway.history.holds import read_closed_holds
from gateway.history.period import Period, PeriodError
from gateway.history.reader import read_period
from gateway.history.refusals import read_refusals
from gateway.runtime.clock import utc_now

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from gateway.admin.view import AdminView
    from gateway.history.reader import PeriodLoans

__all__ = [
    "MAX_DAYS",
    "AnalyticsRoutes",
    "last_year",
    "period_choice",
    "read_collection",
    "read_usage",
    "this_month",
]

MANY_MAX = 1000
MAX_DAYS = 366
"""The longest period one request reads."""


def _error(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def period_choice(text: str | None, default: Period) -> Period | str:
    """The period asked for (``default`` when none), or why it cannot be read (the
    console's analytics page takes the same periods with the same limit)."""
    try:
        period = default if text is None else Period.parse(text)
    except PeriodError as exc:
        return f"period: {exc}"
    if period.days > MAX_DAYS:
        return f"period: at most {MAX_DAYS} days at a time ({period.days} asked)"
    return period


def _period(text: str | None, default: Period) -> Period | Response:
    """The period asked for (``default`` when none), or the 400 saying what is wrong."""
    period = period_choice(text, default)
    return _error(period) if isinstance(period, str) else period


def this_month() -> Period:
    """The current UTC month, the usage report's default period."""
    now = utc_now()
    return Period.month(now.year, now.month)


def last_year() -> Period:
    """The last 365 days (today included), the collection report's default period."""
    today = utc_now().date()
    first = today - timedelta(days=364)
    return Period(first, today, f"{first.isoformat()}..{today.isoformat()}")


async def read_usage(
    view: AdminView, period: Period, history: PeriodLoans | None = None
) -> UsageReport:
    """The usage report of ``period`` from the registry the view's gateway uses
    (``history``: the period's loans, when the caller has read them already).

    Raises:
        StateUnavailable: The registry cannot be read.
    """
    rules, services = view.current()
    loans = await read_period(services.store, period) if history is None else history
    refusals = await read_refusals(services.store, period)
    closed = await read_closed_holds(services.store, period)
    return usage_report(
        loans,
        refusals,
        libraries=rules.consortium.libraries,
        goal_ratios=goal_ratios(rules.consortium),
        closed_holds=closed,
    )


async def read_collection(
    view: AdminView,
    period: Period,
    many: int = 2,
    *,
    limit: int = 20,
    history: PeriodLoans | None = None,
) -> CollectionReport:
    """The collection report over the discovery index's holdings and ``period``'s loans
    (``history``: those loans, when the caller has read them already).

    Raises:
        StateUnavailable: The registry cannot be read.
    """
    rules, services = view.current()
    read = await read_period(services.store, period) if history is None else history
    loans = read.loans
    return collection_report(
        services.holdings.copies(),
        loans,
        libraries=rules.consortium.libraries,
        many=many,
        limit=limit,
    )


class AnalyticsRoutes:
    """``/api/analytics/…`` over a gateway's view (see the module documentation)."""

    def __init__(self, view: AdminView) -> None:
        self._view = view

    async def usage(self, request: Request) -> Response:
        """``/api/analytics/usage``."""
        period = _period(request.query_params.get("period"), this_month())
        if not isinstance(period, Period):
            return period
        try:
            report = await read_usage(self._view, period)
        except StateUnavailable as exc:
            return _error(exc.detail, 503)
        return JSONResponse(report.to_json())

    async def collection(self, request: Request) -> Response:
        """``/api/analytics/collection``."""
        params = request.query_params
        period = _period(params.get("period"), last_year())
        if not isinstance(period, Period):
            return period
        many_text = params.get("many", "2")
        if not many_text.isdigit() or not 1 <= int(many_text) <= MANY_MAX:
            return _error(f"many: give a number of libraries from 1 to {MANY_MAX}")
        try:
            report = await read_collection(self._view, period, int(many_text))
        except StateUnavailable as exc:
            return _error(exc.detail, 503)
        return JSONResponse({"period": period.label, **report.to_json()})
