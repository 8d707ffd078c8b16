"""Discovery's and lender ranking's typed results: availability, status and JSON."""

from __future__ import annotations

import pytest

from gateway.network.lenders import candidate_availability
from gateway.network.results import (
    CopyAvailability,
    Discovery,
    DiscoveryQuery,
    FoundCopy,
    LenderRanking,
    Lookup,
    Unreachable,
)
from gateway.network.selection import Availability, Exclusion, RankedLender, Ranking, Term
from protocols.sip2 import CirculationStatus


def copy(member: str, lookup: Lookup, status: int | None = None) -> FoundCopy:
    """A copy of one title at ``member``, as its ILS described it (or not)."""
    return FoundCopy(
        member=member,
        item=f"{member}-1",
        title="A Title",
        lookup=lookup,
        circulation_status=status,
    )


@pytest.mark.parametrize(
    ("lookup", "status", "availability", "words"),
    [
        (Lookup.LIVE, CirculationStatus.AVAILABLE, CopyAvailability.AVAILABLE, "available"),
        (
            Lookup.LIVE,
            CirculationStatus.WAITING_TO_BE_RESHELVED,
            CopyAvailability.AVAILABLE,
            "waiting to be reshelved",
        ),
        (Lookup.LIVE, CirculationStatus.CHARGED, CopyAvailability.UNAVAILABLE, "charged"),
        (Lookup.LIVE, CirculationStatus.MISSING, CopyAvailability.UNAVAILABLE, "missing"),
        (Lookup.LIVE, None, CopyAvailability.UNAVAILABLE, "unknown"),
        (Lookup.LIVE, 99, CopyAvailability.UNAVAILABLE, "unknown"),
        (Lookup.NOT_CHECKED, None, CopyAvailability.UNKNOWN, "not checked"),
        (Lookup.NOT_FOUND, None, CopyAvailability.UNKNOWN, "not found"),
    ],
)
def test_a_copy_is_available_only_when_its_ils_just_said_so(
    lookup: Lookup, status: int | None, availability: CopyAvailability, words: str
) -> None:
    """Availability comes from a live status alone; the status in words says what the
    ILS gave, or why there is no live status."""
    found = copy("beta", lookup, status)
    assert found.availability is availability
    assert found.status == words


def test_discovery_json_is_the_api_answer() -> None:
    """``to_json`` writes the keys and values ``/api/discover`` has always answered:
    ``available`` true, false or null, ``source`` live or index, the members with a
    copy available now, and whether the answer is partial."""
    found = Discovery(
        query=DiscoveryQuery(isbn="9780306406157"),
        holdings=(
            FoundCopy(
                member="gamma",
                item="G1",
                title="A Title",
                isbn="9780306406157",
                author="An Author",
                location="gamma-stacks",
                lookup=Lookup.LIVE,
                circulation_status=CirculationStatus.AVAILABLE,
            ),
            copy("beta", Lookup.LIVE, CirculationStatus.CHARGED),
            copy("alpha", Lookup.NOT_CHECKED),
        ),
        unreachable=(Unreachable("alpha", "Alpha Public Library", "timed out"),),
        elapsed_ms=12,
    )
    assert found.partial
    assert found.members == ("gamma",)
    json = found.to_json()
    assert json == {
        "query": {"item": None, "isbn": "9780306406157", "title": None},
        "results": [
            {
                "member": "gamma",
                "item": "G1",
                "title": "A Title",
                "isbn": "9780306406157",
                "author": "An Author",
                "location": "gamma-stacks",
                "status": "available",
                "available": True,
                "source": "live",
            },
            {
                "member": "beta",
                "item": "beta-1",
                "title": "A Title",
                "isbn": None,
                "author": None,
                "location": None,
                "status": "charged",
                "available": False,
                "source": "live",
            },
            {
                "member": "alpha",
                "item": "alpha-1",
                "title": "A Title",
                "isbn": None,
                "author": None,
                "location": None,
                "status": "not checked",
                "available": None,
                "source": "index",
            },
        ],
        "members": ["gamma"],
        "unreachable": [{"member": "alpha", "name": "Alpha Public Library", "detail": "timed out"}],
        "partial": True,
        "elapsed_ms": 12,
    }
    assert list(json) == ["query", "results", "members", "unreachable", "partial", "elapsed_ms"]


def test_an_answer_with_every_member_reached_is_not_partial() -> None:
    """No unreachable member: the answer is whole, and its JSON says so."""
    found = Discovery(query=DiscoveryQuery(title="a title"), holdings=())
    assert not found.partial
    assert found.to_json()["partial"] is False
    assert found.to_json()["unreachable"] == []


def test_a_lender_ranking_json_holds_the_discovery_and_the_ranking() -> None:
    """``/api/lenders`` answers the discovery's JSON and the ranking as plain data."""
    found = Discovery(
        query=DiscoveryQuery(title="a title"),
        holdings=(copy("beta", Lookup.LIVE, CirculationStatus.AVAILABLE),),
    )
    ranking = Ranking(
        "fair-share",
        "alpha:a title",
        (RankedLender("beta", 1, 0.5, (0,), (Term("deficit", 1.0, 0.5, "loans"),), ("why",)),),
        (Exclusion("gamma", "off-line"),),
    )
    assert LenderRanking(found, ranking).to_json() == {
        "discovery": found.to_json(),
        "ranking": {
            "strategy": "fair-share",
            "request": "alpha:a title",
            "rota": [
                {
                    "member": "beta",
                    "position": 1,
                    "score": 0.5,
                    "terms": [
                        {"name": "deficit", "value": 1.0, "contribution": 0.5, "note": "loans"}
                    ],
                    "reasons": ["why"],
                }
            ],
            "excluded": [{"member": "gamma", "reason": "off-line"}],
        },
    }


@pytest.mark.parametrize(
    ("found", "candidate"),
    [
        (CopyAvailability.AVAILABLE, Availability.AVAILABLE),
        (CopyAvailability.UNAVAILABLE, Availability.CHECKED_OUT),
        (CopyAvailability.UNKNOWN, Availability.UNKNOWN),
    ],
)
def test_lender_selection_reads_a_copys_availability(
    found: CopyAvailability, candidate: Availability
) -> None:
    """A copy on the shelf is available to the strategies, one with any other live
    status checked out, and one without a live status unknown."""
    assert candidate_availability(found) is candidate
