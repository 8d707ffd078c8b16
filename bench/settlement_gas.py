"""Settlement rounds' gas: per library per round, by consortium size (target: under 60k
gas per acknowledgement).

Run by hand (after ``npm ci``): ``.venv/bin/python bench/settlement_gas.py``.

On a fresh anvil (from ``node_modules``, on a free port) the registry is deployed with
``n`` libraries and one proposing gateway admitted; then, for each size, two rounds:

- *round 1*: the gateway proposes the period's root; every library acknowledges its own
  statement (with its inclusion proof, whose length grows as log2 n) but the last,
  which disputes it;
- *round 2*: the period is proposed again after the window (anvil's clock moved on with
  ``evm_increaseTime``, no waiting), and every library acknowledges.

Reported per size: the proposal's gas (it opens one answer word per 127 members), the
acknowledgements' gas (min, median, max: the first of a round, and a library whose
proof is one hash longer, cost a little more), the dispute's, and the gas the round
costs all the libraries together.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_account import Account
from hexbytes import HexBytes
from web3.types import RPCEndpoint

from adapters.ledger.chain import RegistryClient, deploy, fund_from_node
from adapters.ledger.connect import open_rpc
from adapters.ledger.rounds import DisputeReason, RoundPlan, SettlementRounds, StatementLeaf
from tests.helpers.services import start_anvil

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

SIZES = (3, 10, 50, 130)
TARGET = 60_000
WINDOW_S = 3600


@dataclass
class SizeResult:
    """One consortium size's gas figures."""

    libraries: int
    propose_gas: int
    repropose_gas: int
    ack_min: int
    ack_median: float
    ack_max: int
    dispute_gas: int
    round_total: int
    """Proposal plus every library's answer, round 1."""


def _statements(period: str, n: int) -> list[StatementLeaf]:
    return [
        StatementLeaf(f"lib{i:03d}", period, "EUR", 10 + i, 5 + i, 1_000 * i, 900 * i)
        for i in range(n)
    ]


def measure(url: str, n: int) -> SizeResult:
    """Deploy, admit ``n`` libraries and a proposer, and run the two rounds."""
    w3 = open_rpc(url).w3
    accounts = [Account.create() for _ in range(n + 2)]
    for account in accounts:
        fund_from_node(w3, account.address, 10**19)
    admin, hub_key, keys = accounts[0], accounts[1], accounts[2:]
    deployment = deploy(w3, admin, dispute_window_s=WINDOW_S)

    def client(key: LocalAccount) -> RegistryClient:
        return RegistryClient(
            w3, deployment.address, key, deploy_block=deployment.block_number, poll_s=0.005,
            gas_ceiling=3_000_000,
        )  # fmt: skip

    boot = client(admin)
    boot.bootstrap_admit("hub", hub_key.address)
    for i, key in enumerate(keys):
        boot.bootstrap_admit(f"lib{i:03d}", key.address)
    boot.bootstrap_set_proposer("hub")
    boot.end_bootstrap()
    hub = SettlementRounds(client(hub_key))
    libraries = [SettlementRounds(client(key)) for key in keys]

    def gas_of_last_tx() -> int:
        block = w3.eth.get_block("latest")
        last = block["transactions"][-1]
        assert isinstance(last, bytes)
        tx_hash = HexBytes(last)
        return int(w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])

    plan = RoundPlan.of(_statements("2026-11", n))
    hub.propose(plan)
    propose_gas = gas_of_last_tx()
    acks = [libraries[i].acknowledge(*plan.statement(f"lib{i:03d}")) for i in range(n - 1)]
    dispute_gas = libraries[-1].dispute("2026-11", DisputeReason.AMOUNTS)
    w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [WINDOW_S + 1])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    hub.propose(plan)
    repropose_gas = gas_of_last_tx()
    acks += [libraries[i].acknowledge(*plan.statement(f"lib{i:03d}")) for i in range(n)]
    return SizeResult(
        libraries=n,
        propose_gas=propose_gas,
        repropose_gas=repropose_gas,
        ack_min=min(acks),
        ack_median=statistics.median(acks),
        ack_max=max(acks),
        dispute_gas=dispute_gas,
        round_total=propose_gas + sum(acks[: n - 1]) + dispute_gas,
    )


def report(results: list[SizeResult]) -> str:
    """A Markdown table of the figures."""
    lines = [
        "| libraries | propose (again) | acknowledge min / median / max | dispute "
        "| round, all parties |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {r.libraries} | {r.propose_gas:,} ({r.repropose_gas:,}) "
        f"| {r.ack_min:,} / {r.ack_median:,.0f} / {r.ack_max:,} "
        f"| {r.dispute_gas:,} | {r.round_total:,} |"
        for r in results
    )
    worst = max(r.ack_max for r in results)
    verdict = "met" if worst < TARGET else "NOT met"
    lines.append(f"\nWorst acknowledgement: {worst:,} gas (target < {TARGET:,}: {verdict}).")
    return "\n".join(lines)


def main() -> None:
    """Run every size on one fresh anvil and print the table (``--json`` for data)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        node = start_anvil(Path(directory))
        if node is None:
            raise SystemExit("anvil is not installed: run `npm ci` first")
        try:
            results = [measure(node.url, n) for n in args.sizes]
        finally:
            node.stop()
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(report(results))


if __name__ == "__main__":
    main()
