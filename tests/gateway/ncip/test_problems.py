"""The NCIP Problem for each refusal code: every code is mapped, to a ProblemType the
service may send."""

from __future__ import annotations

import pytest

from gateway.circulation.outcomes import Refusal, RefusalCode
from gateway.ncip.problems import PROBLEMS, problem_for
from protocols.ncip import ProblemType

_KNOWN_TYPES = {value for name, value in vars(ProblemType).items() if not name.startswith("_")}


def test_every_refusal_code_has_a_problem() -> None:
    """A new code cannot be added without saying what a peer gets for it."""
    assert set(PROBLEMS) == set(RefusalCode)


@pytest.mark.parametrize("code", list(RefusalCode), ids=lambda c: c.value)
@pytest.mark.parametrize("service", ["CheckOutItem", "RenewItem", "RequestItem", "LookupUser"])
def test_each_code_gives_a_known_problem_type(code: RefusalCode, service: str) -> None:
    """The Problem is one the gateway knows how to write, with the refusal's reason."""
    answer = problem_for(service, Refusal(code, "why"))
    [found] = answer.problems
    assert found.type in _KNOWN_TYPES
    assert found.detail == "why"
    assert answer.service == service


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("CheckOutItem", ProblemType.USER_INELIGIBLE),
        ("RenewItem", ProblemType.USER_INELIGIBLE_TO_RENEW),
        ("RequestItem", ProblemType.USER_INELIGIBLE_TO_REQUEST),
    ],
)
def test_ineligibility_is_named_for_the_service(service: str, expected: str) -> None:
    """NCIP names "User Ineligible To … This Item" per service."""
    [found] = problem_for(service, Refusal(RefusalCode.NOT_IN_NETWORK, "no")).problems
    assert found.type == expected


def test_failures_are_general_processing_errors() -> None:
    """A member or the registry that cannot answer is a Temporary Processing Failure in
    the general scheme (the peer may try again later)."""
    for code in RefusalCode:
        if code.unavailable:
            [found] = problem_for("CheckOutItem", Refusal(code, "later")).problems
            assert found.type == ProblemType.TEMPORARY_PROCESSING_FAILURE
            assert found.scheme is not None
