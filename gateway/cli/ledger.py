"""``interlend ledger …``: deploy the registry, admit a member by vote, verify a loan,
and settlement rounds (``settle``, in ``settle.py``).

Each command talks to the chain through the same synchronous ``RegistryClient`` the
ledger worker uses, connected and checked the same way (``adapters/ledger/connect.py``);
keys come from the environment or a file and are never printed.
Exit status: 0 done (``verify``: the loan verifies), 1 with a one-line reason on
standard error (``verify``: the reason it does not), 2 for a malformed argument.

web3 takes about a second to import, so it is imported only when an action runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.cli import settle
from gateway.cli.loading import fail, load_with_secrets

if TYPE_CHECKING:
    import argparse

    from eth_account.signers.local import LocalAccount
    from web3 import Web3

    from adapters.ledger.chain import Action, ProposalInfo
    from adapters.ledger.connect import ChainLink
    from config.errors import KeyPath
    from gateway.ledger.proof import LoanProof

__all__ = ["add_parsers", "run"]

DEPLOY_RPC_TIMEOUT_S = 30.0
"""The longest one JSON-RPC request of ``ledger deploy`` may take."""


def add_parsers(commands: Any) -> None:
    """Add ``ledger`` and its actions to the top-level subparsers."""
    ledger = commands.add_parser(
        "ledger",
        help="the blockchain ledger: deploy the registry, admit members, verify loans",
        description=(
            "Manage the consortium's InterlendRegistry contract on an EVM chain and check "
            "loans against it."
        ),
    )
    ledger.set_defaults(run=run)
    actions = ledger.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    deploy = actions.add_parser(
        "deploy",
        help="deploy the registry and admit the first members",
        description=(
            "Deploy InterlendRegistry from a key (its bootstrap admin), admit the members "
            "given with --member, then end the bootstrap (unless --keep-bootstrap): from "
            "then on members are admitted by vote. Prints the [gateway.ledger] settings."
        ),
    )
    deploy.add_argument("--rpc", required=True, metavar="URL", help="the node's JSON-RPC URL")
    key = deploy.add_mutually_exclusive_group(required=True)
    key.add_argument("--key-env", metavar="VAR", help="environment variable holding the key")
    key.add_argument("--key-file", metavar="PATH", help="file holding the key (hex)")
    deploy.add_argument(
        "--majority",
        default="1/2",
        metavar="NUM/DEN",
        help="a proposal passes when its yes votes exceed this share of members (1/2)",
    )
    deploy.add_argument(
        "--member",
        action="append",
        default=[],
        metavar="ID:ADDRESS",
        help="admit this member with this gateway address (repeatable)",
    )
    deploy.add_argument(
        "--keep-bootstrap",
        action="store_true",
        help="keep the deployer's power to admit members directly",
    )
    deploy.add_argument(
        "--dispute-window",
        default="14d",
        metavar="DURATION",
        help="how long a settlement round stays open for answers: seconds, or with a unit "
        "s, m, h or d (14d)",
    )
    deploy.add_argument(
        "--proposer",
        action="append",
        default=[],
        metavar="ID",
        help="a member (given with --member) that may propose settlement rounds (repeatable)",
    )
    deploy.add_argument("--gas-ceiling", type=int, default=3_000_000, help="most gas to spend")
    add = actions.add_parser(
        "add-member",
        help="propose (or vote for) admitting a member, with the gateway's key",
        description=(
            "Vote, with the configured gateway key, for admitting member ID with gateway "
            "ADDRESS: an open proposal for it gets this member's vote, else a new one is "
            "made. Prints whether it passed; other members run the same command."
        ),
    )
    add.add_argument("--config", required=True, help="the gateway's configuration (TOML)")
    add.add_argument("member", metavar="ID", help="the new member's id")
    add.add_argument("address", metavar="ADDRESS", help="its gateway's address (0x…)")
    govern = actions.add_parser(
        "govern",
        help="propose (or vote for) who may propose settlements, or the dispute window",
        description=(
            "Vote, with the configured gateway key, for allowing or forbidding a member to "
            "propose settlement rounds, or for a new dispute window: an open proposal for "
            "the same change gets this member's vote, else a new one is made. Prints "
            "whether it passed; other members run the same command."
        ),
    )
    govern.add_argument("--config", required=True, help="the gateway's configuration (TOML)")
    change = govern.add_mutually_exclusive_group(required=True)
    change.add_argument("--allow-proposer", metavar="ID", help="let this member propose")
    change.add_argument("--deny-proposer", metavar="ID", help="stop this member proposing")
    change.add_argument(
        "--window", metavar="DURATION", help="the new dispute window (e.g. 14d, 36h, 3600)"
    )
    verify = actions.add_parser(
        "verify",
        help="verify a loan against the registry and the chain",
        description=(
            "Read a loan's receipts from the configured state store, rebuild each record "
            "from the registry's loan, check its Merkle proof and find its batch's anchor "
            "on chain. Exit 0 if the loan verifies, 1 with the reason otherwise."
        ),
    )
    verify.add_argument("--config", required=True, help="the gateway's configuration (TOML)")
    verify.add_argument("loan_id", metavar="LOAN_ID", help="the registry's loan id")
    verify.add_argument("--json", action="store_true", help="print the proof as JSON")
    settle.add_parser(actions)


def run(args: argparse.Namespace) -> int:
    """Run one ``ledger`` action; the exit status."""
    from adapters.ledger.chain import ChainError

    if args.ledger_command == "settle":
        return settle.run(args)
    try:
        if args.ledger_command == "deploy":
            return _deploy(args)
        if args.ledger_command == "add-member":
            return _add_member(args.config, args.member, args.address)
        if args.ledger_command == "govern":
            return _govern(args)
        if args.ledger_command == "verify":
            return _verify(args.config, args.loan_id, as_json=args.json)
    except ChainError as exc:
        return fail(str(exc))
    raise AssertionError(f"unhandled ledger action {args.ledger_command}")  # pragma: no cover


# ---- deploy -----------------------------------------------------------------------------


def _deploy(args: argparse.Namespace) -> int:
    from web3 import Web3

    from adapters.ledger.chain import member_id_bytes
    from adapters.ledger.connect import open_rpc, signing_account
    from config.secrets import read_secret

    try:
        num, den = (int(x) for x in args.majority.split("/"))
    except ValueError:
        return fail(f"--majority {args.majority!r} is not NUM/DEN, e.g. 1/2", 2)
    window = _duration_s(args.dispute_window)
    if window is None or not 0 < window <= 365 * 86_400:
        return fail(
            f"--dispute-window {args.dispute_window!r} is not a duration of 1 s to 365 d "
            "(e.g. 14d, 36h, 3600)",
            2,
        )
    args.dispute_window_s = window
    members: list[tuple[str, str]] = []
    for spec in args.member:
        member, _, address = spec.rpartition(":")
        try:
            member_id_bytes(member)
        except ValueError as exc:
            return fail(f"--member {spec!r}: {exc}", 2)
        if not Web3.is_address(address):
            return fail(f"--member {spec!r}: {address!r} is not an address", 2)
        members.append((member, Web3.to_checksum_address(address)))
    unknown = sorted(set(args.proposer) - {member for member, _ in members})
    if unknown:
        return fail(f"--proposer {', '.join(unknown)}: not among the --member given", 2)
    try:
        key = read_secret(env=args.key_env, file=Path(args.key_file) if args.key_file else None)
    except LookupError as exc:
        return fail(f"the deployer's key: {exc}")
    account = signing_account(key, what="the deployer's key")
    rpc = open_rpc(args.rpc, timeout_s=DEPLOY_RPC_TIMEOUT_S)
    try:
        return _deploy_on(rpc.w3, account, (num, den), members, args)
    finally:
        rpc.close()


def _deploy_on(
    w3: Web3,
    account: LocalAccount,
    majority: tuple[int, int],
    members: list[tuple[str, str]],
    args: argparse.Namespace,
) -> int:
    from adapters.ledger.chain import RegistryClient, deploy

    done = deploy(
        w3,
        account,
        majority=majority,
        dispute_window_s=args.dispute_window_s,
        gas_ceiling=args.gas_ceiling,
    )
    admin = RegistryClient(w3, done.address, account, deploy_block=done.block_number)
    for member, address in members:
        admin.bootstrap_admit(member, address)
        print(f"# admitted {member} with gateway {address}")
    for member in args.proposer:
        admin.bootstrap_set_proposer(member)
        print(f"# {member} may propose settlement rounds")
    print(f"# settlement rounds stay open for answers {args.dispute_window_s} s")
    if members and not args.keep_bootstrap:
        admin.end_bootstrap()
        print("# bootstrap ended: from now on members are admitted by vote")
    elif members:
        print(f"# bootstrap kept: {account.address} may still admit members directly")
    print(f"# InterlendRegistry deployed in tx 0x{done.tx_hash.hex()} ({done.gas_used} gas)")
    print("[gateway.ledger]")
    print('backend = "evm"')
    print(f"rpc_url = {json.dumps(args.rpc)}")
    print(f"chain_id = {w3.eth.chain_id}")
    print(f'contract = "{done.address}"')
    print(f"deploy_block = {done.block_number}")
    print('key = { env = "INTERLEND_LEDGER_KEY" }   # this gateway\'s own key')
    libraries = [m for m, _ in members if m not in args.proposer]
    if libraries:
        example = ", ".join(f'{m} = {{ env = "INTERLEND_KEY_{m.upper()}" }}' for m in libraries[:2])
        print(f"# library_keys = {{ {example} }}   # keys libraries delegate to this gateway")
    return 0


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def _duration_s(text: str) -> int | None:
    """``3600``, ``90m``, ``36h`` or ``14d`` in seconds; ``None`` if it is none of these."""
    text = text.strip()
    factor = _UNITS.get(text[-1:], 0)
    number = text[:-1] if factor else text
    if not number.isdigit():
        return None
    return int(number) * (factor or 1)


# ---- configuration ----------------------------------------------------------------------


def _secret(found: dict[KeyPath, str], path: KeyPath, what: str) -> str | int:
    value = found.get(path)
    if value is None:
        return fail(f"{what} ({'.'.join(map(str, path))}) cannot be read: set it first")
    return value


# ---- add-member -------------------------------------------------------------------------


def _add_member(path: str, member: str, address: str) -> int:
    from web3 import Web3

    from adapters.ledger.chain import Action, member_id_bytes
    from adapters.ledger.connect import connect_chain

    loaded = load_with_secrets(path)
    if isinstance(loaded, int):
        return loaded
    consortium, found = loaded
    settings = consortium.config.gateway
    if settings.ledger.backend != "evm":
        return fail('add-member needs gateway.ledger.backend = "evm"')
    try:
        member_id_bytes(member)
    except ValueError as exc:
        return fail(str(exc), 2)
    if not Web3.is_address(address):
        return fail(f"{address!r} is not an address", 2)
    gateway = Web3.to_checksum_address(address)
    key = _secret(found, ("gateway", "ledger", "key"), "the gateway's ledger key")
    if isinstance(key, int):
        return key
    link = connect_chain(settings.ledger, key, settings.institution_id)
    try:
        proposal = _vote_or_propose(link, Action.ADMIT, member, gateway)
        num, den = link.client.majority()
        if proposal.executed:
            print(
                f"passed: proposal #{proposal.proposal_id}; {member} is a member, gateway {gateway}"
            )
        else:
            print(
                f"not passed yet: proposal #{proposal.proposal_id} to admit {member} has "
                f"{proposal.yes} yes vote(s) of {link.client.member_count()} members; it "
                f"passes with more than {num}/{den} (other members run the same command)"
            )
    finally:
        link.close()
    return 0


def _govern(args: argparse.Namespace) -> int:
    from adapters.ledger.chain import Action, member_id_bytes
    from adapters.ledger.connect import connect_chain

    member: str | None = args.allow_proposer or args.deny_proposer
    if member is not None:
        try:
            member_id_bytes(member)
        except ValueError as exc:
            return fail(str(exc), 2)
        action, value = Action.SET_PROPOSER, 1 if args.allow_proposer else 0
        what = f"{'allow' if value else 'forbid'} {member} to propose settlement rounds"
    else:
        window = _duration_s(args.window)
        if window is None or not 0 < window <= 365 * 86_400:
            return fail(f"--window {args.window!r} is not a duration of 1 s to 365 d", 2)
        action, value = Action.SET_WINDOW, window
        what = f"set the dispute window to {window} s"
    loaded = load_with_secrets(args.config)
    if isinstance(loaded, int):
        return loaded
    consortium, found = loaded
    settings = consortium.config.gateway
    if settings.ledger.backend != "evm":
        return fail('govern needs gateway.ledger.backend = "evm"')
    key = _secret(found, ("gateway", "ledger", "key"), "the gateway's ledger key")
    if isinstance(key, int):
        return key
    link = connect_chain(settings.ledger, key, settings.institution_id)
    try:
        link.client.require_settlement()
        proposal = _vote_or_propose(link, action, member, None, value)
        if proposal.executed:
            print(f"passed: proposal #{proposal.proposal_id} to {what}")
        else:
            num, den = link.client.majority()
            print(
                f"not passed yet: proposal #{proposal.proposal_id} to {what} has "
                f"{proposal.yes} yes vote(s) of {link.client.member_count()} members; it "
                f"passes with more than {num}/{den} (other members run the same command)"
            )
    finally:
        link.close()
    return 0


def _vote_or_propose(
    link: ChainLink, action: Action, member: str | None, gateway: str | None, value: int = 0
) -> ProposalInfo:
    """Vote for an open proposal of the same change, else propose it; the proposal."""
    from adapters.ledger.chain import ChainRejected

    client = link.client
    proposal = None
    count = client.proposal_count()
    for proposal_id in range(count - 1, max(count - 100, 0) - 1, -1):
        open_one = client.proposal(proposal_id)
        if (
            open_one.action is not action
            or open_one.member_id != (member or "")
            or open_one.gateway != gateway
            or open_one.value != value
            or open_one.executed
        ):
            continue
        try:
            proposal = client.vote(proposal_id)
        except ChainRejected as exc:
            if exc.error == "AlreadyVoted":
                print(f"{link.member_id} has already voted for proposal #{proposal_id}")
                proposal = open_one
            elif exc.error != "StaleProposal":
                raise
        break
    if proposal is None:
        proposal = client.propose(action, member, gateway, value)
    return proposal


# ---- verify -----------------------------------------------------------------------------


def _verify(path: str, loan_id: str, *, as_json: bool) -> int:
    import trio

    from adapters.ledger.connect import read_only_link
    from adapters.state.base import StateUnavailable
    from adapters.state.connect import open_state
    from gateway.ledger.proof import prove_loan
    from gateway.runtime.rules import derived_record_key

    loaded = load_with_secrets(path)
    if isinstance(loaded, int):
        return loaded
    consortium, found = loaded
    settings = consortium.config.gateway
    if settings.state.backend == "memory":
        return fail(
            "the registry lives in the gateway's memory: ask the running gateway "
            f"(GET /api/loans/{loan_id}/proof on its admin port)"
        )
    if settings.ledger.backend != "evm":
        return fail(
            f"the ledger backend is {settings.ledger.backend!r}: only an evm chain can be "
            f"read from outside the gateway (GET /api/loans/{loan_id}/proof)"
        )
    if settings.ledger.record_key is not None:
        record = _secret(found, ("gateway", "ledger", "record_key"), "the record key")
        if isinstance(record, int):
            return record
        record_key = record.encode()
    else:
        patron = _secret(found, ("gateway", "patron_key_secret"), "the patron key secret")
        if isinstance(patron, int):
            return patron
        record_key = derived_record_key(patron.encode())
    password = found.get(("gateway", "state", "password"))
    if settings.state.password is not None and password is None:
        return fail("the state store's password cannot be read: set it first")

    async def prove() -> LoanProof:
        async with open_state(settings.state, password) as store:
            link = await trio.to_thread.run_sync(read_only_link, settings.ledger)
            try:
                return await prove_loan(
                    store, store, loan_id, record_key=record_key, find_anchor=link.find_anchor
                )
            finally:
                link.close()

    try:
        proof = trio.run(prove)
    except StateUnavailable as exc:
        return fail(f"the state store: {exc.detail}")
    if as_json:
        print(json.dumps(proof.to_json(), indent=2))
    else:
        print(f"loan {loan_id}: {proof.status.value}: {proof.reason}")
        for check in proof.checks:
            r = check.receipt
            where = f"member {r.member_id} batch {r.batch_seq}"
            if check.anchor is not None:
                where += f" tx 0x{check.anchor.tx_hash.hex()} block {check.anchor.block_number}"
            print(f"  {r.kind:<9} {where}: {'ok' if check.ok else check.reason}")
    if not proof.ok:
        print(f"interlend: loan {loan_id} does not verify: {proof.reason}", file=sys.stderr)
        return 1
    return 0
