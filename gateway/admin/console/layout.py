"""The console's page frame and the few HTML pieces every page uses.

Pages are built as strings: every value from outside goes through ``text`` (HTML
escaping, quotes included), and the pieces here take already-escaped HTML where their
argument is named ``*_html``.  The frame gives every page the same landmarks (a skip
link, a banner with the navigation, one ``main``), a language, a title, and its style
inline: nothing is fetched from anywhere at view time.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from gateway.admin.console.style import CSS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

__all__ = [
    "NAV",
    "SECURITY_HEADERS",
    "badge",
    "data_table",
    "definition_list",
    "page",
    "select_field",
    "text",
    "when",
]

NAV = (
    ("/", "Network status"),
    ("/loans", "Loans"),
    ("/analytics", "Analytics"),
    ("/discover", "Discovery"),
    ("/policies", "Policies"),
)
"""The console's pages in the navigation: path and label."""


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""Sent with every console page: nothing but the page's own inline style and SVG, no
framing by another site, no address sent to another site (but the Origin of its
own forms, which the forms check), nothing cached (pages show loans)."""


def text(value: object) -> str:
    """``value`` as HTML text (``None`` as an em dash)."""
    return "—" if value is None else escape(str(value), quote=True)


def badge(label: str, *, good: bool | None) -> str:
    """A status word drawn as a badge (``good=None``: neither good nor bad); the word
    itself carries the meaning, so colour is never the only cue."""
    kind = "neutral" if good is None else "good" if good else "bad"
    return f'<span class="badge {kind}">{text(label)}</span>'


def data_table(
    caption: str,
    headers: Sequence[str],
    rows_html: Iterable[Sequence[str]],
    *,
    empty: str = "Nothing to show.",
    numeric: frozenset[int] = frozenset(),
) -> str:
    """A table with a caption and column headers; cells are HTML already.  Columns
    whose index is in ``numeric`` are right-aligned."""
    head = "".join(
        f'<th scope="col"{" class=num" if n in numeric else ""}>{text(h)}</th>'
        for n, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if n in numeric else ''}>{cell}</td>" for n, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows_html
    )
    if not body:
        body = f'<tr><td colspan="{len(headers)}">{text(empty)}</td></tr>'
    return (
        f'<div class="scroll"><table><caption>{text(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def select_field(name: str, label: str, choices: Sequence[tuple[str, str]], chosen: str) -> str:
    """A labelled ``<select>`` of ``(value, shown)`` choices with ``chosen`` selected."""
    options = "".join(
        f'<option value="{text(value)}"{" selected" if value == chosen else ""}>'
        f"{text(shown)}</option>"
        for value, shown in choices
    )
    return (
        f'<label for="{name}">{text(label)}'
        f'<select id="{name}" name="{name}">{options}</select></label>'
    )


def definition_list(pairs: Iterable[tuple[str, str]]) -> str:
    """Terms and their values (values are HTML already)."""
    items = "".join(f"<dt>{text(term)}</dt><dd>{value}</dd>" for term, value in pairs)
    return f"<dl>{items}</dl>"


def when(moment: datetime, shown: str = "%Y-%m-%d %H:%M") -> str:
    """A moment as a ``<time>`` element (kept on one line by the style sheet)."""
    return f'<time datetime="{moment.isoformat()}">{text(moment.strftime(shown))}</time>'


def page(title: str, body_html: str, *, path: str, logout: bool, navigation: bool = True) -> str:
    """A whole console page.

    Args:
        title: The page's title (also its heading).
        body_html: What the page shows, under its heading.
        path: The page's path, marked as current in the navigation.
        logout: Whether to offer the logout button (the port has tokens).
        navigation: Whether to show the pages' navigation (not on the login page,
            where every link would lead back to it).
    """
    links = "".join(
        f'<li><a href="{href}"{" aria-current=page" if href == path else ""}>{text(label)}</a></li>'
        for href, label in NAV
    )
    nav = f'<nav aria-label="Console"><ul>{links}</ul></nav>' if navigation else ""
    leave = (
        '<form method="post" action="/logout" class="logout">'
        '<button type="submit">Log out</button></form>'
        if logout
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{text(title)} · interlend</title><style>{CSS}</style></head><body>"
        '<a class="skip" href="#main">Skip to content</a>'
        '<header><p class="brand">interlend console</p>'
        f"{nav}{leave}</header>"
        f'<main id="main" tabindex="-1"{"" if navigation else " class=narrow"}>'
        f"<h1>{text(title)}</h1>{body_html}</main>"
        "</body></html>"
    )
