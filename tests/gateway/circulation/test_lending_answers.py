"""The 12/30 built for a member whose adapter returns no SIP2 answer (NCIP members)."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.ils.base import CirculationOutcome
from gateway.sip2.render import _circulation
from protocols.sip2 import CheckoutResponse, RenewResponse, decode, encode
from tests.helpers.kiosk import checkout, renew

DUE = datetime(2026, 12, 14, 23, 59, 59, tzinfo=UTC)


NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_checkout_answer_built_from_the_outcome_carries_the_due_date() -> None:
    outcome = CirculationOutcome(ok=True, title="A Book", due=DUE)
    answer = _circulation(CheckoutResponse, checkout("P1", "I1"), outcome, ("Lent",), NOW)
    assert isinstance(answer, CheckoutResponse)
    assert answer.ok
    assert not answer.renewal_ok
    assert answer.due_date == "20261214    235959"  # the due date, not the time of the loan
    assert answer.patron_identifier == "P1"
    assert decode(encode(answer)).message == answer


def test_renew_answer_built_from_the_outcome() -> None:
    outcome = CirculationOutcome(ok=True, title="A Book", due_text="14/12/2026")
    answer = _circulation(RenewResponse, renew("P1", "I1"), outcome, (), NOW)
    assert isinstance(answer, RenewResponse)
    assert answer.renewal_ok
    assert answer.due_date == "14/12/2026"
    assert answer.item_identifier == "I1"
