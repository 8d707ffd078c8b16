"""Settlement rounds on a real EVM node (anvil): propose, acknowledge, dispute, expire."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.types import RPCEndpoint

from adapters.ledger.chain import Action, ChainRejected
from adapters.ledger.merkle import verify_inclusion
from adapters.ledger.rounds import (
    Answer,
    DisputeReason,
    RoundPlan,
    RoundState,
    SettlementRounds,
    StatementLeaf,
)
from tests.ledger.conftest import make_settlement_consortium, new_account

if TYPE_CHECKING:
    from web3 import Web3

    from tests.ledger.conftest import SettlementConsortium

pytestmark = pytest.mark.slow

ACK_GAS_TARGET = 60_000


def _statements(period: str = "2026-11", *, gamma_charges: int = 41_000) -> list[StatementLeaf]:
    return [
        StatementLeaf("gamma", period, "EUR", 3, 9, gamma_charges, 12_000),
        StatementLeaf("alpha", period, "EUR", 12, 4, 30_500, 52_250),
        StatementLeaf("beta", period, "EUR", 7, 9, 25_000, 32_250),
    ]


def _travel(w3: Web3, seconds: int) -> None:
    """Move the node's clock on and mine a block at the new time (no waiting)."""
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def _mine_at(w3: Web3, timestamp: int) -> None:
    """Mine the next block at exactly ``timestamp`` (however long the test took)."""
    w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [timestamp])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])


@pytest.fixture(scope="module")
def settled(w3: Web3) -> SettlementConsortium:
    """One registry for the module: each test settles periods of its own."""
    return make_settlement_consortium(w3, window_s=3600)


def _rounds(settled: SettlementConsortium, member: str) -> SettlementRounds:
    client = settled.hub if member == "hub" else settled.libraries[member]
    return SettlementRounds(client)


def test_a_full_round_with_a_dispute_then_agreement(settled: SettlementConsortium) -> None:
    """Three libraries: two acknowledge, one disputes; the window ends Disputed; the
    corrected settlement is proposed again and all three agree before the window ends.
    Every statement is provable against the root, off chain and on chain."""
    w3 = settled.consortium.w3
    plan = RoundPlan.of(_statements("2026-11"))
    hub = _rounds(settled, "hub")
    opened = hub.propose(plan)
    assert (opened.state, opened.size, opened.revision, opened.root) == (
        RoundState.OPEN,
        3,
        1,
        plan.root,
    )
    assert opened.deadline - w3.eth.get_block("latest")["timestamp"] == 3600
    assert hub.periods()[-1] == "2026-11"
    for library in ("alpha", "beta", "gamma"):
        leaf, proof = plan.statement(library)
        assert verify_inclusion(leaf.leaf_hash, proof, plan.root)
        assert hub.statement_leaf_on_chain(leaf) == leaf.leaf_hash
        assert hub.verify_statement(leaf, proof)
        altered = dataclasses.replace(leaf, credits=leaf.credits + 1)
        assert not hub.verify_statement(altered, proof)

    gas = [_rounds(settled, m).acknowledge(*plan.statement(m)) for m in ("alpha", "beta")]
    assert all(used < ACK_GAS_TARGET for used in gas), gas
    _rounds(settled, "gamma").dispute("2026-11", DisputeReason.AMOUNTS)
    now = hub.round("2026-11")
    assert (now.state, now.acknowledged, now.disputed) == (RoundState.OPEN, 2, 1)
    assert [hub.answer("2026-11", m) for m in ("alpha", "beta", "gamma", "hub")] == [
        Answer.ACKNOWLEDGED,
        Answer.ACKNOWLEDGED,
        Answer.DISPUTED,
        Answer.NONE,
    ]

    _travel(w3, 3601)
    assert hub.round("2026-11").state is RoundState.DISPUTED
    assert hub.reasons("2026-11", 1) == {"gamma": DisputeReason.AMOUNTS}
    with pytest.raises(ChainRejected) as refused:
        _rounds(settled, "gamma").acknowledge(*plan.statement("gamma"))
    assert refused.value.error == "RoundClosed"

    corrected = RoundPlan.of(_statements("2026-11", gamma_charges=39_000))
    again = hub.propose(corrected)
    assert (again.state, again.revision, again.acknowledged) == (RoundState.OPEN, 2, 0)
    assert hub.answer("2026-11", "gamma") is Answer.NONE  # answered afresh
    old_leaf, old_proof = plan.statement("gamma")
    assert not hub.verify_statement(old_leaf, old_proof)  # the latest round counts
    for library in ("alpha", "beta", "gamma"):
        _rounds(settled, library).acknowledge(*corrected.statement(library))
    agreed = hub.round("2026-11")
    assert (agreed.state, agreed.acknowledged) == (RoundState.AGREED, 3)
    with pytest.raises(ChainRejected) as refused:
        hub.propose(corrected)
    assert refused.value.error == "RoundExists"


