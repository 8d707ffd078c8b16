"""Small summaries of a list of durations: count, mean, median and 95th percentile."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Summary", "summarize"]


@dataclass(frozen=True)
class Summary:
    """Durations in hours (``None`` for each figure when there are none)."""

    count: int
    mean: float | None
    median: float | None
    p95: float | None

    def to_json(self) -> dict[str, float | int | None]:
        """A JSON-ready form (hours rounded to 0.01)."""
        return {
            "count": self.count,
            "mean_hours": _round(self.mean),
            "median_hours": _round(self.median),
            "p95_hours": _round(self.p95),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def summarize(hours: Sequence[float]) -> Summary:
    """The summary of ``hours``; the 95th percentile is the nearest rank (the smallest
    value with at least 95 % of the values at or below it)."""
    if not hours:
        return Summary(0, None, None, None)
    ordered = sorted(hours)
    rank = math.ceil(0.95 * len(ordered))
    return Summary(
        len(ordered), statistics.fmean(ordered), statistics.median(ordered), ordered[rank - 1]
    )
