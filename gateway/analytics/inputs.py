"""What the analytics take from the configuration: the libraries and their goal ratios."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.consortium import Consortium

__all__ = ["goal_ratios"]


def goal_ratios(consortium: Consortium) -> dict[str, float | None]:
    """Each library's effective ``lending.goal_ratio`` (loans lent per loan borrowed)."""
    return {m: consortium.policy(m).lending.goal_ratio for m in consortium.libraries}
