"""A registry deployed before settlement rounds (version 1, one member anchoring every
loan) keeps working with today's client; settlement is refused with a clear reason."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from adapters.ledger.chain import (
    ZERO_ROOT,
    Action,
    RegistryClient,
    SettlementUnsupported,
    _error_table,
    _Sender,
)
from adapters.ledger.records import seal_batch
from adapters.ledger.rounds import RoundPlan, SettlementRounds, StatementLeaf
from gateway.ledger.settlement import settlements_overview
from tests.ledger.conftest import RECORD_KEY, loan_events, new_account

if TYPE_CHECKING:
    from web3 import Web3

pytestmark = pytest.mark.slow

V1_ARTIFACT = Path(__file__).parents[1] / "data/ledger/InterlendRegistry-v1.json"


def _deploy_v1(w3: Web3) -> tuple[str, int, RegistryClient]:
    """The first registry's compiled code (as committed before rounds), deployed."""
    artifact = json.loads(V1_ARTIFACT.read_text(encoding="utf-8"))
    admin = new_account(w3)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    sender = _Sender(w3, admin, gas_ceiling=3_000_000, timeout_s=30)
    receipt = sender.transact(factory.constructor(1, 2), errors=_error_table(artifact["abi"]))
    address = str(receipt["contractAddress"])
    return address, int(receipt["blockNumber"]), RegistryClient(w3, address, admin)


def test_a_single_member_v1_registry_keeps_working(w3: Web3) -> None:
    """Anchors, member reads and governance votes go on as before; the settlement calls
    say the registry predates them instead of failing obscurely."""
    address, block, admin = _deploy_v1(w3)
    gateway_key = new_account(w3)
    admin.bootstrap_admit("consortium", gateway_key.address)
    admin.end_bootstrap()
    gateway = RegistryClient(
        w3, address, gateway_key, deploy_block=block, gas_ceiling=500_000, poll_s=0.01
    )
    assert gateway.version() == 1

    batch = seal_batch(loan_events(5), key=RECORD_KEY)
    anchor = gateway.anchor(1, batch.root, ZERO_ROOT)
    assert gateway.find_anchor("consortium", 1) == dataclasses.replace(anchor, gas_used=None)
    proposal = gateway.propose(Action.ADMIT, "alpha", new_account(w3).address)
    assert proposal.executed  # one member of one: a majority
    assert gateway.proposal(proposal.proposal_id).value == 0
    assert gateway.member("alpha").gateway is not None

    with pytest.raises(SettlementUnsupported, match="predates settlement rounds"):
        gateway.propose(Action.SET_WINDOW, None, value=60)
    rounds = SettlementRounds(gateway)
    plan = RoundPlan.of([StatementLeaf("consortium", "2026-11", "EUR", 1, 0, 0, 5)])
    with pytest.raises(SettlementUnsupported, match=f"the registry at {address} predates"):
        rounds.propose(plan)
    with pytest.raises(SettlementUnsupported):
        rounds.round("2026-11")
    overview = settlements_overview(rounds)  # what GET /api/settlements answers
    assert overview["supported"] is False
    assert "predates settlement rounds" in str(overview["reason"])
