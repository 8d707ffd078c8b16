"""A small synchronous client for the ``InterlendRegistry`` contract (web3, local keys).

web3's async API runs only on asyncio, so this client is synchronous and trio callers
run each call in a worker thread::

    anchor = await trio.to_thread.run_sync(client.anchor, seq, batch.root, prev_root)

One ``RegistryClient`` per signing key, used by one writer task: transactions are
serialized by a lock, and the client keeps the account's nonce (re-read from the node
after any failure, so a transaction lost with a restarted node is simply sent again).
Keys never leave the process: transactions are signed locally (eth-account, with
coincurve doing the curve arithmetic when it is installed).

``anchor`` is idempotent by batch sequence.  Before sending, it reads the member's head
on chain; a batch already anchored with the same root (a retry after the node died
between sending and answering) is found through its ``Anchored`` event and returned
with ``already=True``, never sent twice.  The contract refuses a wrong sequence or
``prevRoot`` anyway, so a duplicate can cost gas at worst, never a second anchor.

The client takes a ``Web3`` built by ``adapters/ledger/connect.py`` (a JSON-RPC node,
anvil in the tests, or the embedded chain: web3's in-process EVM), which also checks a
configured chain before the ledger uses it.

Errors, all under ``ChainError``::

    ChainError                  the node refused a request, or the chain is not as expected
    ├── ChainUnavailable        the node cannot be reached or did not answer in time: the
    │                           batch stays queued, retry later with back-off
    ├── ChainRejected           the contract refused (``error`` names its custom error:
    │   │                       NotAGateway, BadSequence, BadPrevRoot, …)
    │   └── AnchorConflict      another root is already anchored under this sequence
    ├── SettlementUnsupported   the registry predates settlement rounds (version 1)
    ├── GasCeilingExceeded      the estimate (or the base fee) is above the ceiling
    └── ConfirmationTimeout     the transaction did not reach its confirmations in time
"""

from __future__ import annotations

import ast
import contextlib
import enum
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Self, cast

from eth_abi.abi import decode as abi_decode
from eth_account import Account
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.logs import DISCARD
from web3.types import Nonce, Wei

from .contract import V1_GOVERNANCE_ABI, load_artifact

if TYPE_CHECKING:
    from collections.abc import Iterator

    from eth_account.signers.local import LocalAccount
    from web3.contract import Contract
    from web3.contract.contract import ContractFunction
    from web3.types import TxParams, TxReceipt

    from .merkle import InclusionProof

__all__ = [
    "DISPUTE_WINDOW_S",
    "ZERO_ROOT",
    "Action",
    "Anchor",
    "AnchorConflict",
    "ChainError",
    "ChainRejected",
    "ChainUnavailable",
    "ConfirmationTimeout",
    "Deployment",
    "GasCeilingExceeded",
    "MemberInfo",
    "ProposalInfo",
    "RegistryClient",
    "SettlementUnsupported",
    "deploy",
    "fund_from_node",
    "member_id_bytes",
    "member_id_text",
]

ZERO_ROOT = b"\x00" * 32
GWEI = 10**9


# ---- errors ---------------------------------------------------------------------------


class ChainError(Exception):
    """The chain refused a request or is not what the client expects."""


class ChainUnavailable(ChainError):
    """The node cannot be reached or did not answer in time; retry later."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"the chain node at {endpoint} is unavailable: {reason}")
        self.endpoint = endpoint
        self.reason = reason


class ChainRejected(ChainError):
    """The contract refused the call; ``error`` is its custom error's name."""

    def __init__(self, error: str, args: dict[str, object], message: str) -> None:
        super().__init__(message)
        self.error = error
        self.error_args = args


class AnchorConflict(ChainRejected):
    """A different root is already anchored under the batch's sequence."""


class SettlementUnsupported(ChainError):
    """The registry was deployed before settlement rounds existed (version 1)."""

    def __init__(self, address: str) -> None:
        super().__init__(
            f"the registry at {address} predates settlement rounds and per-library "
            "governance: deploy the current one (interlend ledger deploy) to use them; "
            "anchoring and verification keep working on it"
        )
        self.address = address


class GasCeilingExceeded(ChainError):
    """The transaction would cost more gas (or a higher fee) than allowed."""


