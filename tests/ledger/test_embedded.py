"""The embedded chain (web3's in-process EVM): deploy at start, anchor, verify."""

from __future__ import annotations

import pytest
from eth_account import Account

from adapters.ledger.chain import ZERO_ROOT, ChainRejected, RegistryClient
from adapters.ledger.connect import start_embedded
from adapters.ledger.records import check_receipt, seal_batch
from tests.ledger.conftest import RECORD_KEY, loan_events

pytestmark = pytest.mark.slow


def test_embedded_deploy_anchor_verify() -> None:
    """The registry deploys in-process; a gateway anchors batches and every receipt
    checks against the root found on the embedded chain, off chain and on it."""
    admin, gateway = Account.create(), Account.create()
    w3, deployment = start_embedded([admin, gateway])
    RegistryClient(w3, deployment.address, admin).bootstrap_admit("alpha", gateway.address)
    client = RegistryClient(w3, deployment.address, gateway, deploy_block=deployment.block_number)
    client.check()

    events = loan_events(50, owner="alpha", home="beta")
    batch = seal_batch(events, key=RECORD_KEY)
    anchor = client.anchor(1, batch.root, ZERO_ROOT)
    assert (anchor.member_id, anchor.batch_seq, anchor.already) == ("alpha", 1, False)
    assert client.anchor(1, batch.root, ZERO_ROOT).already

    found = client.find_anchor("alpha", 1)
    assert found is not None
    for receipt, event in zip(batch.receipts("alpha", 1), events, strict=True):
        assert check_receipt(receipt, event, key=RECORD_KEY, anchored_root=found.merkle_root).ok
    receipt = batch.receipts("alpha", 1)[17]
    assert client.verify_inclusion(receipt.leaf, receipt.proof, found.merkle_root)


def test_embedded_reverts_are_decoded() -> None:
    """eth-tester's reverts come out as the contract's named errors, as on anvil."""
    admin, gateway, outsider = Account.create(), Account.create(), Account.create()
    w3, deployment = start_embedded([admin, gateway, outsider])
    RegistryClient(w3, deployment.address, admin).bootstrap_admit("alpha", gateway.address)
    client = RegistryClient(w3, deployment.address, gateway)
    with pytest.raises(ChainRejected) as refused:
        client.anchor(2, b"\x01" * 32, ZERO_ROOT)
    assert refused.value.error == "BadSequence"
    assert refused.value.error_args == {"memberId": "alpha", "expected": 1, "given": 2}
    stranger = RegistryClient(w3, deployment.address, outsider)
    with pytest.raises(ChainRejected) as refused:
        stranger._transact(stranger.contract.functions.anchor(1, b"\x01" * 32, ZERO_ROOT))
    assert refused.value.error == "NotAGateway"
    with pytest.raises(ValueError, match="deployer"):
        start_embedded([])
