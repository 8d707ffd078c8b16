"""Refusal codes: every policy decision that refuses has one, and failures are named in
stable words."""

from __future__ import annotations

import pytest

from adapters.errors import IlsRequestInvalid, IlsTimeout, IlsUnavailable
from adapters.state.base import StateUnavailable
from config.policy import DecisionCode
from gateway.circulation.outcomes import RefusalCode, code_of_decision, refusal_for_failure


@pytest.mark.parametrize(
    "code", [c for c in DecisionCode if c not in (DecisionCode.ALLOWED, DecisionCode.LOCAL)]
)
def test_every_refusing_decision_has_a_refusal_code(code: DecisionCode) -> None:
    """The policy engine's reasons carry over as codes (never as text to search)."""
    assert isinstance(code_of_decision(code), RefusalCode)


@pytest.mark.parametrize("code", [DecisionCode.ALLOWED, DecisionCode.LOCAL])
def test_an_allowing_decision_is_no_refusal(code: DecisionCode) -> None:
    with pytest.raises(ValueError, match="not a refusal"):
        code_of_decision(code)


class _Rules:
    """The names ``refusal_for_failure`` needs."""

    def known(self, member: str) -> bool:
        return member == "alpha"

    def name(self, member: str) -> str:
        return "Alpha Public Library"


@pytest.mark.parametrize(
    ("error", "code", "words"),
    [
        (
            IlsTimeout("alpha", "no answer from 10.0.0.1:6001"),
            RefusalCode.MEMBER_TIMEOUT,
            "is not answering",
        ),
        (
            IlsUnavailable("alpha", "refused 10.0.0.1:6001"),
            RefusalCode.MEMBER_UNAVAILABLE,
            "cannot be reached",
        ),
        (
            IlsRequestInvalid("alpha", "AA is 300 long"),
            RefusalCode.REQUEST_INVALID,
            "cannot take this request",
        ),
        (
            StateUnavailable("Redis failed (reserve): 10.0.0.9"),
            RefusalCode.REGISTRY_UNAVAILABLE,
            "registry is unavailable",
        ),
    ],
)
def test_failures_are_refusals_in_stable_words(
    error: Exception, code: RefusalCode, words: str
) -> None:
    """The library is named, never a host, a port or a store command."""
    refused = refusal_for_failure(error, _Rules())  # type: ignore[arg-type]
    assert refused.code is code
    assert words in refused.reason
    assert "10.0.0" not in refused.reason
    assert "reserve" not in refused.reason
