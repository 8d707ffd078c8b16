"""The registry contract and its client on a real EVM node (anvil from node_modules)."""

from __future__ import annotations

import dataclasses
import socket
from typing import TYPE_CHECKING

import pytest
import trio
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3
from web3.types import RPCEndpoint

from adapters.ledger.chain import (
    ZERO_ROOT,
    Action,
    AnchorConflict,
    ChainError,
    ChainRejected,
    ChainUnavailable,
    ConfirmationTimeout,
    GasCeilingExceeded,
    RegistryClient,
    deploy,
    member_id_bytes,
    member_id_text,
)
from adapters.ledger.connect import open_rpc
from adapters.ledger.merkle import InclusionProof, verify_inclusion
from adapters.ledger.records import check_receipt, seal_batch
from tests.ledger.conftest import (
    RECORD_KEY,
    Consortium,
    loan_events,
    make_consortium,
    new_account,
)

if TYPE_CHECKING:
    from tests.helpers.services import AnvilNode

pytestmark = pytest.mark.slow


def _anchored_events(consortium: Consortium, member: str, seq: int) -> int:
    logs = (
        consortium.client()
        .contract.events.Anchored()
        .get_logs(
            from_block=0, argument_filters={"memberId": member_id_bytes(member), "batchSeq": seq}
        )
    )
    return len(list(logs))


def test_bootstrap_then_renounced(w3: Web3) -> None:
    """The deployer admits the first members, then gives the power up for good."""
    consortium = make_consortium(w3)
    reader = consortium.client()
    assert reader.bootstrap_admin() is None
    assert reader.member_count() == 3
    assert [m.member_id for m in reader.members()] == ["alpha", "beta", "gamma"]
    alpha = reader.member("alpha")
    assert alpha.gateway == consortium.keys["alpha"].address
    assert (alpha.batch_seq, alpha.last_root, alpha.anchored_at) == (0, ZERO_ROOT, 0)
    assert reader.member("nobody").gateway is None
    with pytest.raises(ChainRejected) as refused:
        consortium.gateways["alpha"].bootstrap_admit("delta", new_account(w3).address)
    assert refused.value.error == "NotBootstrapAdmin"


def test_members_admit_and_remove_by_majority(consortium: Consortium) -> None:
    """A proposal passes on the vote that makes its yes votes exceed half the members;
    votes of an older electorate no longer count."""
    alpha, beta, gamma = (consortium.gateways[m] for m in ("alpha", "beta", "gamma"))
    delta_key = new_account(consortium.w3)
    assert alpha.majority() == (1, 2)

    proposal = alpha.propose(Action.ADMIT, "delta", delta_key.address)
    assert (proposal.yes, proposal.executed) == (1, False)  # 1 of 3 is not a majority
    stale = gamma.propose(Action.REMOVE, "beta")  # made in the same epoch as the admission
    with pytest.raises(ChainRejected) as refused:
        alpha.vote(proposal.proposal_id)
    assert refused.value.error == "AlreadyVoted"
    passed = beta.vote(proposal.proposal_id)
    assert (passed.yes, passed.executed) == (2, True)
    assert alpha.member("delta").gateway == delta_key.address
    assert alpha.member_count() == 4

    # The admission changed the electorate: the older proposal can no longer be voted on.
    with pytest.raises(ChainRejected) as refused:
        alpha.vote(stale.proposal_id)
    assert refused.value.error == "StaleProposal"
    assert "StaleProposal(proposalId=" in str(refused.value)

    # Removing gamma among four members takes three votes (2 of 4 is not more than half).
    delta = consortium.client(delta_key)
    removal = delta.propose(Action.REMOVE, "gamma")
    assert not alpha.vote(removal.proposal_id).executed
    assert beta.vote(removal.proposal_id).executed
    assert alpha.member("gamma").gateway is None
    assert alpha.member_of(consortium.keys["gamma"].address) is None
    with pytest.raises(ChainRejected) as refused:
        gamma.propose(Action.ADMIT, "epsilon", new_account(consortium.w3).address)
    assert refused.value.error == "NotAGateway"


