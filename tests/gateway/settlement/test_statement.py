"""A library's statement: amounts are whole minor units and never negative."""

from __future__ import annotations

import pytest

from gateway.settlement.statement import Statement


def _statement(**changes: object) -> Statement:
    fields: dict[str, object] = {
        "period": "2026-11",
        "library": "alpha",
        "currency": "USD",
        "loans_lent": 12,
        "loans_borrowed": 4,
        "charges": 15_000,
        "credits": 21_250,
    }
    fields.update(changes)
    return Statement(**fields)  # type: ignore[arg-type]


def test_net_is_credits_less_charges() -> None:
    """A library credited more than it is charged has a receivable."""
    assert _statement().net == 6_250
    assert _statement(credits=0).net == -15_000


@pytest.mark.parametrize("field", ["loans_lent", "loans_borrowed", "charges", "credits"])
def test_a_negative_figure_is_refused(field: str) -> None:
    """Direction lives in charges versus credits, never in a sign."""
    with pytest.raises(ValueError, match=field):
        _statement(**{field: -1})


@pytest.mark.parametrize("currency", ["usd", "US", "EURO", "12A"])
def test_the_currency_is_an_iso_code(currency: str) -> None:
    """Three capital letters, as ISO 4217 writes them."""
    with pytest.raises(ValueError, match="ISO 4217"):
        _statement(currency=currency)