class ConfirmationTimeout(ChainError):
    """The transaction was not mined, or not confirmed deep enough, in time."""

    def __init__(self, tx_hash: bytes, message: str) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


# ---- values ---------------------------------------------------------------------------


class Action(enum.IntEnum):
    """What a governance proposal does (the contract's ``Action``)."""

    ADMIT = 0
    REMOVE = 1
    REKEY = 2
    SET_PROPOSER = 3
    """Allow (value 1) or forbid (value 0) a member to propose settlement rounds."""
    SET_WINDOW = 4
    """Set the settlement rounds' dispute window (value: seconds)."""


def member_id_bytes(member_id: str) -> bytes:
    """A member's code as the contract's ``bytes32`` (UTF-8, zero-padded).

    Raises:
        ValueError: The code is empty, longer than 32 bytes, or contains NUL.
    """
    data = member_id.encode()
    if not data or len(data) > 32 or b"\x00" in data:
        raise ValueError(f"a member code is 1 to 32 bytes of UTF-8 without NUL: {member_id!r}")
    return data.ljust(32, b"\x00")


def member_id_text(data: bytes) -> str:
    """The inverse of ``member_id_bytes``."""
    return data.rstrip(b"\x00").decode(errors="replace")


@dataclass(frozen=True)
class MemberInfo:
    """A member's entry on chain."""

    member_id: str
    gateway: str | None
    """Its gateway's address; ``None`` when not (or no longer) a member."""
    batch_seq: int
    last_root: bytes
    anchored_at: int
    """The block of its last anchor (0 before the first)."""


@dataclass(frozen=True)
class ProposalInfo:
    """A governance proposal on chain."""

    proposal_id: int
    action: Action
    member_id: str
    gateway: str | None
    yes: int
    executed: bool
    epoch: int
    value: int = 0
    """``SET_PROPOSER``: 1 allow, 0 forbid; ``SET_WINDOW``: seconds; else 0."""


@dataclass(frozen=True)
class Anchor:
    """One batch's anchor, as found in its ``Anchored`` event."""

    member_id: str
    batch_seq: int
    merkle_root: bytes
    prev_root: bytes
    gateway: str
    tx_hash: bytes
    block_number: int
    block_hash: bytes
    log_index: int
    gas_used: int | None = None
    """Gas the anchoring transaction used (known when this client sent it)."""
    already: bool = False
    """The batch was found already anchored; nothing was sent."""


@dataclass(frozen=True)
class Deployment:
    """Where the contract was deployed."""

    address: str
    block_number: int
    tx_hash: bytes
    gas_used: int


# ---- deployment -----------------------------------------------------------------------


def _endpoint(w3: Web3) -> str:
    """The node's URL, for errors (``embedded`` for the in-process chain)."""
    provider = w3.provider
    if isinstance(provider, HTTPProvider) and provider.endpoint_uri:
        return str(provider.endpoint_uri)
    return "embedded"


def fund_from_node(w3: Web3, address: str, wei: int) -> None:
    """Send ``wei`` to ``address`` from the node's first unlocked account.

    For development chains only (anvil, the embedded chain), whose accounts are
    unlocked and rich.
    """
    with _mapped(w3):
        tx_hash = w3.eth.send_transaction(
            {"from": w3.eth.accounts[0], "to": Web3.to_checksum_address(address), "value": Wei(wei)}
        )
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)


DISPUTE_WINDOW_S = 14 * 86_400
"""The settlement rounds' dispute window when a deployment names none: two weeks."""


def deploy(
    w3: Web3,
    account: LocalAccount,
    *,
    majority: tuple[int, int] = (1, 2),
    dispute_window_s: int = DISPUTE_WINDOW_S,
    gas_ceiling: int = 3_000_000,
    timeout_s: float = 60.0,
) -> Deployment:
    """Deploy the registry from ``account`` (which becomes the bootstrap admin).

    Args:
        w3: The chain.
        account: The deployer's key.
        majority: A proposal passes when its yes votes exceed ``num/den`` of the
            members; ``num/den`` is at least 1/2 and below 1.
        dispute_window_s: How long a settlement round stays open for answers
            (1 s to 365 days; changed later by the members' vote).
        gas_ceiling: The most gas the deployment may use.
        timeout_s: How long to wait for the transaction to be mined.
    """
    artifact = load_artifact()
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    sender = _Sender(w3, account, gas_ceiling=gas_ceiling, timeout_s=timeout_s)
    receipt = sender.transact(
        factory.constructor(*majority, dispute_window_s), errors=_error_table(artifact.abi)
    )
    address = receipt["contractAddress"]
    assert address is not None
    return Deployment(
        str(address), receipt["blockNumber"], bytes(receipt["transactionHash"]), receipt["gasUsed"]
    )


