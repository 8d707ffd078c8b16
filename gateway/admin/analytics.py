"""The analytics API of the admin port: the usage and collection reports as JSON.

* ``GET /api/analytics/usage?period=YYYY-MM`` (or ``YYYY-MM-DD..YYYY-MM-DD``; the
  current UTC month when left out): ``UsageReport.to_json()``.
* ``GET /api/analytics/collection[?period=…][&many=N]``: ``CollectionReport.to_json()``
  over the discovery index's holdings and the period's loans (every loan the history
  keeps without a period), with ``period`` added (``null`` for all).

The keys are documented in ``docs/analytics.md``.  A malformed parameter is 400 with
``{"error": …}``; a registry that cannot be read, 503.  Both sit behind the admin
port's bearer tokens like every ``/api`` route (``auth.py``); neither holds personal
data (libraries, titles, item barcodes and counts only).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

from adapters.state.base import StateUnavailable
from gateway.analytics.collection import collection_report
from gateway.analytics.inputs import goal_ratios
from gateway.analytics.usage import usage_report
from gateway.history.period import Period, PeriodError
from gateway.history.reader import read_period
from gateway.history.refusals import read_refusals
from gateway.runtime.clock import utc_now

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from gateway.admin.view import AdminView

__all__ = ["AnalyticsRoutes"]

EVERYTHING = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
MANY_MAX = 1000


def _error(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class AnalyticsRoutes:
    """``/api/analytics/…`` over a gateway's view (see the module documentation)."""

    def __init__(self, view: AdminView) -> None:
        self._view = view

    async def usage(self, request: Request) -> Response:
        """``/api/analytics/usage``."""
        text = request.query_params.get("period")
        try:
            now = utc_now()
            period = Period.month(now.year, now.month) if text is None else Period.parse(text)
        except PeriodError as exc:
            return _error(f"period: {exc}")
        rules, services = self._view.current()
        try:
            loans = await read_period(services.store, period)
            refusals = await read_refusals(services.store, period)
        except StateUnavailable as exc:
            return _error(exc.detail, 503)
        report = usage_report(
            loans,
            refusals,
            libraries=rules.consortium.libraries,
            goal_ratios=goal_ratios(rules.consortium),
        )
        return JSONResponse(report.to_json())

    async def collection(self, request: Request) -> Response:
        """``/api/analytics/collection``."""
        params = request.query_params
        try:
            period = Period.parse(params["period"]) if "period" in params else None
        except PeriodError as exc:
            return _error(f"period: {exc}")
        many_text = params.get("many", "2")
        if not many_text.isdigit() or not 1 <= int(many_text) <= MANY_MAX:
            return _error(f"many: give a number of libraries from 1 to {MANY_MAX}")
        rules, services = self._view.current()
        try:
            if period is None:
                loans = await services.store.loans_between(*EVERYTHING)
            else:
                loans = list((await read_period(services.store, period)).loans)
        except StateUnavailable as exc:
            return _error(exc.detail, 503)
        report = collection_report(
            services.holdings.copies(),
            loans,
            libraries=rules.consortium.libraries,
            many=int(many_text),
        )
        return JSONResponse(
            {"period": None if period is None else period.label, **report.to_json()}
        )
