"""Collection analytics: known answers on hand-made holdings, and properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.analytics.collection import collection_report, title_key
from gateway.network.discovery import Holding

from .history import at, loan

# Titles: "Dune" at all three (alpha's by ISBN, the others' by ISBN too), "Emma" at
# alpha and beta (catalogued with different case and punctuation), "Ulysses" at
# beta and gamma, "Walden" at alpha only (two copies), "Zazie" at gamma only.
DUNE = "9780441013593"
HOLDINGS = (
    Holding("alpha", "a1", "Dune", DUNE),
    Holding("beta", "b1", "Dune (Ace ed.)", DUNE),
    Holding("gamma", "g1", "DUNE", DUNE),
    Holding("alpha", "a2", "Emma"),
    Holding("beta", "b2", "EMMA."),
    Holding("beta", "b3", "Ulysses"),
    Holding("gamma", "g2", "Ulysses"),
    Holding("alpha", "a3", "Walden"),
    Holding("alpha", "a4", "Walden"),
    Holding("gamma", "g3", "Zazie dans le métro"),
)
LOANS = (
    loan("L1", "alpha", "beta", at(2, 9), 12, item="a1"),
    loan("L2", "alpha", "gamma", at(3, 9), item="a1"),
    loan("L3", "gamma", "beta", at(4, 9), item="g1"),
    loan("L4", "alpha", "beta", at(5, 9), item="a3"),
    loan("L5", "beta", "alpha", at(6, 9), item="b-unknown"),
)


def test_known_answers() -> None:
    """Overlap, unique titles, held by many and never lent, top titles and items."""
    report = collection_report(HOLDINGS, LOANS, libraries=("alpha", "beta", "gamma"))
    assert (report.titles, report.copies) == (5, 10)
    assert report.overlap == {
        "alpha": {"alpha": 3, "beta": 2, "gamma": 1},
        "beta": {"alpha": 2, "beta": 3, "gamma": 2},
        "gamma": {"alpha": 1, "beta": 2, "gamma": 3},
    }
    assert report.unique == {"alpha": 1, "beta": 0, "gamma": 1}
    assert report.unique_titles["gamma"] == ("Zazie dans le métro",)
    never = [(t.title, t.holders) for t in report.held_by_many_never_lent]
    assert never == [("Emma", ("alpha", "beta")), ("Ulysses", ("beta", "gamma"))]
    top = [(t.title, t.isbn, t.loans) for t in report.top_borrowed_titles]
    assert top == [("Dune", DUNE, 3), ("Walden", None, 1)]
    items = [(i.owner, i.item, i.title, i.loans) for i in report.most_lent_items]
    assert items[0] == ("alpha", "a1", "Dune", 2)
    assert ("beta", "b-unknown", None, 1) in items
    assert (report.loans, report.loans_unmatched) == (5, 1)


def test_many_raises_the_bar() -> None:
    """With ``many=3`` only a title at three libraries qualifies (Dune, which was lent)."""
    assert collection_report(HOLDINGS, LOANS, many=3).held_by_many_never_lent == ()
    unlent = collection_report(HOLDINGS, (), many=3).held_by_many_never_lent
    assert [t.title for t in unlent] == ["Dune"]


def test_title_keys_ignore_case_accents_and_punctuation() -> None:
    """Two catalogues' spellings of a title without ISBN are one title."""
    assert title_key(Holding("a", "1", "Émma!")) == title_key(Holding("b", "2", "emma"))
    assert title_key(Holding("a", "1", "Emma", DUNE)) != title_key(Holding("b", "2", "Emma"))


def test_json_form() -> None:
    """The documented keys."""
    data = collection_report(HOLDINGS, LOANS).to_json()
    assert set(data) == {
        "libraries",
        "titles",
        "copies",
        "overlap",
        "unique",
        "unique_titles",
        "many",
        "held_by_many_never_lent",
        "top_borrowed_titles",
        "most_lent_items",
        "loans",
        "loans_unmatched",
    }
    assert data["top_borrowed_titles"][0] == {  # type: ignore[index]
        "title": "Dune",
        "isbn": DUNE,
        "holders": ["alpha", "beta", "gamma"],
        "loans": 3,
    }


COPIES = st.builds(
    Holding,
    st.sampled_from(["alpha", "beta", "gamma", "delta"]),
    st.text("abc", min_size=1, max_size=3),
    st.sampled_from(["Dune", "Emma", "Ulysses", "Walden", "Zazie"]),
    st.none() | st.sampled_from(["9780441013593", "9780141439587"]),
)


@settings(max_examples=60)
@given(st.lists(COPIES, max_size=25))
def test_overlap_is_symmetric_and_bounded(copies: list[Holding]) -> None:
    """overlap[a][b] == overlap[b][a] <= min(overlap[a][a], overlap[b][b]); a library's
    unique titles are at most its titles."""
    report = collection_report(copies, ())
    for a in report.libraries:
        assert report.unique[a] <= report.overlap[a][a]
        for b in report.libraries:
            assert report.overlap[a][b] == report.overlap[b][a]
            assert report.overlap[a][b] <= min(report.overlap[a][a], report.overlap[b][b])
    assert sum(report.unique.values()) <= report.titles