# ---- error mapping --------------------------------------------------------------------


_ErrorTable = dict[bytes, tuple[str, list[str], list[str]]]


def _error_table(abi: list[dict[str, Any]]) -> _ErrorTable:
    table: _ErrorTable = {}
    for entry in abi:
        if entry.get("type") == "error":
            types = [i["type"] for i in entry["inputs"]]
            names = [i["name"] for i in entry["inputs"]]
            signature = f"{entry['name']}({','.join(types)})"
            table[bytes(Web3.keccak(text=signature))[:4]] = (entry["name"], types, names)
    return table


def _show(value: object, solidity_type: str) -> object:
    if solidity_type == "bytes32" and isinstance(value, bytes):
        text = value.rstrip(b"\x00")
        printable = text and all(32 <= c < 127 for c in text) and len(text) < 32
        return member_id_text(value) if printable else "0x" + value.hex()
    return value


def _rejected(data: bytes, errors: _ErrorTable) -> ChainRejected:
    known = errors.get(data[:4])
    if known is None:
        return ChainRejected("revert", {}, f"the contract reverted (data 0x{data.hex()})")
    name, types, names = known
    values = abi_decode(types, data[4:])
    args = {n: _show(v, t) for n, v, t in zip(names, values, types, strict=True)}
    detail = ", ".join(f"{k}={v}" for k, v in args.items())
    return ChainRejected(name, args, f"the contract refused: {name}({detail})")


