"""The one way to reach the registry's chain: web3 built, checked, and handed to trio.

Everything that talks to the chain gets its ``Web3`` here (the ledger worker, the
``interlend ledger`` commands, the tests and the benchmarks):

* ``open_rpc``: a JSON-RPC node over HTTP.  One ``requests`` session serves every
  thread, so that ``close`` closes its sockets (web3 would otherwise keep a session per
  thread until the garbage collector found it); each request has a timeout; web3's own
  retries are off, because the callers back off themselves.
* ``start_embedded``: web3's in-process EVM (eth-tester on py-evm) with the registry
  deployed and the given accounts funded.  Nothing is written to disk: the chain lives
  as long as its ``Web3``.
* ``signing_account``: a configured private key as an account.  A key that is not one
  is refused without quoting it (the library's message may).
* ``connect_chain``: ``[gateway.ledger]`` made into a signing ``ChainLink``: with
  ``embedded``, an embedded chain started with this gateway's member admitted; with
  ``evm``, a node that answers, serves ``chain_id`` (when set) and holds the contract
  at ``contract``, and the member the key is the gateway of (which must be
  ``member_id`` when that is set).
* ``read_only_link``: the same checks without a key, for ``interlend ledger verify``.
* ``library_link``: the same checks with a library's own key (one that delegates to
  the gateway, or given by the library itself), which must be that library's member
  key on chain: for its answers in settlement rounds.
* ``ChainLink``: a connected ``RegistryClient`` and the member it anchors for, called
  from trio in worker threads.

Everything here but ``ChainLink.call`` blocks (web3 is synchronous): trio code runs it
in a worker thread.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import requests
import trio
from eth_account import Account
from web3 import Web3

from .chain import ChainError, Deployment, RegistryClient, deploy, fund_from_node

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from eth_account.signers.local import LocalAccount

    from config.models import LedgerSettings

    from .chain import Anchor

__all__ = [
    "RPC_TIMEOUT_S",
    "ChainLink",
    "RpcConnection",
    "connect_chain",
    "library_link",
    "open_rpc",
    "read_only_link",
    "signing_account",
    "start_embedded",
]

T = TypeVar("T")

RPC_TIMEOUT_S = 10.0
"""The longest one JSON-RPC request of the ledger may take (less when
``gateway.ledger.timeout_s`` is shorter)."""

EMBEDDED_POLL_S = 0.01
"""How often a client of the embedded chain looks for its receipts (it mines at once)."""


# ---- web3 -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RpcConnection:
    """A ``Web3`` on a JSON-RPC node and the HTTP session it sends through."""

    w3: Web3
    session: requests.Session

    def close(self) -> None:
        """Close the connections to the node (a request still running may fail)."""
        self.session.close()


def open_rpc(url: str, *, timeout_s: float = RPC_TIMEOUT_S) -> RpcConnection:
    """A ``Web3`` on the JSON-RPC node at ``url`` (see the module documentation).

    Args:
        url: The node's HTTP(S) URL.
        timeout_s: The longest one request may take (connecting and answering each).
    """
    session = requests.Session()
    provider = Web3.HTTPProvider(
        url,
        request_kwargs={"timeout": timeout_s},
        session=session,
        exception_retry_configuration=None,
    )
    return RpcConnection(Web3(provider), session)


def start_embedded(
    accounts: Sequence[LocalAccount],
    *,
    majority: tuple[int, int] = (1, 2),
    fund_wei: int = 1_000 * 10**18,
) -> tuple[Web3, Deployment]:
    """An in-process chain (eth-tester on py-evm) with the registry deployed.

    Each of ``accounts`` is funded; the first deploys and is the bootstrap admin.

    Raises:
        ValueError: ``accounts`` is empty.
    """
    if not accounts:
        raise ValueError("the embedded chain needs at least the deployer's account")
    # eth-tester and py-evm take a while to import: only when the chain is wanted.
    from web3.providers.eth_tester import EthereumTesterProvider

    w3 = Web3(EthereumTesterProvider())
    for account in accounts:
        fund_from_node(w3, account.address, fund_wei)
    return w3, deploy(w3, accounts[0], majority=majority)


def signing_account(key: str, *, what: str) -> LocalAccount:
    """The account of a private key given in hex (surrounding blanks ignored).

    Args:
        key: The private key.
        what: What the key is, for the error (``"gateway.ledger.key"``).

    Raises:
        ChainError: ``key`` is not a secp256k1 private key (the key is not quoted).
    """
    try:
        account: LocalAccount = Account.from_key(key.strip())
    except Exception:
        # The library's message may quote the value: say nothing of it.
        raise ChainError(f"{what} is not a valid secp256k1 private key") from None
    return account


# ---- links ------------------------------------------------------------------------------


@dataclass
class ChainLink:
    """A connected registry client and the member it anchors for.

    Calls go to a worker thread (``call``).  The embedded chain lives in this process
    and is not safe to use from two threads at once, so its calls take turns; a node
    over JSON-RPC takes a few at a time.
    """

    client: RegistryClient
    member_id: str
    backend: Literal["embedded", "evm"]
    rpc: RpcConnection | None = None
    """The connection to a JSON-RPC node (closed by ``close``)."""
    _limiter: trio.CapacityLimiter = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self._limiter = trio.CapacityLimiter(1 if self.backend == "embedded" else 4)

    def close(self) -> None:
        """Close the connections to the node (a call still running may fail)."""
        if self.rpc is not None:
            self.rpc.close()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a client method in a worker thread.

        A call cancelled by shutdown is abandoned (its thread finishes on its own):
        every write the ledger worker makes is safe to repeat at the next start.
        """
        async with self._limiter:
            return await trio.to_thread.run_sync(partial(fn, *args), abandon_on_cancel=True)

    async def find_anchor(
        self, member_id: str, batch_seq: int, block_hint: int | None = None
    ) -> Anchor | None:
        """A batch's anchor on chain (see ``RegistryClient.find_anchor``)."""
        return await self.call(
            partial(self.client.find_anchor, block_hint=block_hint), member_id, batch_seq
        )


