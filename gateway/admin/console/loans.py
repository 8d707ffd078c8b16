"""The loans page: the registry's loans, newest first, searched by item barcode or loan
id, filtered by owner, home library and state, a page at a time.

It reads the most recent ``LOANS_LISTED`` loans (the depth ``/api/loans`` pages to)
and filters them here; the patron is shown only as the registry keeps it, a keyed
hash.  Searching is a GET, so a search is a link that can be kept and shared.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from adapters.state.base import LoanState, StateUnavailable
from gateway.admin.console.layout import badge, data_table, select_field, text, when
from gateway.admin.routes import LOANS_LISTED

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from adapters.state.base import Loan
    from gateway.admin.view import AdminView

__all__ = ["LOANS_PER_PAGE", "LoanQuery", "loans_body", "parse_loan_query"]

LOANS_PER_PAGE = 20
SEARCH_MAX = 64
"""The longest search taken: no barcode or loan id is longer."""
_STATES = {"": None, "active": LoanState.ACTIVE, "returned": LoanState.RETURNED}


@dataclass(frozen=True, slots=True)
class LoanQuery:
    """What the loans page is asked for (every field checked)."""

    search: str = ""
    owner: str = ""
    home: str = ""
    state: str = ""
    page: int = 1

    def matches(self, loan: Loan) -> bool:
        """Whether ``loan`` is one the query asks for."""
        wanted = _STATES[self.state]
        return (
            (not self.search or self.search in (loan.item, loan.loan_id))
            and (not self.owner or loan.owner == self.owner)
            and (not self.home or loan.home == self.home)
            and (wanted is None or loan.state is wanted)
        )

    def link(self, page: int) -> str:
        """The loans page's URL for this query at ``page``."""
        asked = {
            "q": self.search,
            "owner": self.owner,
            "home": self.home,
            "state": self.state,
        }
        kept = {k: v for k, v in asked.items() if v}
        return "/loans?" + urlencode({**kept, "page": page})


def parse_loan_query(params: Mapping[str, str], libraries: Sequence[str]) -> LoanQuery | str:
    """The query the page is asked for, or why it cannot be answered."""
    search = params.get("q", "").strip()
    if len(search) > SEARCH_MAX:
        return f"the search is longer than {SEARCH_MAX} characters"
    if any(unicodedata.category(ch) == "Cc" for ch in search):
        return "the search must not hold control characters"
    for name in ("owner", "home"):
        value = params.get(name, "")
        if value and value not in libraries:
            return f"{name} must be one of the member libraries ({', '.join(libraries)})"
    state = params.get("state", "")
    if state not in _STATES:
        return "state must be active or returned"
    try:
        page = int(params.get("page", "1"))
    except ValueError:
        return "page must be a whole number"
    if page < 1:
        return "page must be 1 or more"
    return LoanQuery(search, params.get("owner", ""), params.get("home", ""), state, page)


def _form(query: LoanQuery, libraries: Sequence[str]) -> str:
    every = [("", "any library"), *((m, m) for m in libraries)]
    return (
        '<form class="search" method="get" action="/loans" role="search" aria-label="Loans">'
        f'<label for="q">Item barcode or loan id<input type="search" id="q" name="q" '
        f'value="{text(query.search)}" maxlength="{SEARCH_MAX}" autocomplete="off"></label>'
        f"{select_field('owner', 'Owner', every, query.owner)}"
        f"{select_field('home', 'Home library', every, query.home)}"
        + select_field(
            "state",
            "State",
            [("", "active or returned"), ("active", "active"), ("returned", "returned")],
            query.state,
        )
        + '<button type="submit">Search loans</button></form>'
    )


def _patron(key: str) -> str:
    shown = key if len(key) <= 16 else f"{key[:16]}…"
    return f'<code title="keyed hash of the patron">{text(shown)}</code>'


LOAN_ID_SHOWN = 12
"""Characters of a loan id shown in the table; the whole id is its link's title and
target (a search for that loan)."""


def _loan_link(loan_id: str) -> str:
    shown = loan_id if len(loan_id) <= LOAN_ID_SHOWN else f"{loan_id[:LOAN_ID_SHOWN]}…"
    target = "/loans?" + urlencode({"q": loan_id})
    return (
        f'<a href="{text(target)}" title="{text(loan_id)}" aria-label="loan {text(loan_id)}">'
        f"<code>{text(shown)}</code></a>"
    )


def _row(loan: Loan) -> tuple[str, ...]:
    active = loan.state is LoanState.ACTIVE
    return (
        _loan_link(loan.loan_id),
        f"<code>{text(loan.item)}</code>",
        f'<span class="nowrap">{text(loan.owner)} → {text(loan.home)}</span>',
        _patron(loan.patron_key),
        when(loan.checked_out),
        when(loan.due, "%Y-%m-%d"),
        text(loan.renewals),
        badge("active", good=True)
        if active
        else badge("returned", good=None) + (f"<br>{when(loan.returned)}" if loan.returned else ""),
    )


def _pager(query: LoanQuery, pages: int) -> str:
    links = []
    if query.page > 1:
        links.append(f'<a rel="prev" href="{text(query.link(query.page - 1))}">Previous page</a>')
    links.append(f"<span>Page {query.page} of {pages}</span>")
    if query.page < pages:
        links.append(f'<a rel="next" href="{text(query.link(query.page + 1))}">Next page</a>')
    return f'<div class="pager">{"".join(links)}</div>'


async def loans_body(view: AdminView, query: LoanQuery | str) -> tuple[int, str]:
    """The loans page's status code and content for ``query`` (or the reason it was
    refused)."""
    rules, services = view.current()
    libraries = list(rules.consortium.libraries)
    if isinstance(query, str):
        return 400, _form(
            LoanQuery(), libraries
        ) + f'<p class="error" role="alert">{text(query)}</p>'
    try:
        recent = await services.store.recent_loans(LOANS_LISTED)
    except StateUnavailable as exc:
        return (
            503,
            '<p class="error" role="alert">The loan registry cannot be read: '
            f"{text(exc.detail)}</p>",
        )
    found = [loan for loan in recent if query.matches(loan)]
    pages = max(1, -(-len(found) // LOANS_PER_PAGE))
    start = (query.page - 1) * LOANS_PER_PAGE
    shown = found[start : start + LOANS_PER_PAGE]
    summary = (
        f"<p>{len(found)} loan{'s' if len(found) != 1 else ''} found among the "
        f"{LOANS_LISTED} most recent.</p>"
    )
    table = data_table(
        "Loans, newest first",
        (
            "Loan",
            "Item",
            "Owner → home",
            "Patron (hash)",
            "Checked out",
            "Due",
            "Renewals",
            "State",
        ),
        (_row(loan) for loan in shown),
        empty="No loan matches." if query.page <= pages else "No loan on this page.",
        numeric=frozenset({6}),
    )
    pager = _pager(query, pages)
    return 200, _form(query, libraries) + summary + pager + table + pager