def _reverted_data(exc: Exception) -> bytes | None:
    """The revert data carried by a web3 or eth-tester exception, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    # eth-tester (the embedded chain) reports "execution reverted: b'…'".
    text = str(exc.args[0]) if exc.args else ""
    prefix = "execution reverted: "
    if text.startswith((prefix + "b'", prefix + 'b"')):
        with contextlib.suppress(ValueError, SyntaxError):
            value = ast.literal_eval(text[len(prefix) :])
            if isinstance(value, bytes):
                return value
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "no answer in time"
    if "reset" in lowered or "aborted" in lowered or "remotedisconnected" in lowered:
        return "connection lost"
    return f"{type(exc).__name__}: {text[:200]}"


@contextlib.contextmanager
def _mapped(w3: Web3, errors: _ErrorTable | None = None) -> Iterator[None]:
    """Translate web3, eth-tester and transport errors into ``ChainError``s."""
    try:
        yield
    except ChainError:
        raise
    except (ContractCustomError, ContractLogicError) as exc:
        data = _reverted_data(exc)
        if data is not None and errors is not None:
            raise _rejected(data, errors) from exc
        raise ChainRejected("revert", {}, f"the contract refused: {exc}") from exc
    except (ProviderConnectionError, OSError) as exc:
        # requests' ConnectionError and Timeout are OSErrors.
        raise ChainUnavailable(_endpoint(w3), _reason(exc)) from exc
    except Web3RPCError as exc:
        raise ChainError(f"the node refused the request: {exc.message}") from exc
    except Exception as exc:
        if type(exc).__name__ == "TransactionFailed":  # eth-tester's revert
            data = _reverted_data(exc)
            if data is not None and errors is not None:
                raise _rejected(data, errors) from exc
            raise ChainRejected("revert", {}, f"the contract refused: {exc}") from exc
        raise


# ---- sending --------------------------------------------------------------------------


class _Sender:
    """Signs and sends one account's transactions in order, owning its nonce."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        gas_ceiling: int,
        timeout_s: float,
        confirmations: int = 1,
        poll_s: float = 0.05,
        priority_fee_wei: int = GWEI,
        max_fee_per_gas: int | None = None,
        chain_id: int | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.gas_ceiling = gas_ceiling
        self.timeout_s = timeout_s
        self.confirmations = confirmations
        self.poll_s = poll_s
        self.priority_fee_wei = priority_fee_wei
        self.max_fee_per_gas = max_fee_per_gas
        self.chain_id = chain_id
        self._nonce: int | None = None
        self._lock = threading.Lock()

    def transact(self, call: ContractFunction | Any, *, errors: _ErrorTable) -> TxReceipt:
        """Send ``call`` and wait for it; raises ``ChainRejected`` if it reverted."""
        receipt = self.wait(self.send(call, errors=errors))
        if receipt["status"] != 1:
            self.explain(call, receipt, errors=errors)
        return receipt

    def explain(
        self, call: ContractFunction | Any, receipt: TxReceipt, *, errors: _ErrorTable
    ) -> None:
        """Raise ``ChainRejected`` for a transaction that reverted when mined.

        The estimate passed but the state changed before the block: replaying the call
        on that block's state tells why.
        """
        with _mapped(self.w3, errors):
            call.call({"from": self.account.address}, block_identifier=receipt["blockNumber"])
        tx_hash = bytes(receipt["transactionHash"])
        raise ChainRejected("revert", {}, f"transaction 0x{tx_hash.hex()} reverted")

    def resync(self) -> None:
        """Re-read the nonce from the node before the next transaction."""
        with self._lock:
            self._nonce = None

    def send(self, call: ContractFunction | Any, *, errors: _ErrorTable) -> bytes:
        """Estimate, sign and send ``call``; the transaction's hash.

        A nonce the node has already seen (another process used this key, or the
        client's count went stale) is re-read once and the transaction sent again.
        """
        with self._lock:
            try:
                return self._send(call, errors)
            except ChainError as exc:
                # Nodes word it variously ("nonce too low", "invalid nonce", …).
                if "nonce" not in str(exc).lower():
                    raise
            return self._send(call, errors)

    def _send(self, call: ContractFunction | Any, errors: _ErrorTable) -> bytes:
        address = self.account.address
        try:
            with _mapped(self.w3, errors):
                if self.chain_id is None:
                    self.chain_id = self.w3.eth.chain_id
                estimate = int(call.estimate_gas({"from": address}))
                if estimate > self.gas_ceiling:
                    raise GasCeilingExceeded(
                        f"the transaction needs {estimate} gas, above the ceiling of "
                        f"{self.gas_ceiling}"
                    )
                base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
                tip = self.priority_fee_wei
                max_fee = 2 * base_fee + tip
                if self.max_fee_per_gas is not None:
                    if base_fee + tip > self.max_fee_per_gas:
                        raise GasCeilingExceeded(
                            f"the base fee ({base_fee} wei) is above the ceiling of "
                            f"{self.max_fee_per_gas} wei per gas"
                        )
                    max_fee = min(max_fee, self.max_fee_per_gas)
                if self._nonce is None:
                    self._nonce = self.w3.eth.get_transaction_count(address, "pending")
                params: TxParams = {
                    "from": address,
                    "nonce": Nonce(self._nonce),
                    "chainId": self.chain_id,
                    # Headroom over the estimate, never above the ceiling.
                    "gas": min(self.gas_ceiling, estimate * 6 // 5 + 10_000),
                    "maxFeePerGas": Wei(max_fee),
                    "maxPriorityFeePerGas": Wei(tip),
                }
                tx = call.build_transaction(params)
                signed = self.account.sign_transaction(cast("dict[str, Any]", tx))
                tx_hash = bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        except BaseException:
            self._nonce = None  # re-read from the node next time
            raise
        self._nonce += 1
        return tx_hash

    def wait(self, tx_hash: bytes) -> TxReceipt:
        """Wait until ``tx_hash`` is mined and ``confirmations`` deep; its receipt.

        Raises:
            ConfirmationTimeout: Not mined or not confirmed within ``timeout_s``.
            ChainUnavailable: The node went away meanwhile.
        """
        deadline = time.monotonic() + self.timeout_s
        with _mapped(self.w3):
            while True:
                try:
                    receipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
                except (TransactionNotFound, TimeExhausted):
                    receipt = None
                if receipt is not None and receipt.get("blockNumber") is not None:
                    depth = self.w3.eth.block_number - receipt["blockNumber"] + 1
                    if depth >= self.confirmations:
                        return receipt
                if time.monotonic() >= deadline:
                    state = "not mined" if receipt is None else "not confirmed deep enough"
                    raise ConfirmationTimeout(
                        tx_hash,
                        f"transaction 0x{tx_hash.hex()} {state} after {self.timeout_s:g} s",
                    )
                time.sleep(self.poll_s)


# ---- the client -----------------------------------------------------------------------


class RegistryClient:
    """The registry contract at ``address``, acting as ``account`` (a gateway's key).

    Args:
        w3: The chain (``open_rpc`` or ``start_embedded`` in ``connect.py``).
        address: The contract's address.
        account: The signing key; ``None`` for a read-only client (verification).
        deploy_block: The contract's deployment block (where event searches start).
        gas_ceiling: The most gas one transaction may use.
        max_fee_per_gas: The most wei per gas to pay (``None``: no limit).
        priority_fee_wei: The tip per gas.
        confirmations: How deep a transaction must be before it counts (1: mined).
        timeout_s: How long to wait for a transaction to be mined and confirmed.
        poll_s: How often to poll the node while waiting.
        chain_id: The expected chain id (checked by ``check``; ``None``: any).
        log_range: The most blocks one ``eth_getLogs`` request covers.
    """

    def __init__(
        self,
        w3: Web3,
        address: str,
        account: LocalAccount | None = None,
        *,
        deploy_block: int = 0,
        gas_ceiling: int = 200_000,
        max_fee_per_gas: int | None = None,
        priority_fee_wei: int = GWEI,
        confirmations: int = 1,
        timeout_s: float = 60.0,
        poll_s: float = 0.05,
        chain_id: int | None = None,
        log_range: int = 50_000,
    ) -> None:
        artifact = load_artifact()
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact.abi)
        self.account = account
        self.deploy_block = deploy_block
        self.expected_chain_id = chain_id
        self.log_range = log_range
        self._errors = _error_table(artifact.abi)
        self._v1: Contract | None = None
        """The first registry's governance calls, once the contract is found to be one."""
        self._version: int | None = None
        self._inflight: dict[int, bytes] = {}
        """The anchor transaction sent for a batch and not yet seen mined."""
        self._sender = (
            None
            if account is None
            else _Sender(
                w3,
                account,
                gas_ceiling=gas_ceiling,
                timeout_s=timeout_s,
                confirmations=confirmations,
                poll_s=poll_s,
                priority_fee_wei=priority_fee_wei,
                max_fee_per_gas=max_fee_per_gas,
                chain_id=chain_id,
            )
        )

    @classmethod
    def from_key(cls, w3: Web3, address: str, private_key: str | bytes, **options: Any) -> Self:
        """A client signing with ``private_key`` (hex or bytes); options as ``__init__``."""
        return cls(w3, address, Account.from_key(private_key), **options)

    # ---- reads --------------------------------------------------------------------

    def check(self) -> None:
        """Raise unless the node answers, is the expected chain, and holds the contract.

        Raises:
            ChainUnavailable: The node does not answer.
            ChainError: Wrong chain id, or no contract at the address.
        """
        with _mapped(self.w3):
            chain_id = self.w3.eth.chain_id
            code = self.w3.eth.get_code(self.address)
        if self.expected_chain_id is not None and chain_id != self.expected_chain_id:
            raise ChainError(f"the node serves chain {chain_id}, not {self.expected_chain_id}")
        if not code:
            raise ChainError(f"no contract at {self.address} on chain {chain_id}")

    def version(self) -> int:
        """1 for a registry deployed before settlement rounds existed, else 2.

        Told from the deployed code (cached): the dispatcher of a registry with rounds
        carries the selector of ``disputeWindow()``.  A first registry keeps working:
        anchors and member reads are unchanged; its governance calls go through the
        first ABI; settlement rounds are refused with ``SettlementUnsupported``.
        """
        if self._version is None:
            with _mapped(self.w3):
                code = bytes(self.w3.eth.get_code(self.address))
            selector = bytes(Web3.keccak(text="disputeWindow()"))[:4]
            self._version = 2 if b"\x63" + selector in code else 1
            if self._version == 1:
                self._v1 = self.w3.eth.contract(address=self.address, abi=V1_GOVERNANCE_ABI)
        return self._version

    def read(self, name: str, *args: object) -> Any:
        """Call the contract's view ``name`` (errors mapped as for every call)."""
        with _mapped(self.w3, self._errors):
            return getattr(self.contract.functions, name)(*args).call()

    _call = read

    def member(self, member_id: str) -> MemberInfo:
        """A member's entry (gateway ``None`` if it is not a member)."""
        gateway, seq, root, block = self._call("member", member_id_bytes(member_id))
        return MemberInfo(member_id, _address_or_none(gateway), int(seq), bytes(root), int(block))

    def members(self) -> list[MemberInfo]:
        """Every member ever admitted (current ones have a gateway), in admission order."""
        ids = self._call("memberIds")
        return [self.member(member_id_text(bytes(raw))) for raw in ids]

    def member_of(self, gateway: str) -> str | None:
        """The member whose gateway is ``gateway``, if any."""
        raw = bytes(self._call("memberOfGateway", Web3.to_checksum_address(gateway)))
        return None if raw == ZERO_ROOT else member_id_text(raw)

    def own_member(self) -> str:
        """The member this client's key is the gateway of.

        Raises:
            ChainRejected: The key is not a member's gateway (``NotAGateway``).
        """
        account = self._account()
        member = self.member_of(account.address)
        if member is None:
            raise ChainRejected(
                "NotAGateway",
                {"caller": account.address},
                f"{account.address} is not the gateway of any member",
            )
        return member

    def majority(self) -> tuple[int, int]:
        """The fraction of members a proposal's yes votes must exceed."""
        return int(self._call("majorityNum")), int(self._call("majorityDen"))

    def member_count(self) -> int:
        """How many members there are now."""
        return int(self._call("memberCount"))

    def bootstrap_admin(self) -> str | None:
        """The bootstrap admin, ``None`` once it has ended the bootstrap."""
        return _address_or_none(self._call("bootstrapAdmin"))

    def proposal(self, proposal_id: int) -> ProposalInfo:
        """One governance proposal."""
        if self.version() == 1:
            assert self._v1 is not None
            with _mapped(self.w3, self._errors):
                fields: tuple[Any, ...] = tuple(self._v1.functions.proposal(proposal_id).call())
            action, executed, epoch, yes, gateway, member = fields
            value = 0
        else:
            action, executed, epoch, yes, gateway, member, value = self._call(
                "proposal", proposal_id
            )
        return ProposalInfo(
            proposal_id,
            Action(action),
            member_id_text(bytes(member)),
            _address_or_none(gateway),
            int(yes),
            bool(executed),
            int(epoch),
            int(value),
        )

    def require_settlement(self) -> None:
        """Raise ``SettlementUnsupported`` on a registry without settlement rounds."""
        if self.version() == 1:
            raise SettlementUnsupported(self.address)

    def dispute_window(self) -> int:
        """How long, in seconds, a settlement round stays open for answers."""
        self.require_settlement()
        return int(self._call("disputeWindow"))

    def is_proposer(self, member_id: str) -> bool:
        """Whether ``member_id`` may propose settlement rounds."""
        self.require_settlement()
        return bool(self._call("isProposer", member_id_bytes(member_id)))

    def proposal_count(self) -> int:
        """How many proposals were ever made."""
        return int(self._call("proposalCount"))

    def verify_inclusion(self, leaf: bytes, proof: InclusionProof, root: bytes) -> bool:
        """Check an inclusion proof with the contract's own code (a call, no gas)."""
        return bool(
            self._call("verifyInclusion", leaf, proof.index, proof.size, list(proof.path), root)
        )

    def events(self, name: str, argument_filters: dict[str, object]) -> list[Any]:
        """Every ``name`` event since the deployment matching ``argument_filters``,
        fetched in spans of ``log_range`` blocks (errors mapped as for every call)."""
        found: list[Any] = []
        with _mapped(self.w3, self._errors):
            latest = self.w3.eth.block_number
            start = self.deploy_block
            while start <= latest:
                end = min(latest, start + self.log_range - 1)
                found += getattr(self.contract.events, name)().get_logs(
                    from_block=start, to_block=end, argument_filters=argument_filters
                )
                start = end + 1
        return found

    def find_anchor(
        self, member_id: str, batch_seq: int, *, block_hint: int | None = None
    ) -> Anchor | None:
        """The anchor of ``member_id``'s batch ``batch_seq``, or ``None`` if not anchored.

        Args:
            member_id: Whose hash chain.
            batch_seq: The batch's sequence.
            block_hint: A block to look in first (a receipt's ``block_number``).
        """
        info = self.member(member_id)
        if not 1 <= batch_seq <= info.batch_seq:
            return None
        filters = {"memberId": member_id_bytes(member_id), "batchSeq": batch_seq}
        ranges: list[tuple[int, int]] = []
        if block_hint is not None:
            ranges.append((block_hint, block_hint))
        if batch_seq == info.batch_seq and info.anchored_at:
            ranges.append((info.anchored_at, info.anchored_at))
        with _mapped(self.w3):
            latest = self.w3.eth.block_number
        start = self.deploy_block
        while start <= latest:
            end = min(latest, start + self.log_range - 1)
            ranges.append((start, end))
            start = end + 1
        for first, last in ranges:
            with _mapped(self.w3):
                logs = self.contract.events.Anchored().get_logs(
                    from_block=first, to_block=last, argument_filters=filters
                )
            for log in logs:
                return _anchor_from_log(log)
        return None

    # ---- writes -------------------------------------------------------------------

    def _account(self) -> LocalAccount:
        if self.account is None:
            raise ChainError("this client has no signing key (read-only)")
        return self.account

    def _writer(self) -> _Sender:
        if self._sender is None:
            raise ChainError("this client has no signing key (read-only)")
        return self._sender

    def transact(self, call: ContractFunction) -> TxReceipt:
        """Send a call of this contract with the client's key and wait for it.

        Raises:
            ChainRejected: The contract refused (its custom error named).
        """
        return self._writer().transact(call, errors=self._errors)

    _transact = transact

    def bootstrap_admit(self, member_id: str, gateway: str) -> None:
        """Admit a member directly (the bootstrap admin's key, before ``end_bootstrap``)."""
        f = self.contract.functions.bootstrapAdmit
        self._transact(f(member_id_bytes(member_id), Web3.to_checksum_address(gateway)))

    def bootstrap_set_proposer(self, member_id: str, allowed: bool = True) -> None:
        """Allow a member to propose settlement rounds directly (the bootstrap admin)."""
        f = self.contract.functions.bootstrapSetProposer
        self._transact(f(member_id_bytes(member_id), allowed))

    def end_bootstrap(self) -> None:
        """Give up the bootstrap admin's powers (the bootstrap admin's key)."""
        self._transact(self.contract.functions.endBootstrap())

    def propose(
        self, action: Action, member_id: str | None, gateway: str | None = None, value: int = 0
    ) -> ProposalInfo:
        """Propose an action (this key's member votes yes at once); the proposal after.

        Args:
            action: Admit, remove or re-key a member, allow or forbid a proposer, set
                the dispute window.
            member_id: The member concerned (``None`` for ``SET_WINDOW``).
            gateway: The new member's gateway (admit) or the member's new key (re-key).
            value: ``SET_PROPOSER``: 1 allow, 0 forbid; ``SET_WINDOW``: seconds.
        """
        target = Web3.to_checksum_address(gateway) if gateway else "0x" + "00" * 20
        member = ZERO_ROOT if member_id is None else member_id_bytes(member_id)
        if self.version() == 1:
            if action > Action.REKEY:
                raise SettlementUnsupported(self.address)
            assert self._v1 is not None
            receipt = self._transact(self._v1.functions.propose(int(action), member, target))
        else:
            receipt = self._transact(
                self.contract.functions.propose(int(action), member, target, value)
            )
        events = self.contract.events.Proposed().process_receipt(receipt, errors=DISCARD)
        return self.proposal(int(events[0]["args"]["proposalId"]))

    def vote(self, proposal_id: int) -> ProposalInfo:
        """Vote yes for this key's member; the proposal after (``executed`` once passed)."""
        self._transact(self.contract.functions.vote(proposal_id))
        return self.proposal(proposal_id)

    def anchor(self, batch_seq: int, merkle_root: bytes, prev_root: bytes) -> Anchor:
        """Anchor this member's batch ``batch_seq``; idempotent by sequence.

        Args:
            batch_seq: The batch's sequence on this member's chain (1, 2, …).
            merkle_root: The batch's Merkle root.
            prev_root: The previous batch's root (``ZERO_ROOT`` for batch 1).

        Returns:
            The anchor, with ``already=True`` when the batch was anchored before.

        Raises:
            AnchorConflict: A different root is anchored under ``batch_seq``.
            ChainRejected: The contract refused (``BadSequence``, ``BadPrevRoot``,
                ``NotAGateway``, …).
            GasCeilingExceeded: The anchor would cost more than the ceiling.
            ChainUnavailable: The node cannot be reached; retry later.
            ConfirmationTimeout: Sent but not confirmed in time; retrying is safe.
        """
        sender = self._writer()
        member_id = self.own_member()
        existing = self._anchored(member_id, batch_seq, merkle_root)
        if existing is not None:
            self._inflight.pop(batch_seq, None)
            return existing
        call = self.contract.functions.anchor(batch_seq, merkle_root, prev_root)
        tx_hash = self._inflight.get(batch_seq)
        if tx_hash is None or not self._known(tx_hash):
            if tx_hash is not None:
                # The node lost it (restarted): its nonce is free again.
                sender.resync()
            tx_hash = sender.send(call, errors=self._errors)
            self._inflight = {batch_seq: tx_hash}
        receipt = sender.wait(tx_hash)  # an earlier attempt's transaction is waited for
        del self._inflight[batch_seq]
        if receipt["status"] != 1:
            # Anchored by an earlier attempt's transaction meanwhile: not an error.
            existing = self._anchored(member_id, batch_seq, merkle_root)
            if existing is not None:
                return existing
            sender.explain(call, receipt, errors=self._errors)
        events = self.contract.events.Anchored().process_receipt(receipt, errors=DISCARD)
        return replace(_anchor_from_log(events[0]), gas_used=int(receipt["gasUsed"]))

    def _known(self, tx_hash: bytes) -> bool:
        """Whether the node knows the transaction (pending or mined)."""
        with _mapped(self.w3):
            try:
                self.w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                return False
        return True

    def _anchored(self, member_id: str, batch_seq: int, merkle_root: bytes) -> Anchor | None:
        """The batch's anchor if it is on chain already (with ``already=True``)."""
        if self.member(member_id).batch_seq < batch_seq:
            return None
        found = self.find_anchor(member_id, batch_seq)
        if found is None:
            raise ChainError(
                f"{member_id}'s batch {batch_seq} is anchored but its event cannot be found"
            )
        if found.merkle_root != merkle_root:
            raise AnchorConflict(
                "AnchorConflict",
                {"memberId": member_id, "batchSeq": batch_seq},
                f"{member_id}'s batch {batch_seq} is anchored with another root "
                f"(0x{found.merkle_root.hex()})",
            )
        if self._sender is not None:
            self._sender.wait(found.tx_hash)  # as deep as a fresh anchor must be
        return replace(found, already=True)

    def wait_confirmed(self, tx_hash: bytes) -> None:
        """Wait until ``tx_hash`` is as deep as this client's ``confirmations``."""
        self._writer().wait(tx_hash)


def _address_or_none(value: object) -> str | None:
    text = str(value)
    return None if int(text, 16) == 0 else Web3.to_checksum_address(text)


def _anchor_from_log(log: Any) -> Anchor:
    args = log["args"]
    return Anchor(
        member_id=member_id_text(bytes(args["memberId"])),
        batch_seq=int(args["batchSeq"]),
        merkle_root=bytes(args["merkleRoot"]),
        prev_root=bytes(args["prevRoot"]),
        gateway=Web3.to_checksum_address(args["gateway"]),
        tx_hash=bytes(log["transactionHash"]),
        block_number=int(log["blockNumber"]),
        block_hash=bytes(log["blockHash"]),
        log_index=int(log["logIndex"]),
    )
