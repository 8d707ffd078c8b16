"""The network status page: each library's ILS (health, breakers, load, latency), the
kiosks connected to every gateway sharing the state store, and the ledger and its
outbox.  It reads what the admin API reads (``AdminRoutes``), through the same view.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from adapters.state.base import StateUnavailable
from gateway.admin.console.charts import latency_chart
from gateway.admin.console.layout import badge, data_table, definition_list, text, when

if TYPE_CHECKING:
    from trio import CapacityLimiter

    from gateway.admin.routes import AdminRoutes
    from gateway.admin.view import AdminView

__all__ = ["kiosks_section", "libraries_table", "status_body"]


def _measured(endpoint: dict[str, Any]) -> float | None:
    """An endpoint's average latency in milliseconds, or ``None`` before any call was
    timed (the balancer's starting guess is no measurement)."""
    if not endpoint.get("latency_samples"):
        return None
    return float(endpoint.get("latency_s", 0.0)) * 1000


def _endpoint_line(endpoint: dict[str, Any]) -> str:
    latency_ms = _measured(endpoint)
    samples = endpoint.get("latency_samples", 0)
    parts = [
        f"<strong>{text(endpoint.get('endpoint'))}</strong>",
        f"breaker {text(endpoint.get('state', 'unknown'))}",
        "latency not measured yet"
        if latency_ms is None
        else f"{latency_ms:.1f} ms average over {text(samples)} call{'s' if samples != 1 else ''}",
        f"{text(endpoint.get('failures', 0))} failures in a row",
    ]
    if endpoint.get("last_error"):
        parts.append(f"last error: {text(endpoint['last_error'])}")
    return " · ".join(parts)


def libraries_table(members: dict[str, Any]) -> str:
    """Each member's ILS as ``/api/members`` gives it, as a table."""
    rows = []
    for member, info in members.items():
        endpoints = info.get("endpoints") or []
        in_flight = info.get("in_flight", 0)
        limit = info.get("concurrency")
        load = f"{text(in_flight)} of {text(limit)}" if limit is not None else text(in_flight)
        rows.append(
            (
                f"{text(member)}<br><span class=note>{text(info.get('name'))}</span>",
                text(info.get("adapter")),
                badge("up", good=True) if info.get("healthy") else badge("down", good=False),
                load,
                "<br>".join(_endpoint_line(e) for e in endpoints) or "—",
            )
        )
    return data_table(
        "Member libraries and their ILS",
        ("Library", "Protocol", "ILS", "In flight", "Endpoints"),
        rows,
        numeric=frozenset({3}),
    )


def _latencies(members: dict[str, Any]) -> list[tuple[str, float | None]]:
    found = []
    for member, info in members.items():
        endpoints = info.get("endpoints") or []
        for endpoint in endpoints:
            label = member if len(endpoints) == 1 else f"{member} {endpoint.get('endpoint')}"
            found.append((label, _measured(endpoint)))
    return found


_OUTBOX_LABELS = {
    "draining": "Draining",
    "pending": "Events waiting",
    "seconds_since_read": "Since the last read (s)",
    "seconds_since_ack": "Since the last acknowledgement (s)",
    "consecutive_failures": "Failures in a row",
    "failing_for_s": "Failing for (s)",
    "last_error": "Last error",
    "stall_after_s": "Not draining after (s)",
}
"""The outbox consumer's figures in words (a figure not named here shows its key)."""


def _since(value: str | None) -> str:
    """An ISO time as the page shows times (unchanged if it is not one)."""
    if not value:
        return text(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return text(value)
    if moment.tzinfo is None:  # the gateways write UTC
        moment = moment.replace(tzinfo=UTC)
    return when(moment.astimezone(UTC), "%Y-%m-%d %H:%M:%S UTC")


def kiosks_section(sessions: list[dict[str, str]] | None, here: int) -> str:
    """The kiosks open here and on every gateway (``sessions`` is ``None`` when the
    state store could not be read)."""
    lead = f"<p>{here} kiosk connection{'s' if here != 1 else ''} open on this gateway.</p>"
    if sessions is None:
        return (
            lead + '<p class="error">The state store cannot be read: kiosks on other gateways '
            "are not known.</p>"
        )
    rows = [
        (
            *(text(s.get(k)) for k in ("terminal", "member", "location", "peer", "gateway")),
            _since(s.get("since")),
        )
        for s in sessions
    ]
    return lead + data_table(
        "Kiosks connected to every gateway",
        ("Terminal", "Library", "Location", "Address", "Gateway", "Since"),
        rows,
        empty="No kiosk is logged in.",
    )


async def status_body(view: AdminView, routes: AdminRoutes, drawing: CapacityLimiter) -> str:
    """The network status page's content (its chart drawn under ``drawing``)."""
    members = routes.members_now()
    services = view.current()[1]
    sessions: list[dict[str, str]] | None = None
    with contextlib.suppress(StateUnavailable):
        sessions = await services.store.sessions()
    health = view.outbox_health
    with contextlib.suppress(StateUnavailable):  # the figures say when they were seen
        health.saw_pending(await services.store.outbox_pending())
    outbox = health.statistics().to_json()
    latencies = _latencies(members)
    if any(ms is not None for _, ms in latencies):
        chart = (
            f'<figure class="chart">{await latency_chart(latencies, drawing)}'
            '<figcaption class="note">Average ILS latency per library endpoint '
            "(milliseconds, over the calls counted in the table).</figcaption></figure>"
        )
    else:
        chart = '<p class="note">No call to a member ILS has been timed yet.</p>'
    outbox_html = definition_list(
        (
            _OUTBOX_LABELS.get(key, key),
            badge("yes", good=True)
            if value is True
            else badge("no", good=False)
            if value is False
            else text(value),
        )
        for key, value in outbox.items()
    )
    return (
        '<section aria-labelledby="libraries"><h2 id="libraries">Libraries</h2>'
        f"{libraries_table(members)}{chart}</section>"
        '<section aria-labelledby="kiosks"><h2 id="kiosks">Kiosks</h2>'
        f"{kiosks_section(sessions, view.open_kiosks())}</section>"
        f'<section aria-labelledby="ledger"><h2 id="ledger">Ledger and outbox</h2>'
        f"<p>{text(routes.ledger_summary())}</p>{outbox_html}</section>"
    )
