"""``interlend ledger settle propose|acknowledge|dispute|status``: settlement rounds.

The consortium's gateway proposes a period's settlement (the root of the libraries'
statements, read from the report's JSON export); each library acknowledges its own
statement, or disputes it, with its own key: a key the library delegated to the
gateway (``[gateway.ledger.library_keys]``), or one it gives itself (``--key-env`` /
``--key-file``; a library without a gateway of its own runs the command with the
consortium's configuration and its key).  ``status`` reads the round, and with the
statements proves each against the root.

Exit status: 0 done, 1 with a one-line reason on standard error (the chain refused,
the statements are not the proposed ones, a key is missing), 2 for a malformed
argument.  Keys are never printed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.cli.loading import fail, load_with_secrets

if TYPE_CHECKING:
    import argparse

    from adapters.ledger.chain import ChainRejected
    from adapters.ledger.connect import ChainLink
    from adapters.ledger.rounds import RoundPlan
    from config.consortium import Consortium
    from config.errors import KeyPath

__all__ = ["add_parser", "run"]

REASONS = ("counts", "amounts", "membership", "other")


def add_parser(actions: Any) -> None:
    """Add ``settle`` and its actions under ``interlend ledger``."""
    settle = actions.add_parser(
        "settle",
        help="settlement rounds on chain: propose, acknowledge, dispute, status",
        description=(
            "Agree a period's settlement on chain: the consortium's gateway proposes the "
            "Merkle root of the libraries' statements, each library acknowledges its own "
            "statement or disputes it with its own key; the round closes when all have "
            "acknowledged or when the dispute window ends."
        ),
    )
    steps = settle.add_subparsers(dest="settle_command", required=True, metavar="STEP")
    parsers = {
        "propose": steps.add_parser(
            "propose",
            help="propose a period's statements (the gateway's key, a proposer's)",
            description="Open the period's round with the root of the statements in FILE.",
        ),
        "acknowledge": steps.add_parser(
            "acknowledge",
            help="acknowledge a library's own statement with its key",
            description=(
                "Check that the statements in FILE give the proposed root, then acknowledge "
                "LIBRARY's statement with its proof, signed with LIBRARY's key."
            ),
        ),
        "dispute": steps.add_parser(
            "dispute",
            help="dispute a library's statement with its key",
            description="Dispute LIBRARY's statement in the period's open round.",
        ),
        "status": steps.add_parser(
            "status",
            help="the period's round and each library's answer",
            description=(
                "Print the round's state and every library's answer; with --statements, "
                "also prove each statement against the round's root."
            ),
        ),
    }
    for step, parser in parsers.items():
        parser.add_argument("--config", required=True, help="the gateway's configuration (TOML)")
        parser.add_argument(
            "--period", required=True, help="the period (YYYY-MM or YYYY-MM-DD..YYYY-MM-DD)"
        )
        if step != "dispute":
            parser.add_argument(
                "--statements",
                required=step in ("propose", "acknowledge"),
                metavar="FILE",
                help="the period's statements: a JSON list of Statement objects",
            )
        if step in ("acknowledge", "dispute"):
            parser.add_argument(
                "--library",
                metavar="CODE",
                help="the library answering (default: the gateway's own member)",
            )
            key = parser.add_mutually_exclusive_group()
            key.add_argument("--key-env", metavar="VAR", help="variable holding the library's key")
            key.add_argument("--key-file", metavar="PATH", help="file holding the library's key")
    parsers["dispute"].add_argument(
        "--reason", required=True, choices=REASONS, help="what is wrong with the statement"
    )
    parsers["status"].add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Run one ``settle`` step; the exit status."""
    from adapters.ledger.chain import ChainError, ChainRejected
    from gateway.history.period import Period, PeriodError
    from gateway.ledger.settlement import StatementsFileError

    try:
        period = Period.parse(args.period).label
    except PeriodError as exc:
        return fail(str(exc), 2)
    loaded = load_with_secrets(args.config)
    if isinstance(loaded, int):
        return loaded
    consortium, found = loaded
    if consortium.config.gateway.ledger.backend != "evm":
        return fail(
            'settlement rounds need gateway.ledger.backend = "evm" (the embedded chain '
            "lives inside the running gateway)"
        )
    library = getattr(args, "library", None)
    try:
        plan = None
        if getattr(args, "statements", None) is not None:
            from gateway.ledger.settlement import plan_for, read_statements

            plan = plan_for(read_statements(Path(args.statements)), period)
        if args.settle_command == "status":
            return _status(consortium, period, plan, as_json=args.json)
        link = _signer(consortium, found, args)
        if isinstance(link, int):
            return link
        try:
            library = link.member_id
            return _act(link, args, period, plan)
        finally:
            link.close()
    except StatementsFileError as exc:
        return fail(str(exc))
    except ChainRejected as exc:
        return fail(_explain(exc, period, library))
    except ChainError as exc:
        return fail(str(exc))


