"""Ledger cost and speed: gas per loan by batch size, and loans anchored per second.

Run by hand (after ``npm ci``): ``.venv/bin/python bench/ledger_gas.py``.

For each chain (anvil from ``node_modules``, started fresh on a free port; and the
embedded chain, eth-tester on py-evm in this process) the registry is deployed, one
member admitted, and its first batch anchored as a warm-up (a member's first anchor
writes two fresh storage slots and costs more; it is reported on its own line).  Then,
for batch sizes 1, 100, 1,000 and 10,000, each round:

- builds the loan events beforehand (not timed);
- seals every event (salted keyed hashes, canonical bytes), builds the Merkle tree and
  every receipt's inclusion proof: the *seal* time;
- anchors the root through ``RegistryClient.anchor`` (estimate, sign, send, wait for
  the receipt, read the event back): the *chain* time and the gas the transaction used.

Gas per loan is the anchor's gas divided by the batch size (the gas does not depend on
the size: one root, always 32 bytes).  Loans per second is the batch size divided by
seal plus chain time, median of the rounds.  Anchors per second is a run of back-to-back
one-loan batches: the ceiling on batches, not on loans.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_account import Account

from adapters.ledger.chain import (
    ZERO_ROOT,
    RegistryClient,
    deploy,
    fund_from_node,
)
from adapters.ledger.connect import open_rpc, start_embedded
from adapters.ledger.records import seal_batch
from tests.helpers.services import start_anvil
from tests.ledger.conftest import RECORD_KEY, loan_events

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from adapters.ledger.chain import Deployment

SIZES = (1, 100, 1_000, 10_000)


@dataclass
class SizeResult:
    """One batch size on one chain."""

    chain: str
    size: int
    gas: int
    gas_per_loan: float
    seal_s: float
    chain_s: float
    loans_per_s: float


@dataclass
class ChainResult:
    """Everything measured on one chain."""

    chain: str
    deploy_gas: int
    first_anchor_gas: int
    anchors_per_s: float
    sizes: list[SizeResult]


class Member:
    """One member's gateway, anchoring its own hash chain."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.seq = 0
        self.prev = ZERO_ROOT

    def anchor(self, root: bytes) -> int:
        """Anchor the next batch; the gas it used."""
        self.seq += 1
        anchor = self.client.anchor(self.seq, root, self.prev)
        self.prev = root
        assert anchor.gas_used is not None
        return anchor.gas_used


def measure(
    name: str,
    w3: Web3,
    deployment: Deployment,
    admin: LocalAccount,
    gateway: LocalAccount,
    *,
    rounds: int,
    anchors: int,
) -> ChainResult:
    """Run the sizes and the anchor rate on one chain."""
    RegistryClient(w3, deployment.address, admin).bootstrap_admit("alpha", gateway.address)
    member = Member(RegistryClient(w3, deployment.address, gateway, poll_s=0.002))
    first = member.anchor(seal_batch(loan_events(1), key=RECORD_KEY).root)

    results: list[SizeResult] = []
    for size in SIZES:
        gas: list[int] = []
        seal_times: list[float] = []
        chain_times: list[float] = []
        for _ in range(rounds):
            events = loan_events(size, owner="alpha", home="beta")
            started = time.perf_counter()
            batch = seal_batch(events, key=RECORD_KEY)
            receipts = batch.receipts("alpha", member.seq + 1)
            sealed = time.perf_counter()
            gas.append(member.anchor(batch.root))
            done = time.perf_counter()
            assert len(receipts) == size
            seal_times.append(sealed - started)
            chain_times.append(done - sealed)
        seal_s, chain_s = statistics.median(seal_times), statistics.median(chain_times)
        used = int(statistics.median(gas))
        results.append(
            SizeResult(name, size, used, used / size, seal_s, chain_s, size / (seal_s + chain_s))
        )
        print(f"  {name}: {size:>6} loans  {used} gas  {used / size:9.2f} gas/loan", flush=True)

    root = seal_batch(loan_events(1), key=RECORD_KEY).root
    started = time.perf_counter()
    for _ in range(anchors):
        member.anchor(root[:-1] + bytes([member.seq % 251 + 1]))
    rate = anchors / (time.perf_counter() - started)
    return ChainResult(name, deployment.gas_used, first, rate, results)


def run_anvil(rounds: int, anchors: int) -> ChainResult:
    """The measurements on a fresh anvil."""
    with tempfile.TemporaryDirectory() as directory:
        node = start_anvil(Path(directory))
        if node is None:
            raise SystemExit("anvil is not installed: run `npm ci` first")
        try:
            w3 = open_rpc(node.url).w3
            admin, gateway = Account.create(), Account.create()
            for account in (admin, gateway):
                fund_from_node(w3, account.address, 10**21)
            deployment = deploy(w3, admin)
            return measure("anvil", w3, deployment, admin, gateway, rounds=rounds, anchors=anchors)
        finally:
            node.stop()


def run_embedded(rounds: int, anchors: int) -> ChainResult:
    """The measurements on the embedded chain."""
    admin, gateway = Account.create(), Account.create()
    started = time.perf_counter()
    w3, deployment = start_embedded([admin, gateway])
    print(f"  embedded: started and deployed in {time.perf_counter() - started:.2f} s")
    return measure("embedded", w3, deployment, admin, gateway, rounds=rounds, anchors=anchors)


def report(results: list[ChainResult]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| chain | loans per batch | gas per anchor | gas per loan | seal + proofs | anchor "
        "| loans/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s.chain} | {s.size:,} | {s.gas:,} | {s.gas_per_loan:,.2f} "
        f"| {s.seal_s * 1000:,.1f} ms | {s.chain_s * 1000:,.1f} ms | {s.loans_per_s:,.0f} |"
        for chain in results
        for s in chain.sizes
    ]
    lines.append("")
    lines += [
        f"{chain.chain}: deployment {chain.deploy_gas:,} gas; a member's first anchor "
        f"{chain.first_anchor_gas:,} gas; {chain.anchors_per_s:,.1f} anchors/s "
        "(one-loan batches, back to back)"
        for chain in results
    ]
    return "\n".join(lines)


def main() -> None:
    """Run and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per batch size")
    parser.add_argument("--anchors", type=int, default=100, help="anchors in the rate run")
    parser.add_argument("--no-embedded", action="store_true", help="anvil only")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = [run_anvil(args.rounds, args.anchors)]
    if not args.no_embedded:
        results.append(run_embedded(args.rounds, max(10, args.anchors // 4)))
    print()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")


if __name__ == "__main__":
    main()