def test_proposals_are_checked(consortium: Consortium) -> None:
    """Proposals that could not be carried out are refused at once, with a clear reason."""
    alpha = consortium.gateways["alpha"]
    beta_gateway = alpha.member("beta").gateway
    cases = [
        (Action.ADMIT, "beta", new_account(consortium.w3).address, "AlreadyMember"),
        (Action.ADMIT, "delta", beta_gateway, "GatewayInUse"),
        (Action.REMOVE, "nobody", None, "NotAMember"),
        (Action.REKEY, "beta", None, "BadGateway"),
    ]
    for action, member, gateway, error in cases:
        with pytest.raises(ChainRejected) as refused:
            alpha.propose(action, member, gateway)
        assert refused.value.error == error
    with pytest.raises(ChainRejected) as refused:
        alpha.vote(99)
    assert refused.value.error == "NoSuchProposal"


def test_rekey_keeps_the_members_chain(consortium: Consortium) -> None:
    """A member's new gateway key continues its hash chain; the old key is refused."""
    alpha, beta = consortium.gateways["alpha"], consortium.gateways["beta"]
    first = seal_batch(loan_events(3, owner="alpha", home="beta"), key=RECORD_KEY)
    alpha.anchor(1, first.root, ZERO_ROOT)
    new_key = new_account(consortium.w3)
    proposal = alpha.propose(Action.REKEY, "alpha", new_key.address)
    assert beta.vote(proposal.proposal_id).executed
    second = seal_batch(loan_events(2, owner="alpha", home="gamma"), key=RECORD_KEY)
    with pytest.raises(ChainRejected) as refused:
        alpha.anchor(2, second.root, first.root)
    assert refused.value.error == "NotAGateway"
    anchor = consortium.client(new_key).anchor(2, second.root, first.root)
    assert (anchor.member_id, anchor.batch_seq, anchor.prev_root) == ("alpha", 2, first.root)


def test_two_gateways_anchor_and_loans_are_proven(consortium: Consortium) -> None:
    """Two members' gateways anchor their own hash chains; every receipt verifies
    against the root found on chain, off chain and with the contract's own code."""
    reader = consortium.client()
    for member, other in (("alpha", "beta"), ("beta", "gamma")):
        gateway = consortium.gateways[member]
        prev = ZERO_ROOT
        for seq, size in ((1, 5), (2, 33)):
            events = loan_events(size, owner=member, home=other)
            batch = seal_batch(events, key=RECORD_KEY)
            anchor = gateway.anchor(seq, batch.root, prev)
            assert (anchor.member_id, anchor.batch_seq, anchor.already) == (member, seq, False)
            assert anchor.gas_used is not None
            receipts = batch.receipts(
                member, seq, tx_hash=anchor.tx_hash, block_number=anchor.block_number
            )
            for receipt, event in zip(receipts, events, strict=True):
                found = reader.find_anchor(member, seq, block_hint=receipt.block_number)
                assert found is not None
                assert found.tx_hash == anchor.tx_hash
                verdict = check_receipt(
                    receipt, event, key=RECORD_KEY, anchored_root=found.merkle_root
                )
                assert verdict.ok, verdict.reason
            for receipt in receipts[:3]:
                assert reader.verify_inclusion(receipt.leaf, receipt.proof, anchor.merkle_root)
            prev = batch.root
        info = reader.member(member)
        assert (info.batch_seq, info.last_root) == (2, prev)
    # Older batches are found by scanning from the deployment block.
    first = reader.find_anchor("alpha", 1)
    assert first is not None
    assert first.prev_root == ZERO_ROOT
    assert reader.find_anchor("alpha", 3) is None
    assert reader.find_anchor("gamma", 1) is None


