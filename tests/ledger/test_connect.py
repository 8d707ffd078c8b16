"""Connecting to the configured chain: keys, the embedded chain, a node's checks, links."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
import structlog
import trio
import trio.testing
from eth_account import Account

from adapters.ledger.chain import ChainError, ChainRejected, ChainUnavailable, RegistryClient
from adapters.ledger.connect import (
    ChainLink,
    connect_chain,
    open_rpc,
    read_only_link,
    signing_account,
)
from config.models import LedgerSettings, SecretRef
from gateway.cli.main import main
from tests.helpers.services import dead_port
from tests.ledger.conftest import Consortium, make_consortium

if TYPE_CHECKING:
    from web3 import Web3

    from tests.helpers.services import AnvilNode

pytestmark = pytest.mark.slow

WAIT_S = 10.0
"""The most a test waits for a worker thread (only if the code under test is broken)."""


@pytest.fixture(scope="module")
def consortium(w3: Web3) -> Consortium:
    """One registry for the module (connecting changes nothing on chain; each deployment
    spends the session node's ether)."""
    return make_consortium(w3)


def evm(consortium: Consortium, url: str, **changes: Any) -> LedgerSettings:
    """``[gateway.ledger]`` for the consortium's registry on the node at ``url``."""
    settings = LedgerSettings(
        backend="evm",
        rpc_url=url,
        contract=consortium.deployment.address,
        deploy_block=consortium.deployment.block_number,
        key=SecretRef(env="NOT_READ_BY_CONNECT"),
    )
    return settings.model_copy(update=changes)


def hex_key(consortium: Consortium, member: str) -> str:
    """The private key of ``member``'s gateway, in hex."""
    return "0x" + bytes(consortium.keys[member].key).hex()


def test_a_key_becomes_its_account() -> None:
    """A hex key (blanks around it ignored) gives the account it is the key of."""
    account = Account.create()
    key = " 0x" + bytes(account.key).hex() + "\n"
    assert signing_account(key, what="gateway.ledger.key").address == account.address


def test_a_key_that_is_not_one_is_refused_without_quoting_it() -> None:
    """The refusal names the setting and never repeats the value."""
    with pytest.raises(ChainError) as refused:
        signing_account("0xnot-a-key-c0ffee", what="gateway.ledger.key")
    assert str(refused.value) == "gateway.ledger.key is not a valid secp256k1 private key"
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__


def test_ledger_deploy_refuses_a_bad_key_before_reaching_the_node(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``interlend ledger deploy`` with a key that is not one: exit 1 with the reason,
    the value never printed, no node needed."""
    monkeypatch.setenv("LEDGER_DEPLOYER_KEY", "0xnot-a-key-c0ffee")
    node = f"http://127.0.0.1:{dead_port()}"
    args = ["--log-level", "error", "ledger", "deploy", "--rpc", node, "--key-env"]
    before = structlog.get_config()
    try:
        status = main([*args, "LEDGER_DEPLOYER_KEY"])
    finally:
        structlog.configure(**before)
    err = capsys.readouterr().err
    assert status == 1
    assert err == "interlend: the deployer's key is not a valid secp256k1 private key\n"


def test_the_embedded_chain_admits_this_gateways_member() -> None:
    """``embedded`` deploys a registry in process and admits the default member (or
    ``member_id``) with the gateway's key."""
    link = connect_chain(LedgerSettings(backend="embedded"), None, "alpha")
    assert (link.backend, link.member_id, link.rpc) == ("embedded", "alpha", None)
    assert link.client.own_member() == "alpha"
    named = connect_chain(LedgerSettings(backend="embedded", member_id="north"), None, "alpha")
    assert named.client.own_member() == "north"


def test_a_node_is_checked_and_the_keys_member_found(
    consortium: Consortium, anvil: AnvilNode
) -> None:
    """``evm``: the node answers, holds the contract, and the key is beta's gateway."""
    link = connect_chain(evm(consortium, anvil.url), hex_key(consortium, "beta"), "unused")
    try:
        assert (link.backend, link.member_id) == ("evm", "beta")
        assert link.client.account is not None
        assert link.client.account.address == consortium.keys["beta"].address
    finally:
        link.close()


def test_a_wrong_chain_or_contract_is_refused(consortium: Consortium, anvil: AnvilNode) -> None:
    """Another chain id, or no contract at the address, ends the connection with why."""
    key = hex_key(consortium, "beta")
    with pytest.raises(ChainError, match="not 1"):
        connect_chain(evm(consortium, anvil.url, chain_id=1), key, "unused")
    nowhere = Account.create().address
    with pytest.raises(ChainError, match="no contract"):
        connect_chain(evm(consortium, anvil.url, contract=nowhere), key, "unused")


def test_a_key_must_be_the_configured_members_gateway(
    consortium: Consortium, anvil: AnvilNode
) -> None:
    """A key that is no member's gateway is refused by the contract's rule; one that is
    another member's than ``member_id`` is refused by name."""
    outsider = "0x" + bytes(Account.create().key).hex()
    with pytest.raises(ChainRejected) as refused:
        connect_chain(evm(consortium, anvil.url), outsider, "unused")
    assert refused.value.error == "NotAGateway"
    with pytest.raises(ChainError) as other:
        connect_chain(
            evm(consortium, anvil.url, member_id="gamma"), hex_key(consortium, "beta"), "unused"
        )
    assert str(other.value) == (
        "the ledger key is the gateway of 'beta' on chain, not of gateway.ledger.member_id 'gamma'"
    )


def test_a_node_that_is_down_is_unavailable(consortium: Consortium) -> None:
    """Nothing listening at ``rpc_url``: ``ChainUnavailable``, so the worker retries."""
    down = f"http://127.0.0.1:{dead_port()}"
    with pytest.raises(ChainUnavailable, match="connection refused"):
        connect_chain(evm(consortium, down), hex_key(consortium, "beta"), "unused")
    with pytest.raises(ChainUnavailable):
        read_only_link(evm(consortium, down))


def test_only_an_evm_ledger_has_a_read_only_link(consortium: Consortium, anvil: AnvilNode) -> None:
    """A read-only link has no key and the configured member; the embedded chain cannot
    be read from outside the gateway that runs it."""
    with pytest.raises(ChainError, match="only an evm ledger"):
        read_only_link(LedgerSettings(backend="embedded"))
    link = read_only_link(evm(consortium, anvil.url, member_id="gamma"))
    try:
        assert (link.member_id, link.client.account) == ("gamma", None)
        assert link.client.member("gamma").gateway == consortium.keys["gamma"].address
    finally:
        link.close()


def _offline_client() -> RegistryClient:
    """A client that is never asked anything (``ChainLink.call`` runs other functions)."""
    return RegistryClient(open_rpc("http://127.0.0.1:1").w3, "0x" + "11" * 20)


async def test_the_embedded_chains_calls_take_turns() -> None:
    """The in-process chain is not thread-safe: a second call waits for the first."""
    link = ChainLink(_offline_client(), "alpha", "embedded")
    release, second_ran = threading.Event(), threading.Event()
    with trio.fail_after(WAIT_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link.call, release.wait, WAIT_S)
            # The first call holds the chain before the second asks (trio does not
            # promise that tasks started together begin in order).
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(link.call, second_ran.set)
            await trio.testing.wait_all_tasks_blocked()
            assert not second_ran.is_set()
            release.set()
    assert second_ran.is_set()


async def test_a_nodes_calls_run_side_by_side() -> None:
    """Calls to a JSON-RPC node may overlap: the first sees the second run meanwhile."""
    link = ChainLink(_offline_client(), "alpha", "evm")
    second_ran = threading.Event()
    saw: list[bool] = []

    async def first() -> None:
        saw.append(await link.call(second_ran.wait, WAIT_S))

    with trio.fail_after(2 * WAIT_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(link.call, second_ran.set)
    assert saw == [True]
