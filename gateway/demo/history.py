"""A month (or any number of days) of synthetic reciprocal traffic for the demo.

So that a newcomer's first report is not empty, ``interlend demo --history DAYS`` plays
this traffic into the registry before the gateway starts.  It is made to look like
three real libraries, not noise:

* each (owner, home) pair has its own daily rate: alpha's patrons borrow most, gamma (a
  college library) lends much and borrows little, so the settlement has net lenders and
  net borrowers;
* busier Saturdays, quiet Sundays; checkouts during opening hours, most in the
  afternoon;
* one loan in five is a library loan (ILL to the home library's account), the rest
  walk-ins at the owner's kiosk;
* loans last the owner's loan period (beta lends for 14 days), a quarter are renewed
  once, some come back late, and the newest are still out.

It is deterministic: the same seed, end and days give the same loans.  Its patrons and
items are numbered from 100001 up (``21001000100001``), far from the simulated ILSs'
(``…000000001`` to ``…000000099``), so the history never holds an item or a patron a
person tries in the demo; its patron keys are made with a key of its own.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from adapters.state.base import LoanKind

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "DEMO_FLOWS",
    "Flow",
    "SyntheticLoan",
    "history_days",
    "synthetic_history",
]


@dataclass(frozen=True)
class Flow:
    """Loans from ``owner``'s collection to ``home``'s patrons: ``per_day`` on average
    (on a weekday of factor 1)."""

    owner: str
    home: str
    per_day: float


DEMO_FLOWS = (
    Flow("beta", "alpha", 4.0),
    Flow("gamma", "alpha", 3.0),
    Flow("alpha", "beta", 2.5),
    Flow("gamma", "beta", 2.0),
    Flow("alpha", "gamma", 0.8),
    Flow("beta", "gamma", 0.6),
)
"""The demo consortium's traffic: about 13 loans a day."""

LOAN_DAYS = {"alpha": 21, "beta": 14, "gamma": 21}
"""Each owner's loan period for visitors (``config/demo.toml``)."""
PATRON_PREFIX = {"alpha": "21001", "beta": "21002", "gamma": "21003"}
ITEM_PREFIX = {"alpha": "31001", "beta": "31002", "gamma": "31003"}
WEEKDAY_FACTOR = (1.0, 1.0, 1.05, 1.1, 0.9, 1.3, 0.35)
"""Monday first: busier Saturdays, quiet Sundays."""
FIRST_NUMBER = 100_001
PATRONS_PER_LIBRARY = 240
ITEMS_PER_LIBRARY = 400
LIBRARY_LOAN_SHARE = 0.2
RENEWED_SHARE = 0.25


@dataclass(frozen=True)
class SyntheticLoan:
    """One loan of the synthetic history, with its renewal and return (if any yet)."""

    owner: str
    home: str
    item: str
    patron: str
    kind: LoanKind
    checked_out: datetime
    due: datetime
    renewed: datetime | None = None
    renewed_due: datetime | None = None
    returned: datetime | None = None


def history_days(end: datetime, days: int) -> tuple[datetime, datetime]:
    """The span a history of ``days`` whole UTC days before ``end``'s day covers:
    (its first instant, the instant after it)."""
    last = datetime.combine(end.astimezone(UTC).date(), time(), tzinfo=UTC)
    return last - timedelta(days=days), last


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's product of uniforms; means here are small)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _number(prefix: str, index: int) -> str:
    return f"{prefix}{FIRST_NUMBER + index:09d}"


def synthetic_history(
    *,
    end: datetime,
    days: int,
    seed: int,
    flows: Sequence[Flow] = DEMO_FLOWS,
    loan_days: Mapping[str, int] = LOAN_DAYS,
) -> tuple[SyntheticLoan, ...]:
    """The loans of ``days`` whole days before ``end``'s day, oldest first.

    Nothing happens at or after ``end``: a loan not yet returned by then is still out,
    a renewal due later has not happened.

    Raises:
        ValueError: ``days`` is not positive, or a flow names a library with no
            barcode prefixes or loan period here.
    """
    if days <= 0:
        raise ValueError("a history covers at least one day")
    for flow in flows:
        for library in (flow.owner, flow.home):
            if library not in PATRON_PREFIX or library not in loan_days:
                raise ValueError(f"no synthetic patrons, items or loan period for {library!r}")
    rng = random.Random(seed)
    first, stop = history_days(end, days)
    # Each item is lent again only once it is back on the shelf.
    back_on_shelf: dict[tuple[str, str], datetime] = {}
    loans: list[SyntheticLoan] = []
    for day in range(days):
        midnight = first + timedelta(days=day)
        factor = WEEKDAY_FACTOR[midnight.weekday()]
        for flow in flows:
            for _ in range(_poisson(rng, flow.per_day * factor)):
                hours = rng.triangular(9.0, 20.0, 15.5)
                checked_out = midnight + timedelta(seconds=int(hours * 3600))
                item = _free_item(rng, flow.owner, checked_out, back_on_shelf)
                if item is None:
                    continue
                loan = _loan(rng, flow, item, checked_out, loan_days[flow.owner], stop)
                back_on_shelf[(flow.owner, item)] = loan.returned or datetime.max.replace(
                    tzinfo=UTC
                )
                loans.append(loan)
    return tuple(sorted(loans, key=lambda x: x.checked_out))


def _free_item(
    rng: random.Random, owner: str, at: datetime, back_on_shelf: Mapping[tuple[str, str], datetime]
) -> str | None:
    """An item of ``owner`` on the shelf at ``at`` (a few tries, then none)."""
    for _ in range(20):
        item = _number(ITEM_PREFIX[owner], rng.randrange(ITEMS_PER_LIBRARY))
        back = back_on_shelf.get((owner, item))
        if back is None or back <= at:
            return item
    return None


def _loan(
    rng: random.Random, flow: Flow, item: str, checked_out: datetime, period: int, stop: datetime
) -> SyntheticLoan:
    patron = _number(PATRON_PREFIX[flow.home], rng.randrange(PATRONS_PER_LIBRARY))
    kind = LoanKind.LIBRARY_LOAN if rng.random() < LIBRARY_LOAN_SHARE else LoanKind.WALK_IN
    due = checked_out + timedelta(days=period)
    renewed = renewed_due = None
    if rng.random() < RENEWED_SHARE:
        renewed = due - timedelta(seconds=int(rng.uniform(0.2, 3.0) * 86400))
        renewed_due = renewed + timedelta(days=period)
        kept = (renewed - checked_out).days + rng.triangular(1.0, period + 3.0, period * 0.6)
    else:
        # Most come back well before the due date; a few a little late.
        kept = rng.triangular(0.5, period + 4.0, period * 0.55)
    returned: datetime | None = checked_out + timedelta(seconds=int(kept * 86400))
    if renewed is not None and renewed >= stop:
        renewed = renewed_due = None
    if returned is not None and returned >= stop:
        returned = None
    return SyntheticLoan(
        owner=flow.owner,
        home=flow.home,
        item=item,
        patron=patron,
        kind=kind,
        checked_out=checked_out,
        due=due,
        renewed=renewed,
        renewed_due=renewed_due,
        returned=returned,
    )