def connect_chain(settings: LedgerSettings, key: str | None, default_member: str) -> ChainLink:
    """Connect to the configured chain, signing with ``key`` (blocking).

    ``embedded`` starts an in-process chain, deploys the registry from the gateway's
    key (a fresh one when none is configured) and admits ``member_id`` (default
    ``default_member``) with that key as its gateway, allowed to propose settlements.
    ``evm`` checks the node, the chain id and the contract, and that the key is a
    member's gateway.

    Raises:
        ChainUnavailable: The node cannot be reached.
        ChainRejected: The key is not a member's gateway (``NotAGateway``).
        ChainError: A key that is not one, wrong chain, no contract, the key is
            another member's than ``member_id``, or the settings name no node.
    """
    account = Account.create() if key is None else signing_account(key, what="gateway.ledger.key")
    if settings.backend == "embedded":
        member = settings.member_id or default_member
        w3, deployment = start_embedded([account])
        client = RegistryClient(
            w3,
            deployment.address,
            account,
            deploy_block=deployment.block_number,
            gas_ceiling=settings.gas_ceiling,
            timeout_s=settings.timeout_s,
            poll_s=EMBEDDED_POLL_S,
        )
        client.bootstrap_admit(member, account.address)
        # The gateway is the consortium's: it proposes the settlement rounds.
        client.bootstrap_set_proposer(member)
        return ChainLink(client, member, "embedded")
    if settings.backend != "evm" or settings.rpc_url is None or settings.contract is None:
        raise ChainError("gateway.ledger needs backend evm with rpc_url and contract")
    return _evm_link(settings, settings.rpc_url, settings.contract, account)


def read_only_link(settings: LedgerSettings) -> ChainLink:
    """A client without a key, for verification (``evm`` only; blocking).

    Its ``member_id`` is ``gateway.ledger.member_id`` (empty when unset).

    Raises:
        ChainUnavailable: The node cannot be reached.
        ChainError: Wrong chain, no contract, or the ledger is not ``evm``.
    """
    if settings.backend != "evm" or settings.rpc_url is None or settings.contract is None:
        raise ChainError("only an evm ledger can be read from outside the gateway")
    return _evm_link(settings, settings.rpc_url, settings.contract, None)


def library_link(settings: LedgerSettings, key: str, library: str) -> ChainLink:
    """A link signing with ``library``'s own key (``evm`` only; blocking).

    Raises:
        ChainUnavailable: The node cannot be reached.
        ChainRejected: The key is no member's (``NotAGateway``).
        ChainError: A key that is not one, wrong chain, no contract, the key is another
            member's than ``library``, or the ledger is not ``evm``.
    """
    if settings.backend != "evm" or settings.rpc_url is None or settings.contract is None:
        raise ChainError("a library's key acts only on an evm ledger (gateway.ledger.backend)")
    account = signing_account(key, what=f"the key of library {library}")
    return _evm_link(settings, settings.rpc_url, settings.contract, account, member=library)


def _evm_link(
    settings: LedgerSettings,
    url: str,
    contract: str,
    account: LocalAccount | None,
    *,
    member: str | None = None,
) -> ChainLink:
    """A checked link to the node at ``url`` (its connection closed if a check fails).

    ``member``: the member the key must be the key of (default: the configured one).
    """
    rpc = open_rpc(url, timeout_s=min(settings.timeout_s, RPC_TIMEOUT_S))
    try:
        client = RegistryClient(
            rpc.w3,
            contract,
            account,
            deploy_block=settings.deploy_block,
            gas_ceiling=settings.gas_ceiling,
            confirmations=settings.confirmations,
            timeout_s=settings.timeout_s,
            chain_id=settings.chain_id,
        )
        client.check()
        if account is None:
            member = settings.member_id or ""
        else:
            member = _own_member(client, member or settings.member_id, what=member is None)
    except BaseException:
        rpc.close()
        raise
    return ChainLink(client, member, "evm", rpc)


def _own_member(client: RegistryClient, expected: str | None, *, what: bool) -> str:
    """The member the client's key is the gateway of, which must be ``expected``.

    Raises:
        ChainRejected: The key is no member's gateway.
        ChainError: It is another member's than ``expected`` (``what``: the expected
            member is ``gateway.ledger.member_id``, else a library's key).
    """
    member = client.own_member()
    if expected is not None and expected != member:
        if what:
            raise ChainError(
                f"the ledger key is the gateway of {member!r} on chain, not of "
                f"gateway.ledger.member_id {expected!r}"
            )
        raise ChainError(f"the key given for {expected!r} is the key of member {member!r}")
    return member
