"""``interlend demo --chain URL``: the registry deployed on a development EVM node.

A development node (anvil, a Hardhat or Geth dev node) has rich unlocked accounts: the
demo funds fresh keys from them, deploys the registry from one (the bootstrap admin,
kept so more members can be admitted directly), and admits the demo's libraries,
each with a fresh key as its gateway.  Gateway *i* of the demo runs for library *i*
(alpha, beta, gamma) and signs its anchors with that library's key, so at most three
gateways can anchor.  Nothing here suits a production chain: there the members deploy
and vote with ``interlend ledger deploy|add-member``.

Everything here blocks (web3 is synchronous): call it in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FUND_WEI", "DemoChain", "DemoError", "deploy_demo_chain"]

FUND_WEI = 10 * 10**18
"""What each fresh key is given for gas (ten ether of a development chain)."""
RPC_TIMEOUT_S = 10.0


class DemoError(Exception):
    """The demo cannot start as asked; the message says why, in one line."""


@dataclass(frozen=True)
class DemoChain:
    """The registry the demo deployed, and the key each library's gateway signs with."""

    rpc_url: str
    contract: str
    chain_id: int
    deploy_block: int
    keys: dict[str, str] = field(repr=False)
    """Each library's gateway key (hex), by member id."""
    gateways: dict[str, str] = field(default_factory=dict)
    """Each library's gateway address."""

    def manifest(self) -> dict[str, Any]:
        """The manifest's ``chain`` entry (addresses, never keys)."""
        return {
            "rpc_url": self.rpc_url,
            "contract": self.contract,
            "chain_id": self.chain_id,
            "deploy_block": self.deploy_block,
            "members": [
                {"member": member, "gateway": address} for member, address in self.gateways.items()
            ],
        }


def deploy_demo_chain(url: str, members: tuple[str, ...]) -> DemoChain:
    """Deploy the registry on the node at ``url`` and admit ``members`` (blocking).

    Raises:
        DemoError: The node cannot be reached, has no unlocked account to fund from,
            or refused a transaction.
    """
    # web3 takes a second to import: only when a chain is asked for.
    from eth_account import Account

    from adapters.ledger.chain import ChainError, RegistryClient, deploy, fund_from_node
    from adapters.ledger.connect import open_rpc

    rpc = open_rpc(url, timeout_s=RPC_TIMEOUT_S)
    try:
        w3 = rpc.w3
        try:
            if not w3.eth.accounts:
                raise DemoError(
                    f"the chain at {url} has no unlocked account to fund the demo from: "
                    "use a development node (anvil)"
                )
            deployer = Account.create()
            fund_from_node(w3, deployer.address, FUND_WEI)
            deployment = deploy(w3, deployer)
            admin = RegistryClient(
                w3, deployment.address, deployer, deploy_block=deployment.block_number
            )
            keys: dict[str, str] = {}
            gateways: dict[str, str] = {}
            for member in members:
                account = Account.create()
                fund_from_node(w3, account.address, FUND_WEI)
                admin.bootstrap_admit(member, account.address)
                keys[member] = account.key.hex()
                gateways[member] = account.address
            chain_id = int(w3.eth.chain_id)
        except ChainError as exc:
            raise DemoError(f"the chain at {url}: {exc}") from None
        except (OSError, ValueError) as exc:
            # requests' connection errors are OSErrors; a node answering nonsense, ValueError.
            reason = exc.__class__.__name__ if "Max retries" in str(exc) else str(exc)
            raise DemoError(f"the chain at {url} cannot be reached ({reason})") from None
    finally:
        rpc.close()
    return DemoChain(url, deployment.address, chain_id, deployment.block_number, keys, gateways)
