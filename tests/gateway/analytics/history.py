"""A hand-made history for the known-answer tests: November 2026 in a three-library
consortium (alpha, beta, gamma), small enough to count by hand.

Loans (owner -> home, checkout, return):

=====  ======  =====  ===================  ===================
id     owner   home   out                  returned
=====  ======  =====  ===================  ===================
L1     alpha   beta   Mon 2 Nov 09:15      Thu 5 Nov 09:15 (72 h)
L2     alpha   beta   Mon 2 Nov 09:45      Mon 2 Nov 21:45 (12 h)
L3     alpha   gamma  Tue 3 Nov 14:00      (on loan)
L4     beta    alpha  Mon 9 Nov 09:30      Tue 10 Nov 09:30 (24 h)
L5     gamma   alpha  Mon 30 Nov 23:00     Wed 2 Dec 23:00 (48 h)
L0     beta    alpha  Sat 31 Oct 10:00     (October: outside the period)
=====  ======  =====  ===================  ===================

Refusals: a hold of an alpha patron with no lender (2 Nov), a checkout of a gamma
patron at beta refused for fines (3 Nov), a wrong PIN of a beta patron at alpha
(9 Nov: not a request for an item), a checkout of a beta patron at alpha refused by
alpha's ILS (10 Nov), a renewal refused (12 Nov: not a request), one in October.

Title holds that ended: beta filled one of alpha's in 30 hours and another in 10
hours, one expired at gamma, one withdrawn at beta; one filled in October.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.state.base import ClosedHold, Loan, LoanState, RefusalRecord, TitleHold
from gateway.history.period import Period
from gateway.history.reader import PeriodLoans

NOVEMBER = Period.parse("2026-11")


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A moment in 2026 (UTC)."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def loan(
    loan_id: str,
    owner: str,
    home: str,
    out: datetime,
    hours_out: float | None = None,
    item: str | None = None,
) -> Loan:
    """A registry loan (returned ``hours_out`` after checkout, else active)."""
    returned = None if hours_out is None else out + timedelta(hours=hours_out)
    return Loan(
        loan_id=loan_id,
        owner=owner,
        home=home,
        item=item or f"{owner}-{loan_id}",
        patron_key="p" * 32,
        proxy_patron=f"ILL-{home}",
        terminal=f"{owner}-kiosk",
        checked_out=out,
        due=out + timedelta(days=21),
        state=LoanState.ACTIVE if returned is None else LoanState.RETURNED,
        returned=returned,
    )


LOANS = (
    loan("L0", "beta", "alpha", at(31, 10, month=10), 5),
    loan("L1", "alpha", "beta", at(2, 9, 15), 72, item="a1"),
    loan("L2", "alpha", "beta", at(2, 9, 45), 12, item="a1"),
    loan("L3", "alpha", "gamma", at(3, 14), item="a2"),
    loan("L4", "beta", "alpha", at(9, 9, 30), 24, item="b1"),
    loan("L5", "gamma", "alpha", at(30, 23), 48, item="g9"),
)
HISTORY = PeriodLoans(NOVEMBER, LOANS)

REFUSALS = (
    RefusalRecord(at(30, 8, month=10), "checkout", "fines", "beta", "alpha"),
    RefusalRecord(at(2, 10), "hold", "no-lender", "alpha", None),
    RefusalRecord(at(3, 11), "checkout", "fines", "gamma", "beta"),
    RefusalRecord(at(9, 12), "checkout", "pin-wrong", "beta", "alpha"),
    RefusalRecord(at(10, 16), "checkout", "loan-refused", "beta", "alpha"),
    RefusalRecord(at(12, 9), "renew", "renewals", "beta", "alpha"),
)


def closed(hold_id: str, lender: str, placed: datetime, hours: float, outcome: str) -> ClosedHold:
    """A title hold of alpha's at ``lender`` that ended ``hours`` after it was placed."""
    hold = TitleHold(
        hold_id,
        "alpha",
        lender,
        f"{lender}-{hold_id}",
        "ILL-alpha",
        placed,
        placed + timedelta(days=30),
    )
    return ClosedHold(hold, outcome, placed + timedelta(hours=hours))


CLOSED_HOLDS = (
    closed("H0", "beta", at(20, 9, month=10), 20, "filled"),
    closed("H1", "beta", at(3, 8), 30, "filled"),
    closed("H2", "beta", at(4, 8), 10, "filled"),
    closed("H3", "gamma", at(1, 8), 24 * 30, "expired"),
    closed("H4", "beta", at(5, 8), 48, "withdrawn"),
)
