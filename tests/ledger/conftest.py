"""Fixtures for the ledger tests: a real anvil node for the session, deployed registries.

anvil comes from the project's ``node_modules`` (``make test`` runs ``npm ci``); without
it the chain tests skip, or fail under ``INTERLEND_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from adapters.ledger.base import LoanEvent, LoanEventKind
from adapters.ledger.chain import Deployment, RegistryClient, deploy, fund_from_node
from adapters.ledger.connect import open_rpc
from tests.helpers.services import dead_port, missing_service, start_anvil

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.helpers.services import AnvilNode

RECORD_KEY = b"consortium record key for tests"


def _anvil(directory: Path) -> AnvilNode:
    node = start_anvil(directory)
    if node is None:
        missing_service("anvil is not installed: run `npm ci` (make test does)")
        raise AssertionError("unreachable")
    return node


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """One anvil for the whole session, on a free port, with a fresh chain."""
    node = _anvil(tmp_path_factory.mktemp("anvil"))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def own_anvil(tmp_path: Path) -> Iterator[AnvilNode]:
    """An anvil of the test's own, for tests that stop it or stop its mining."""
    node = _anvil(tmp_path)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def w3(anvil: AnvilNode) -> Iterator[Web3]:
    """The session's anvil, through web3."""
    rpc = open_rpc(anvil.url)
    try:
        yield rpc.w3
    finally:
        rpc.close()


def new_account(w3: Web3) -> LocalAccount:
    """A fresh key with some ether on the chain."""
    account: LocalAccount = Account.create()
    # 10 ether: gas for thousands of transactions, and anvil's first account (10,000
    # ether) funds every key the session makes.
    fund_from_node(w3, account.address, 10**19)
    return account


@dataclass
class Consortium:
    """A freshly deployed registry with members alpha, beta and gamma admitted."""

    w3: Web3
    deployment: Deployment
    gateways: dict[str, RegistryClient] = field(default_factory=dict)
    keys: dict[str, LocalAccount] = field(default_factory=dict)

    def client(
        self,
        account: LocalAccount | None = None,
        *,
        gas_ceiling: int = 200_000,
        max_fee_per_gas: int | None = None,
        confirmations: int = 1,
        timeout_s: float = 30.0,
    ) -> RegistryClient:
        """A client of this registry acting as ``account`` (read-only without one)."""
        return RegistryClient(
            self.w3,
            self.deployment.address,
            account,
            deploy_block=self.deployment.block_number,
            gas_ceiling=gas_ceiling,
            max_fee_per_gas=max_fee_per_gas,
            confirmations=confirmations,
            timeout_s=timeout_s,
            poll_s=0.01,
        )


def make_consortium(w3: Web3, *, majority: tuple[int, int] = (1, 2)) -> Consortium:
    """Deploy a registry, admit alpha, beta and gamma, and end the bootstrap."""
    admin_account = new_account(w3)
    consortium = Consortium(w3, deploy(w3, admin_account, majority=majority))
    admin = consortium.client(admin_account)
    for member in ("alpha", "beta", "gamma"):
        gateway = new_account(w3)
        admin.bootstrap_admit(member, gateway.address)
        consortium.gateways[member] = consortium.client(gateway)
        consortium.keys[member] = gateway
    admin.end_bootstrap()
    return consortium


@pytest.fixture
def consortium(w3: Web3) -> Consortium:
    """A registry of the test's own on the session's anvil."""
    return make_consortium(w3)


def loan_events(n: int, *, owner: str = "beta", home: str = "alpha") -> list[LoanEvent]:
    """``n`` distinct loan events of ``home``'s patrons at ``owner``."""
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    kinds = list(LoanEventKind)
    return [
        LoanEvent(
            kind=kinds[i % len(kinds)],
            loan_id=f"loan-{owner}-{i:06d}",
            owner=owner,
            home=home,
            item=f"31002{i:09d}",
            patron_key=f"{i:032x}",
            at=start + timedelta(seconds=i),
            due=None
            if kinds[i % len(kinds)] is LoanEventKind.CHECKIN
            else start + timedelta(days=21),
        )
        for i in range(n)
    ]


@dataclass
class SettlementConsortium:
    """A registry whose gateway member ``hub`` may propose settlements, and whose
    libraries alpha, beta and gamma are members with keys of their own."""

    consortium: Consortium
    hub: RegistryClient
    libraries: dict[str, RegistryClient]


def make_settlement_consortium(w3: Web3, *, window_s: int = 3600) -> SettlementConsortium:
    """Deploy with a dispute window of ``window_s``; admit ``hub`` (a proposer) and the
    three libraries; end the bootstrap."""
    admin_account = new_account(w3)
    consortium = Consortium(w3, deploy(w3, admin_account, dispute_window_s=window_s))
    admin = consortium.client(admin_account)
    for member in ("hub", "alpha", "beta", "gamma"):
        key = new_account(w3)
        admin.bootstrap_admit(member, key.address)
        consortium.gateways[member] = consortium.client(key)
        consortium.keys[member] = key
    admin.bootstrap_set_proposer("hub")
    admin.end_bootstrap()
    libraries = {m: consortium.gateways[m] for m in ("alpha", "beta", "gamma")}
    return SettlementConsortium(consortium, consortium.gateways["hub"], libraries)


def demo_without_ils() -> str:
    """The demo consortium's TOML with every member ILS at a port that refuses
    connections (gateway tests of the ledger need no ILS)."""
    text = (Path(__file__).parents[2] / "config" / "demo.toml").read_text(encoding="utf-8")
    for port in (7101, 7102, 7103):
        text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{dead_port()}")
    return text
