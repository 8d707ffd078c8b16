"""Statement leaves and round plans, pure: the canonical encoding, the order, the proofs."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.ledger.merkle import verify_inclusion
from adapters.ledger.rounds import STATEMENT_DOMAIN, RoundPlan, StatementLeaf


def test_the_encoding_is_the_documented_abi_words() -> None:
    """256 bytes: the domain, the three codes zero-padded, then the four numbers as
    big-endian 32-byte words; a known leaf hash pins it for other implementations."""
    leaf = StatementLeaf("alpha", "2026-11", "EUR", 12, 4, 30_500, 52_250)
    data = leaf.encode()
    words = [data[i : i + 32] for i in range(0, len(data), 32)]
    assert len(data) == 256
    assert words[0] == STATEMENT_DOMAIN == b"interlend.statement.v1".ljust(32, b"\0")
    assert words[1:4] == [
        b"alpha".ljust(32, b"\0"),
        b"2026-11".ljust(32, b"\0"),
        b"EUR" + b"\0" * 29,
    ]
    assert [int.from_bytes(w, "big") for w in words[4:]] == [12, 4, 30_500, 52_250]
    assert leaf.leaf_hash.hex() == (
        "89b429e5263f483df16a7969da40f7801d64c791ceeb7d50c23df517b5365f21"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"library": ""}, "library code is 1 to 32 bytes"),
        ({"library": "x" * 33}, "library code is 1 to 32 bytes"),
        ({"period": "a\x00b"}, "period is 1 to 32 bytes"),
        ({"currency": "eur"}, "not an ISO 4217"),
        ({"currency": "E1R"}, "not an ISO 4217"),
        ({"loans_lent": -1}, "loans_lent -1 is outside"),
        ({"charges": 2**128}, "charges .* is outside"),
    ],
)
def test_a_statement_that_cannot_go_on_chain_is_refused(
    change: dict[str, object], message: str
) -> None:
    """Codes, currency, counts and amounts are checked against what the contract holds."""
    base = StatementLeaf("alpha", "2026-11", "EUR", 1, 1, 1, 1)
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(base, **change)  # type: ignore[arg-type]


def test_a_plan_refuses_mixed_periods_duplicates_and_nothing() -> None:
    """One period, one statement per library, at least one statement."""
    alpha = StatementLeaf("alpha", "2026-11", "EUR", 1, 1, 1, 1)
    with pytest.raises(ValueError, match="several periods: 2026-10, 2026-11"):
        RoundPlan.of([alpha, dataclasses.replace(alpha, library="beta", period="2026-10")])
    with pytest.raises(ValueError, match="more than one statement for alpha"):
        RoundPlan.of([alpha, dataclasses.replace(alpha, credits=2)])
    with pytest.raises(ValueError, match="at least one statement"):
        RoundPlan.of([])
    with pytest.raises(KeyError):
        RoundPlan.of([alpha]).statement("beta")


_leaves = st.lists(
    st.builds(
        StatementLeaf,
        library=st.text("abcdefghij-", min_size=1, max_size=12),
        period=st.just("2026-11"),
        currency=st.just("EUR"),
        loans_lent=st.integers(0, 10**6),
        loans_borrowed=st.integers(0, 10**6),
        charges=st.integers(0, 10**12),
        credits=st.integers(0, 10**12),
    ),
    min_size=1,
    max_size=20,
    unique_by=lambda leaf: leaf.library,
)


@settings(max_examples=40, deadline=None)
@given(leaves=_leaves, data=st.data())
def test_the_root_does_not_depend_on_order_and_every_statement_proves(
    leaves: list[StatementLeaf], data: st.DataObject
) -> None:
    """Whoever holds the same statements computes the same root, and each library's
    proof leads to it."""
    plan = RoundPlan.of(leaves)
    shuffled = data.draw(st.permutations(leaves))
    assert RoundPlan.of(shuffled).root == plan.root
    assert plan.libraries() == sorted(plan.libraries(), key=str.encode)
    for leaf in leaves:
        found, proof = plan.statement(leaf.library)
        assert found == leaf
        assert verify_inclusion(leaf.leaf_hash, proof, plan.root)
