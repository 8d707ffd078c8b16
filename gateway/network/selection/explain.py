"""A ranking in words (for logs, the admin API and people), and as plain data.

``explain`` writes one block per lender: its place, its score where the strategy has
one, each term with its raw value and what it added, and the strategy's reasons; then
the members left out and why.  ``as_dict`` gives the same content as JSON-ready
values.  Neither adds judgement of its own: everything comes from the ``Ranking``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.network.selection.model import RankedLender, Ranking, Term

__all__ = ["as_dict", "explain"]


def _number(value: float) -> float | str:
    # JSON has no infinity: a member that never borrowed has an infinite ratio.
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _term_line(term: Term) -> str:
    text = f"      {term.name:<18} {term.value:>10.3g}"
    if term.contribution:
        text += f"  {term.contribution:+.3f}"
    if term.note:
        text += f"  ({term.note})"
    return text


def _lender_lines(lender: RankedLender) -> list[str]:
    head = f"  {lender.position:>2}. {lender.member}"
    if lender.score is not None:
        head += f"  score {lender.score:+.3f}"
    lines = [head]
    lines.extend(_term_line(term) for term in lender.terms)
    lines.extend(f"      - {reason}" for reason in lender.reasons)
    return lines


def explain(ranking: Ranking) -> str:
    """The ranking as text, one block per lender, then the exclusions."""
    lines = [f"{ranking.strategy} for request {ranking.request_id}:"]
    if not ranking.lenders:
        lines.append("  no lender to ask")
    for lender in ranking.lenders:
        lines.extend(_lender_lines(lender))
    if ranking.excluded:
        lines.append("  left out:")
        lines.extend(f"    {e.member}: {e.reason}" for e in ranking.excluded)
    return "\n".join(lines)


def as_dict(ranking: Ranking) -> dict[str, object]:
    """The ranking as JSON-ready values."""
    return {
        "strategy": ranking.strategy,
        "request": ranking.request_id,
        "rota": [
            {
                "member": lender.member,
                "position": lender.position,
                "score": lender.score,
                "terms": [
                    {
                        "name": term.name,
                        "value": _number(term.value),
                        "contribution": term.contribution,
                        "note": term.note,
                    }
                    for term in lender.terms
                ],
                "reasons": list(lender.reasons),
            }
            for lender in ranking.lenders
        ],
        "excluded": [{"member": e.member, "reason": e.reason} for e in ranking.excluded],
    }
