"""The policies page: a library's effective policy, every setting with its value and
where it came from, in the words ``interlend check-config`` prints
(``config/provenance.py``).  One library at a time (``?library=``), chosen from a row
of links: each holds some sixty settings."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from config.provenance import policy_rows
from gateway.admin.console.layout import data_table, text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from config.consortium import Consortium

__all__ = ["policies_body"]


def _library(consortium: Consortium, node_id: str) -> str:
    node = consortium.nodes[node_id]
    parents = ", ".join(m.parent for m in node.memberships) or "top level"
    rows = [
        (f"<code>{text(r.key)}</code>", text(r.value), text(r.reason))
        for r in policy_rows(consortium, node_id)
    ]
    return (
        '<section aria-labelledby="policy">'
        f'<h2 id="policy">{text(node_id)} — {text(node.name)}</h2>'
        f'<p class="note">{text(node.kind.replace("_", "-"))}, in {text(parents)}</p>'
        + data_table(
            f"Effective policy of {node_id}", ("Setting", "Value", "Where it came from"), rows
        )
        + "</section>"
    )


def policies_body(consortium: Consortium, params: Mapping[str, str]) -> tuple[int, str]:
    """The policies page's status code and content: the library links, then the
    chosen library's policy (the first library's unless ``library=`` names one)."""
    libraries = list(consortium.libraries)
    chosen = params.get("library") or (libraries[0] if libraries else "")
    links = "".join(
        f'<li><a href="/policies?library={quote(m)}"'
        f"{' aria-current=page' if m == chosen else ''}>"
        f"{text(m)} — {text(consortium.nodes[m].name)}</a></li>"
        for m in libraries
    )
    tabs = f'<nav aria-label="Libraries"><ul class="tabs">{links}</ul></nav>'
    if chosen not in libraries:
        known = ", ".join(libraries)
        return 400, tabs + (
            f'<p class="error" role="alert">library must be one of the member libraries '
            f"({text(known)})</p>"
        )
    return 200, tabs + _library(consortium, chosen)