def test_sequence_and_hash_chain_are_enforced(consortium: Consortium) -> None:
    """A gap, a wrong previous root or an empty root is refused by the contract; a batch
    anchored again is found, not duplicated; another root under its sequence conflicts."""
    gamma = consortium.gateways["gamma"]
    root1, root2 = b"\x01" * 32, b"\x02" * 32
    with pytest.raises(ChainRejected) as refused:
        gamma.anchor(2, root1, ZERO_ROOT)
    assert refused.value.error == "BadSequence"
    assert refused.value.error_args == {"memberId": "gamma", "expected": 1, "given": 2}
    with pytest.raises(ChainRejected) as refused:
        gamma.anchor(1, root1, root2)
    assert refused.value.error == "BadPrevRoot"
    with pytest.raises(ChainRejected) as refused:
        gamma.anchor(1, ZERO_ROOT, ZERO_ROOT)
    assert refused.value.error == "EmptyRoot"

    sent = gamma.anchor(1, root1, ZERO_ROOT)
    again = gamma.anchor(1, root1, ZERO_ROOT)
    assert again.already
    assert dataclasses.replace(again, already=False, gas_used=sent.gas_used) == sent
    with pytest.raises(AnchorConflict):
        gamma.anchor(1, root2, ZERO_ROOT)
    assert _anchored_events(consortium, "gamma", 1) == 1


def test_a_non_member_signer_is_rejected(consortium: Consortium) -> None:
    """A key that is not a member's gateway cannot anchor: the client says so, and the
    contract refuses the transaction itself."""
    outsider = consortium.client(new_account(consortium.w3))
    with pytest.raises(ChainRejected) as refused:
        outsider.anchor(1, b"\x01" * 32, ZERO_ROOT)
    assert refused.value.error == "NotAGateway"
    # Straight to the contract, past the client's own check.
    with pytest.raises(ChainRejected) as refused:
        outsider._transact(outsider.contract.functions.anchor(1, b"\x01" * 32, ZERO_ROOT))
    assert refused.value.error == "NotAGateway"
    assert "NotAGateway(caller=" in str(refused.value)
    with pytest.raises(ChainError, match="read-only"):
        consortium.client().anchor(1, b"\x01" * 32, ZERO_ROOT)


def test_a_tampered_record_is_detected(consortium: Consortium) -> None:
    """A loan changed in the registry, or a record changed in its receipt, no longer
    proves: the recomputed leaf differs from the proven one, and the contract agrees."""
    beta = consortium.gateways["beta"]
    events = loan_events(10)
    batch = seal_batch(events, key=RECORD_KEY)
    anchor = beta.anchor(1, batch.root, ZERO_ROOT)
    receipt = batch.receipts("beta", 1)[4]
    event = events[4]
    assert check_receipt(receipt, event, key=RECORD_KEY, anchored_root=anchor.merkle_root).ok

    moved = dataclasses.replace(event, home="gamma")  # the loan charged to another library
    verdict = check_receipt(receipt, moved, key=RECORD_KEY, anchored_root=anchor.merkle_root)
    assert not verdict.ok
    assert "does not match the proven record" in verdict.reason

    forged = dataclasses.replace(receipt, record=receipt.record[:-1] + b"\x07")
    assert not verify_inclusion(forged.leaf, forged.proof, anchor.merkle_root)
    assert not beta.verify_inclusion(forged.leaf, forged.proof, anchor.merkle_root)
    bad_index = InclusionProof(receipt.proof.index + 1, receipt.proof.size, receipt.proof.path)
    assert not beta.verify_inclusion(receipt.leaf, bad_index, anchor.merkle_root)


def test_gas_ceilings(consortium: Consortium) -> None:
    """An anchor that would cost more gas, or a higher fee, than allowed is not sent."""
    alpha_key = consortium.keys["alpha"]
    tight = consortium.client(alpha_key, gas_ceiling=30_000)
    with pytest.raises(GasCeilingExceeded, match="above the ceiling of 30000"):
        tight.anchor(1, b"\x01" * 32, ZERO_ROOT)
    cheap = consortium.client(alpha_key, max_fee_per_gas=1)
    with pytest.raises(GasCeilingExceeded, match="base fee"):
        cheap.anchor(1, b"\x01" * 32, ZERO_ROOT)
    assert consortium.client().member("alpha").batch_seq == 0


def test_check_names_the_problem(consortium: Consortium, w3: Web3) -> None:
    """``check`` accepts the deployment and refuses a wrong chain id or address."""
    consortium.client().check()
    wrong_chain = RegistryClient(w3, consortium.deployment.address, chain_id=1)
    with pytest.raises(ChainError, match="not 1"):
        wrong_chain.check()
    nowhere = RegistryClient(w3, new_account(w3).address)
    with pytest.raises(ChainError, match="no contract"):
        nowhere.check()


