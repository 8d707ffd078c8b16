"""Every library's effective policy as rows for people: each setting, its value in
words, and where it came from.

``interlend check-config`` prints these rows as a table and the operator's console
shows them as a page, so both say the same thing in the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from config.models import CostItem, policy_keys

if TYPE_CHECKING:
    from config.consortium import Consortium

__all__ = ["PolicyRow", "policy_rows", "value_text"]


def value_text(value: object, none_means: str = "none") -> str:
    """A setting's value in words (``none_means`` says what an unset value means)."""
    if value is None:
        return none_means
    if isinstance(value, CostItem):
        return f"{value.name} ({value.formula})"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(map(value_text, value)) if value else "(empty)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) if value else "(empty)"
    return str(value)


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """One setting of a library's effective policy.

    Attributes:
        key: The dotted key (``loans.max_items``).
        value: The value in words.
        reason: Where it came from, in words.
        source: The node that set it (``None``: the built-in default).
        locked_by: The node whose lock keeps it, if any.
    """

    key: str
    value: str
    reason: str
    source: str | None
    locked_by: str | None


def policy_rows(consortium: Consortium, node_id: str) -> list[PolicyRow]:
    """The effective policy of library ``node_id``, in declaration order."""
    keys = policy_keys()
    return [
        PolicyRow(
            key=key,
            value=value_text(resolved.value, keys[key].none_means),
            reason=resolved.reason,
            source=resolved.source,
            locked_by=resolved.locked_by,
        )
        for key, resolved in consortium.effective[node_id].items()
    ]