def _signer(
    consortium: Consortium, found: dict[KeyPath, str], args: argparse.Namespace
) -> ChainLink | int:
    """The link that signs this step: the gateway's key to propose; the library's own
    key (given, delegated, or the gateway's when the library is its member) to answer."""
    from adapters.ledger.connect import connect_chain, library_link
    from config.secrets import read_secret

    settings = consortium.config.gateway
    library: str | None = getattr(args, "library", None)
    given_env, given_file = getattr(args, "key_env", None), getattr(args, "key_file", None)
    if given_env or given_file:
        if library is None:
            return fail("--key-env/--key-file need --library: whose key is it?", 2)
        try:
            key = read_secret(env=given_env, file=Path(given_file) if given_file else None)
        except LookupError as exc:
            return fail(f"the key of {library}: {exc}")
        return library_link(settings.ledger, key, library)
    if library is not None and library in settings.ledger.library_keys:
        delegated = found.get(("gateway", "ledger", "library_keys", library))
        if delegated is None:
            ref = settings.ledger.library_keys[library]
            return fail(f"the key of {library} ({ref}) cannot be read: set it first")
        return library_link(settings.ledger, delegated, library)
    own = found.get(("gateway", "ledger", "key"))
    if own is None:
        return fail("the gateway's ledger key (gateway.ledger.key) cannot be read: set it first")
    link = connect_chain(settings.ledger, own, settings.institution_id)
    if library is not None and library != link.member_id:
        link.close()
        return fail(
            f"no key for {library}: add it under [gateway.ledger.library_keys], or give it "
            "with --key-env or --key-file (the gateway's own key is "
            f"{link.member_id}'s)"
        )
    return link


def _act(link: ChainLink, args: argparse.Namespace, period: str, plan: RoundPlan | None) -> int:
    from adapters.ledger.rounds import DisputeReason, SettlementRounds

    rounds = SettlementRounds(link.client)
    member = link.member_id
    if args.settle_command == "propose":
        assert plan is not None
        opened = rounds.propose(plan)
        until = datetime.fromtimestamp(opened.deadline, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        print(
            f"proposed {period} (revision {opened.revision}) as {member}: "
            f"{opened.size} statements ({', '.join(plan.libraries())}), "
            f"root 0x{plan.root.hex()}; open for answers until {until}"
        )
        return 0
    if args.settle_command == "acknowledge":
        assert plan is not None
        current = rounds.round(period)
        if current.revision and current.root != plan.root:
            return fail(
                f"the statements do not give the root proposed for {period} "
                f"(0x{current.root.hex()}): they are not the settlement proposed; "
                "nothing was acknowledged"
            )
        try:
            leaf, proof = plan.statement(member)
        except KeyError:
            return fail(f"the statements have none for {member}")
        gas = rounds.acknowledge(leaf, proof)
        print(f"{member} acknowledged its statement for {period} ({gas} gas)")
        return 0
    reason = DisputeReason[args.reason.upper()]
    gas = rounds.dispute(period, reason)
    print(f"{member} disputed its statement for {period}: {args.reason} ({gas} gas)")
    return 0


def _status(consortium: Consortium, period: str, plan: RoundPlan | None, *, as_json: bool) -> int:
    from adapters.ledger.connect import read_only_link
    from adapters.ledger.rounds import RoundState, SettlementRounds
    from gateway.ledger.settlement import round_status

    link = read_only_link(consortium.config.gateway.ledger)
    try:
        members = [m.member_id for m in link.client.members() if m.gateway is not None]
        status = round_status(SettlementRounds(link.client), period, members, plan)
    finally:
        link.close()
    if as_json:
        print(json.dumps(status.to_json(), indent=2))
        return 0
    r = status.round
    if r.state is RoundState.NONE:
        print(f"{period}: no settlement round proposed")
        return 0
    until = datetime.fromtimestamp(r.deadline, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    print(
        f"{period}: {r.state.name.lower()} (revision {r.revision}), {r.acknowledged} of "
        f"{r.size} acknowledged, {r.disputed} disputed; window until {until}; "
        f"root 0x{r.root.hex()}"
    )
    if status.matches is not None:
        print(f"  the statements {'give' if status.matches else 'do NOT give'} this root")
    for answer in status.answers:
        line = f"  {answer.library:<12} {answer.answer.name.lower()}"
        if answer.reason is not None:
            line += f" ({answer.reason.name.lower()})"
        if answer.proven is not None:
            line += "; statement proven" if answer.proven else "; statement NOT in the root"
        print(line)
    return 0


def _explain(exc: ChainRejected, period: str, library: str | None) -> str:
    """The contract's refusal in words."""
    from adapters.ledger.rounds import Answer, RoundState

    args = exc.error_args
    who = library or "this key's member"

    def state(name: str) -> str:
        value = args.get(name)
        return RoundState(value).name.lower() if isinstance(value, int) else "closed"

    messages = {
        "NotAProposer": f"{args.get('memberId', who)} may not propose settlement rounds "
        "(proposers are allowed by a members' vote)",
        "RoundExists": f"the round of {period} is already {state('state')}: a period is "
        "proposed again only after its round closed disputed",
        "NoRound": f"no settlement round has been proposed for {period}",
        "RoundClosed": f"the round of {period} is closed ({state('state')})",
        "NotYourStatement": f"{who} can acknowledge only its own statement",
        "NotInRound": f"{who}'s statement is not in the round of {period} (the statements "
        "differ from the proposed ones)",
        "NotAGateway": f"the key used for {who} is not a member's key on chain",
        "BadReason": "the dispute needs a reason",
    }
    if exc.error == "AlreadyAnswered":
        given = args.get("answer")
        answered = Answer(given).name.lower() if isinstance(given, int) else "answered"
        return f"{who} has already answered the round of {period} ({answered})"
    return messages.get(exc.error, str(exc))