def test_member_ids() -> None:
    """Member codes are 1 to 32 bytes of UTF-8 without NUL, zero-padded on chain."""
    assert member_id_text(member_id_bytes("north")) == "north"
    for bad in ("", "x" * 33, "a\x00b"):
        with pytest.raises(ValueError, match="member code"):
            member_id_bytes(bad)


def test_node_outage_then_retry_without_duplicates(own_anvil: AnvilNode) -> None:
    """With the node down every call fails with a clear ``ChainUnavailable``; after it
    comes back the same anchor succeeds once, and retrying it finds it."""
    w3 = open_rpc(own_anvil.url, timeout_s=2.0).w3
    consortium = make_consortium(w3)
    alpha = consortium.gateways["alpha"]
    first = seal_batch(loan_events(4, owner="alpha"), key=RECORD_KEY)
    alpha.anchor(1, first.root, ZERO_ROOT)
    second = seal_batch(loan_events(6, owner="alpha"), key=RECORD_KEY)

    own_anvil.stop()
    with pytest.raises(ChainUnavailable) as down:
        alpha.anchor(2, second.root, first.root)
    assert str(down.value) == (
        f"the chain node at {own_anvil.url} is unavailable: connection refused"
    )
    with pytest.raises(ChainUnavailable):
        consortium.client().find_anchor("alpha", 1)

    own_anvil.start()  # the same chain, loaded from its state file
    anchor = alpha.anchor(2, second.root, first.root)
    assert not anchor.already
    assert alpha.anchor(2, second.root, first.root).already
    assert _anchored_events(consortium, "alpha", 2) == 1
    assert consortium.client().member("alpha").batch_seq == 2


def test_an_unanswered_anchor_is_not_sent_twice(own_anvil: AnvilNode) -> None:
    """An anchor sent but not yet mined is waited for on retry, not sent again; once
    mined and deep enough it is found, and confirmations are honoured."""
    w3 = open_rpc(own_anvil.url).w3
    consortium = make_consortium(w3)
    key = consortium.keys["alpha"]
    gateway = consortium.client(key, timeout_s=0.3, confirmations=3)
    batch = seal_batch(loan_events(3, owner="alpha"), key=RECORD_KEY)
    nonce = w3.eth.get_transaction_count(key.address)

    w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [False])
    with pytest.raises(ConfirmationTimeout, match="not mined"):
        gateway.anchor(1, batch.root, ZERO_ROOT)
    with pytest.raises(ConfirmationTimeout, match="not mined"):
        gateway.anchor(1, batch.root, ZERO_ROOT)  # waits for the same transaction
    assert w3.eth.get_transaction_count(key.address, "pending") == nonce + 1

    w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    with pytest.raises(ConfirmationTimeout, match="not confirmed deep enough"):
        gateway.anchor(1, batch.root, ZERO_ROOT)
    w3.provider.make_request(RPCEndpoint("anvil_mine"), [2])
    anchor = gateway.anchor(1, batch.root, ZERO_ROOT)
    assert anchor.already
    assert w3.eth.get_transaction_count(key.address) == nonce + 1
    assert _anchored_events(consortium, "alpha", 1) == 1


def test_a_second_writer_on_one_key_is_survived(consortium: Consortium) -> None:
    """If another process used the key, the client's stale nonce is re-read once."""
    key = consortium.keys["beta"]
    first, second = consortium.client(key), consortium.client(key)
    first.anchor(1, b"\x01" * 32, ZERO_ROOT)
    second.anchor(2, b"\x02" * 32, b"\x01" * 32)
    assert first.anchor(3, b"\x03" * 32, b"\x02" * 32).batch_seq == 3


async def test_from_trio_through_a_worker_thread(consortium: Consortium) -> None:
    """The sync client runs from trio in a worker thread, as the ledger worker uses it."""
    gamma = consortium.gateways["gamma"]
    batch = seal_batch(loan_events(20, owner="gamma"), key=RECORD_KEY)
    with trio.fail_after(20):
        anchor = await trio.to_thread.run_sync(gamma.anchor, 1, batch.root, ZERO_ROOT)
    assert anchor.merkle_root == batch.root


