"""The policies page: each library's effective policy, every setting with its value and
where it came from, in the words ``interlend check-config`` prints
(``config/provenance.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from config.provenance import policy_rows
from gateway.admin.console.layout import data_table, text

if TYPE_CHECKING:
    from config.consortium import Consortium

__all__ = ["policies_body"]


def _library(consortium: Consortium, node_id: str) -> str:
    node = consortium.nodes[node_id]
    parents = ", ".join(m.parent for m in node.memberships) or "top level"
    rows = [
        (
            f"<code>{text(r.key)}</code>",
            text(r.value),
            text(r.reason) + (f" (locked by {text(r.locked_by)})" if r.locked_by else ""),
        )
        for r in policy_rows(consortium, node_id)
    ]
    anchor = f"policy-{text(node_id)}"
    return (
        f'<section aria-labelledby="{anchor}">'
        f'<h2 id="{anchor}">{text(node_id)} — {text(node.name)}</h2>'
        f'<p class="note">{text(node.kind.replace("_", "-"))}, in {text(parents)}</p>'
        + data_table(
            f"Effective policy of {node_id}", ("Setting", "Value", "Where it came from"), rows
        )
        + "</section>"
    )


def policies_body(consortium: Consortium) -> str:
    """The policies page's content: a contents list, then one section per library."""
    contents = "".join(
        f'<li><a href="#policy-{text(m)}">{text(m)} — {text(consortium.nodes[m].name)}</a></li>'
        for m in consortium.libraries
    )
    return (
        '<nav aria-label="Libraries"><ul>'
        + contents
        + "</ul></nav>"
        + "".join(_library(consortium, m) for m in consortium.libraries)
    )
