"""The discovery page: who in the network holds a title, an ISBN or an item, what each
holder's ILS says of its copy right now, and in which order the lenders would be asked
for a requesting library, with the reasons.

It runs the same lookups as ``/api/discover`` and ``/api/lenders``
(``gateway/network/``), and refuses the same unsafe values before any member is asked
(``routes.unsafe_query``).  A search is a GET: nothing at any member changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.admin.console.layout import badge, data_table, select_field, text
from gateway.admin.routes import QUERY_MAX, unsafe_query
from gateway.network.discovery import discover
from gateway.network.lenders import rank_lenders
from gateway.network.results import CopyAvailability
from gateway.network.selection import STRATEGY_NAMES
from gateway.runtime.directory import MemberDirectory

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from gateway.admin.view import AdminView
    from gateway.network.results import Discovery, FoundCopy
    from gateway.network.selection.model import Ranking

__all__ = ["DiscoveryQuery", "discover_body", "parse_discovery_query"]

_KINDS = (("title", "Title words"), ("isbn", "ISBN"), ("item", "Item barcode"))


@dataclass(frozen=True, slots=True)
class DiscoveryQuery:
    """What the discovery page is asked (``search`` empty: only the form is shown)."""

    search: str = ""
    by: str = "title"
    requester: str = ""
    strategy: str = "fair-share"


def parse_discovery_query(
    params: Mapping[str, str], libraries: Sequence[str]
) -> DiscoveryQuery | str:
    """The query the page is asked, or why it cannot be answered (the search itself
    is checked against what a member ILS may be sent in ``discover_body``)."""
    by = params.get("by", "title")
    if by not in dict(_KINDS):
        return "search by title, isbn or item"
    requester = params.get("requester", libraries[0] if libraries else "")
    if requester and requester not in libraries:
        return f"requester must be one of the member libraries ({', '.join(libraries)})"
    strategy = params.get("strategy", "fair-share")
    if strategy not in STRATEGY_NAMES:
        return f"strategy must be one of {', '.join(STRATEGY_NAMES)}"
    return DiscoveryQuery(params.get("q", "").strip(), by, requester, strategy)


def _form(query: DiscoveryQuery, libraries: Sequence[str]) -> str:
    return (
        '<form class="search" method="get" action="/discover" role="search" aria-label="Discovery">'
        f'<label for="q">Search the network<input type="search" id="q" name="q" '
        f'value="{text(query.search)}" maxlength="{QUERY_MAX}" required autocomplete="off"></label>'
        f"{select_field('by', 'Search by', _KINDS, query.by)}"
        + select_field(
            "requester",
            "Rank lenders for",
            [("", "no ranking"), *((m, m) for m in libraries)],
            query.requester,
        )
        + select_field("strategy", "Strategy", [(s, s) for s in STRATEGY_NAMES], query.strategy)
        + '<button type="submit">Search the network</button></form>'
    )


def _availability(copy: FoundCopy) -> str:
    match copy.availability:
        case CopyAvailability.AVAILABLE:
            return badge("available", good=True)
        case CopyAvailability.UNAVAILABLE:
            return badge(copy.status, good=None)
        case CopyAvailability.UNKNOWN:
            return f'<span class="note">{text(copy.status)}</span>'


def _holdings(found: Discovery, directory: MemberDirectory) -> str:
    rows = [
        (
            f"{text(c.member)}<br><span class=note>{text(directory.name(c.member))}</span>",
            f"<code>{text(c.item)}</code>",
            text(c.title),
            text(c.location),
            _availability(c),
            "live" if c.availability is not CopyAvailability.UNKNOWN else "index",
        )
        for c in found.holdings
    ]
    holders = sorted({c.member for c in found.holdings})
    lead = (
        f"<p>{len(found.holdings)} cop{'ies' if len(found.holdings) != 1 else 'y'} at "
        f"{len(holders)} librar{'ies' if len(holders) != 1 else 'y'}"
        f"{': ' + text(', '.join(holders)) if holders else ''} "
        f"(live lookups took {found.elapsed_ms} ms).</p>"
    )
    unreachable = "".join(
        f"<li>{text(u.member)} ({text(u.name)}): {text(u.detail)}</li>" for u in found.unreachable
    )
    warning = (
        '<div class="error" role="status"><p>Not every holder answered; the list may miss '
        f"copies.</p><ul>{unreachable}</ul></div>"
        if unreachable
        else ""
    )
    return (
        lead
        + warning
        + data_table(
            "Copies held in the network",
            ("Library", "Item", "Title", "Location", "Status now", "Source"),
            rows,
            empty="No library holds it.",
        )
    )


def _ranking(ranking: Ranking, requester: str) -> str:
    rows = [
        (
            text(lender.position),
            text(lender.member),
            text(f"{lender.score:.3f}" if lender.score is not None else None),
            "<br>".join(text(r) for r in lender.reasons) or "—",
        )
        for lender in ranking.lenders
    ]
    excluded = "".join(
        f"<li><strong>{text(e.member)}</strong>: {text(e.reason)}</li>" for e in ranking.excluded
    )
    return (
        f'<section aria-labelledby="ranking"><h2 id="ranking">Lenders for {text(requester)}, '
        f"in order ({text(ranking.strategy)})</h2>"
        + data_table(
            "The order in which the lenders would be asked",
            ("Position", "Library", "Score", "Reasons"),
            rows,
            empty="No library can lend it.",
            numeric=frozenset({0, 2}),
        )
        + (f"<h3>Left out</h3><ul>{excluded}</ul>" if excluded else "")
        + "</section>"
    )


async def discover_body(view: AdminView, params: Mapping[str, str]) -> tuple[int, str]:
    """The discovery page's status code and content for the request's ``params``."""
    rules, services = view.current()
    libraries = list(rules.consortium.libraries)
    query = parse_discovery_query(params, libraries)
    if isinstance(query, str):
        return 400, _form(DiscoveryQuery(), libraries) + _error(query)
    form = _form(query, libraries)
    if not query.search:
        return 200, form + '<p class="note">Search by title words, ISBN or item barcode.</p>'
    unsafe = unsafe_query(rules, {query.by: query.search}, (query.by,))
    if unsafe is not None:
        return 400, form + _error(unsafe.replace(f"{query.by}=", "the search"))
    directory = MemberDirectory(rules, services)
    asked = {query.by: query.search}
    if query.requester and query.by != "item":
        ranked = await rank_lenders(
            directory,
            services.holdings,
            services.counters,
            requester=query.requester,
            title=asked.get("title"),
            isbn=asked.get("isbn"),
            strategy=query.strategy,
            loans=services.store,
        )
        found, ranking = ranked.discovery, ranked.ranking
    else:
        found = await discover(
            directory,
            services.holdings,
            item=asked.get("item"),
            isbn=asked.get("isbn"),
            title=asked.get("title"),
        )
        ranking = None
    holders = _holdings(found, directory)
    body = (
        f'{form}<section aria-labelledby="copies"><h2 id="copies">Holders</h2>{holders}</section>'
    )
    if ranking is not None:
        body += _ranking(ranking, query.requester)
    elif query.by == "item":
        body += '<p class="note">Lenders are ranked for a title or an ISBN, not an item.</p>'
    return 200, body


def _error(message: str) -> str:
    return f'<p class="error" role="alert">{text(message)}</p>'
