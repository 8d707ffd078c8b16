"""What a copy without a live status is likely to cost: B8's estimate for unknown status.

A holder whose ILS gives no live status (holdings only, or a lookup that missed
discovery's time budget) used to be scored as if its copy were out for a fixed number
of days.  That was wrong twice over, and it starved such members (their share of
lending fell to about half their goal on the benchmark's harsher trace):

* it is not a *date*: a lender without live status whose copy is out does not keep the
  request until the copy is back; it declines when it reaches the request in its
  queue, and the request moves on.  What the requester risks is that delay, not the
  copy's due date;
* it ignored what the request itself says: the other holders' live statuses show how
  often this title is on a shelf right now.

So the readiness of an unknown copy is the **expected delay of asking it**:

``(1 - p) * (pass_days + queue_days)``

* ``p``, the chance the copy is on the shelf, is estimated from the holders of the
  same title whose status is known, ``(on shelf + 1) / (known + 2)``: Laplace's rule
  (a uniform prior), so with no known holder it is 1/2 and each known holder moves it
  by at most one observation's worth;
* ``pass_days`` is how long a lender takes to get to a request and answer it: one
  working day (interlibrary loan staff work their request queue once a day; the
  benchmark's lenders do too);
* ``queue_days`` is the lender's own queue (open requests / daily capacity): a miss at
  a busy lender is learnt later.

A miss costs the lender a decline in its fill rate as well; that is the fill-rate
term's business (how reliably it lends), not this estimate's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.network.selection.model import Availability

if TYPE_CHECKING:
    from collections.abc import Iterable

    from gateway.network.selection.model import Candidate

__all__ = ["PASS_DAYS", "ShelfEstimate", "estimate_shelf"]

PASS_DAYS = 1.0
"""Days a lender takes to reach a request and answer it: one pass over its queue a day."""


@dataclass(frozen=True, slots=True)
class ShelfEstimate:
    """The chance that a copy of this title without a live status is on the shelf.

    Args:
        on_shelf: Holders with a live status whose copy is on the shelf.
        known: Holders with a live status.
    """

    on_shelf: int
    known: int

    @property
    def probability(self) -> float:
        """``(on_shelf + 1) / (known + 2)``: Laplace's rule of succession."""
        return (self.on_shelf + 1) / (self.known + 2)

    def expected_delay_days(self, queue_days: float) -> float:
        """Expected days lost by asking a holder without live status first.

        Args:
            queue_days: That holder's queued work in days (open requests / capacity).
        """
        return (1.0 - self.probability) * (PASS_DAYS + max(0.0, queue_days))

    def describe(self) -> str:
        """The estimate in words, for a lender's reasons."""
        return (
            f"no live status: on the shelf with estimated chance {self.probability:.2f} "
            f"({self.on_shelf} of {self.known} holders with live status have it on the shelf)"
        )


def estimate_shelf(candidates: Iterable[Candidate]) -> ShelfEstimate:
    """The shelf estimate for a request, from its holders whose status is known."""
    on_shelf = known = 0
    for candidate in candidates:
        if candidate.availability is Availability.UNKNOWN:
            continue
        known += 1
        on_shelf += candidate.availability is Availability.AVAILABLE and not candidate.hold_count
    return ShelfEstimate(on_shelf=on_shelf, known=known)