def test_the_window_lapses_without_dispute(settled: SettlementConsortium) -> None:
    """A round whose window ends with no dispute closes as accepted (Lapsed), silent
    libraries included; answers after the window are refused."""
    plan = RoundPlan.of(_statements("2026-10"))
    hub = _rounds(settled, "hub")
    hub.propose(plan)
    _rounds(settled, "alpha").acknowledge(*plan.statement("alpha"))
    deadline = hub.round("2026-10").deadline
    _mine_at(settled.consortium.w3, deadline - 1)
    assert hub.round("2026-10").state is RoundState.OPEN
    _mine_at(settled.consortium.w3, deadline)
    assert hub.round("2026-10").state is RoundState.LAPSED
    with pytest.raises(ChainRejected) as refused:
        _rounds(settled, "beta").dispute("2026-10", DisputeReason.COUNTS)
    assert refused.value.error == "RoundClosed"
    with pytest.raises(ChainRejected) as refused:
        hub.propose(plan)
    assert refused.value.error == "RoundExists"


def test_refusals(settled: SettlementConsortium) -> None:
    """Each wrong answer is refused by the contract with an error naming it."""
    w3 = settled.consortium.w3
    plan = RoundPlan.of(_statements("2026-09"))
    alpha = _rounds(settled, "alpha")

    def refused(call: object, *args: object) -> str:
        assert callable(call)
        with pytest.raises(ChainRejected) as caught:
            call(*args)
        return caught.value.error

    assert refused(alpha.propose, plan) == "NotAProposer"
    assert refused(alpha.acknowledge, *plan.statement("alpha")) == "NoRound"
    _rounds(settled, "hub").propose(plan)
    outsider = SettlementRounds(settled.consortium.client(new_account(w3)))
    assert refused(outsider.acknowledge, *plan.statement("alpha")) == "NotAGateway"
    assert refused(outsider.propose, plan) == "NotAGateway"
    assert refused(alpha.acknowledge, *plan.statement("beta")) == "NotYourStatement"
    leaf, proof = plan.statement("alpha")
    wrong = dataclasses.replace(leaf, charges=leaf.charges - 1)
    assert refused(alpha.acknowledge, wrong, proof) == "NotInRound"
    assert refused(alpha.acknowledge, leaf, dataclasses.replace(proof, index=1)) == "NotInRound"
    alpha.acknowledge(leaf, proof)
    assert refused(alpha.acknowledge, leaf, proof) == "AlreadyAnswered"
    assert refused(alpha.dispute, "2026-09", DisputeReason.OTHER) == "AlreadyAnswered"
    assert refused(_rounds(settled, "beta").dispute, "2026-09", 0) == "BadReason"
    assert refused(_rounds(settled, "hub").propose, plan) == "RoundExists"
    with pytest.raises(ChainRejected) as caught:
        alpha.acknowledge(leaf, proof)
    assert "AlreadyAnswered(period=2026-09, libraryId=alpha, answer=1)" in str(caught.value)


def test_governance_votes_proposers_and_the_window(settled: SettlementConsortium) -> None:
    """Who may propose and the window are changed by a members' vote (majority of 4)."""
    clients = [settled.hub, *settled.libraries.values()]
    hub, alpha, beta, gamma = clients
    assert hub.dispute_window() == 3600
    assert hub.is_proposer("hub")
    assert not hub.is_proposer("alpha")
    allow = alpha.propose(Action.SET_PROPOSER, "alpha", value=1)
    assert not beta.vote(allow.proposal_id).executed  # 2 of 4 is not more than half
    assert gamma.vote(allow.proposal_id).executed
    assert hub.is_proposer("alpha")
    window = hub.propose(Action.SET_WINDOW, None, value=7 * 86_400)
    assert (window.action, window.value, window.member_id) == (Action.SET_WINDOW, 604_800, "")
    alpha.vote(window.proposal_id)
    assert beta.vote(window.proposal_id).executed
    assert hub.dispute_window() == 604_800
    with pytest.raises(ChainRejected) as refused:
        hub.propose(Action.SET_WINDOW, None, value=0)
    assert refused.value.error == "BadWindow"
    # The proposer proposes with its new right; the window applies to the new round.
    opened = SettlementRounds(alpha).propose(RoundPlan.of(_statements("2026-08")))
    latest = settled.consortium.w3.eth.get_block("latest")["timestamp"]
    assert opened.deadline - latest == 604_800

    # A removed member loses the right to propose (the other tests' libraries stay).
    delta = new_account(settled.consortium.w3)
    for action, value in ((Action.ADMIT, 0), (Action.SET_PROPOSER, 1), (Action.REMOVE, 0)):
        gateway = delta.address if action is Action.ADMIT else None
        proposal = hub.propose(action, "delta", gateway, value)
        alpha.vote(proposal.proposal_id)
        assert beta.vote(proposal.proposal_id).executed
        assert hub.is_proposer("delta") is (action is Action.SET_PROPOSER)


_codes = st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=8).filter(
    lambda code: len(code.encode()) <= 32
)


@settings(max_examples=25, deadline=None)
@given(
    leaf=st.builds(
        StatementLeaf,
        library=_codes,
        period=_codes,
        currency=st.sampled_from(["EUR", "USD", "CHF"]),
        loans_lent=st.integers(0, 2**64 - 1),
        loans_borrowed=st.integers(0, 2**64 - 1),
        charges=st.integers(0, 2**128 - 1),
        credits=st.integers(0, 2**128 - 1),
    )
)
def test_the_contract_hashes_every_statement_as_python_does(
    settled: SettlementConsortium, leaf: StatementLeaf
) -> None:
    """Any codes (multi-byte UTF-8 included) and amounts up to their types' limits: the
    contract's ``statementLeaf`` and the Python encoding agree."""
    assert SettlementRounds(settled.hub).statement_leaf_on_chain(leaf) == leaf.leaf_hash