def test_majority_is_configurable(w3: Web3) -> None:
    """Two-thirds: a proposal needs more than 2/3 of the members; a ratio outside
    [1/2, 1) is refused at deployment."""
    consortium = make_consortium(w3, majority=(2, 3))
    alpha, beta, gamma = (consortium.gateways[m] for m in ("alpha", "beta", "gamma"))
    proposal = alpha.propose(Action.ADMIT, "delta", new_account(w3).address)
    assert not beta.vote(proposal.proposal_id).executed  # 2 of 3 is not more than 2/3
    assert gamma.vote(proposal.proposal_id).executed
    for bad in ((1, 3), (1, 1), (0, 0)):
        with pytest.raises(ChainRejected) as refused:
            deploy(w3, Account.create(), majority=bad)
        assert refused.value.error == "BadMajority"


def test_a_transaction_lost_with_the_node_is_sent_again(own_anvil: AnvilNode) -> None:
    """A pending anchor that a restarted node no longer knows is sent again, once."""
    w3 = open_rpc(own_anvil.url).w3
    consortium = make_consortium(w3)
    key = consortium.keys["alpha"]
    gateway = consortium.client(key, timeout_s=0.3)
    batch = seal_batch(loan_events(3, owner="alpha"), key=RECORD_KEY)
    w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [False])
    with pytest.raises(ConfirmationTimeout):
        gateway.anchor(1, batch.root, ZERO_ROOT)
    own_anvil.stop()
    own_anvil.start()  # mined state comes back; the pending transaction does not
    anchor = gateway.anchor(1, batch.root, ZERO_ROOT)
    assert not anchor.already
    assert _anchored_events(consortium, "alpha", 1) == 1


def test_a_silent_node_times_out_clearly() -> None:
    """A node that accepts connections but never answers is reported as such, quickly."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = RegistryClient(open_rpc(url, timeout_s=0.2).w3, "0x" + "11" * 20)
        with pytest.raises(ChainUnavailable) as down:
            client.member("alpha")
    assert str(down.value) == f"the chain node at {url} is unavailable: no answer in time"


def test_keys_and_counts(consortium: Consortium) -> None:
    """A client can be made from a hex key; proposals are counted; a fee cap above the
    base fee is honoured."""
    key = consortium.keys["alpha"]
    client = RegistryClient.from_key(
        consortium.w3,
        consortium.deployment.address,
        key.key.hex(),
        max_fee_per_gas=10**12,
        deploy_block=consortium.deployment.block_number,
    )
    assert client.own_member() == "alpha"
    assert client.proposal_count() == 0
    proposal = client.propose(Action.REMOVE, "gamma")
    assert client.proposal_count() == 1
    assert client.proposal(proposal.proposal_id).action is Action.REMOVE
    with pytest.raises(ChainError, match="read-only"):
        consortium.client().vote(proposal.proposal_id)
    with pytest.raises(ChainError, match="read-only"):
        consortium.client().wait_confirmed(b"\x00" * 32)


def test_the_bootstrap_cannot_end_empty(w3: Web3) -> None:
    """Ending the bootstrap before any member is admitted would orphan the registry."""
    admin = new_account(w3)
    deployment = deploy(w3, admin)
    client = RegistryClient(w3, deployment.address, admin)
    with pytest.raises(ChainRejected) as refused:
        client.end_bootstrap()
    assert refused.value.error == "NoMembers"
    assert client.bootstrap_admin() == admin.address


def test_only_the_root_goes_on_chain(consortium: Consortium) -> None:
    """An anchor transaction carries the batch's sequence and two roots, nothing else:
    no record, no item, no patron reaches the chain."""
    events = loan_events(25)
    batch = seal_batch(events, key=RECORD_KEY)
    anchor = consortium.gateways["beta"].anchor(1, batch.root, ZERO_ROOT)
    data = bytes(consortium.w3.eth.get_transaction(HexBytes(anchor.tx_hash))["input"])
    selector = bytes(Web3.keccak(text="anchor(uint64,bytes32,bytes32)"))[:4]
    assert data == selector + (1).to_bytes(32, "big") + batch.root + ZERO_ROOT
    for event in events:
        for value in (event.item, event.patron_key, event.loan_id):
            assert value.encode() not in data
