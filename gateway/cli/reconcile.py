"""``interlend reconcile --config FILE [--fix]``: the registry against each owner's ILS.

Reads the shared registry (Redis; an in-memory registry lives inside one gateway and
cannot be read from outside), asks each owner's ILS about the items of its active
loans and unconfirmed holds (``gateway/circulation/reconcile.py``), and lists every
one that disagrees.  ``--fix`` closes loans the owner shows returned, commits held
slots the owner shows lent and releases those it shows on the shelf; what is unclear
is listed and left alone.  Patrons appear only as the registry's keyed hashes.

Exit status: 0 when nothing disagrees (after ``--fix``, nothing is left), 1 when
something does or the registry cannot be read, 2 for a malformed argument; so a
scheduled run can alert on 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gateway.cli.loading import fail, load_configuration

if TYPE_CHECKING:
    import argparse

    from gateway.circulation.reconcile import HoldCheck, LoanCheck, Reconciliation
    from gateway.cli.loading import Loaded

__all__ = ["add_parsers", "render"]


def add_parsers(commands: Any) -> None:
    """Add ``reconcile`` to the top-level subparsers."""
    reconcile = commands.add_parser(
        "reconcile",
        help="compare the loan registry with each owner's ILS",
        description=(
            "Check every active loan and unconfirmed hold in the registry against its "
            "owner's ILS (SIP2 17 / NCIP LookupItem) and list those that disagree. With "
            "--fix, close loans the owner shows returned, commit held slots it shows lent "
            "and release those it shows on the shelf."
        ),
    )
    reconcile.add_argument("--config", required=True, help="the configuration file (TOML)")
    reconcile.add_argument("--fix", action="store_true", help="change the registry to agree")
    reconcile.add_argument(
        "--owner",
        action="append",
        default=[],
        metavar="MEMBER",
        help="check only this owner's loans (repeatable; default: every library)",
    )
    reconcile.add_argument("--json", action="store_true", help="print the findings as JSON")
    reconcile.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Reconcile; the exit status."""
    loaded = load_configuration(args.config)
    if isinstance(loaded, int):
        return loaded
    consortium = loaded.consortium
    unknown = [o for o in args.owner if o not in consortium.libraries]
    if unknown:
        known = ", ".join(consortium.libraries)
        return fail(f"--owner {unknown[0]!r} is not a library (libraries: {known})", 2)
    state = consortium.config.gateway.state
    if state.backend == "memory":
        return fail(
            "the registry lives in the gateway's memory (gateway.state.backend = "
            '"memory"): only a shared registry (Redis) can be reconciled from outside'
        )
    password = loaded.secrets.get(("gateway", "state", "password"))
    if state.password is not None and password is None:
        return fail("the state store's password cannot be read: set it first")
    owners = tuple(args.owner) or consortium.libraries
    import trio

    try:
        result = trio.run(_reconcile, loaded, password, owners, args.fix)
    except Exception as exc:
        reason = _unreachable(exc)
        if reason is None:
            raise
        return fail(f"the state store: {reason}")
    if args.json:
        print(json.dumps(to_json(result, fix=args.fix), indent=2))
    else:
        print(render(result, fix=args.fix))
    return 1 if result.disagreements else 0


async def _reconcile(
    loaded: Loaded, password: str | None, owners: tuple[str, ...], fix: bool
) -> Reconciliation:
    from adapters.state.connect import open_state
    from gateway.circulation.reconcile import reconcile
    from gateway.runtime.members import build_members

    consortium = loaded.consortium
    members = build_members(consortium, loaded.secrets)
    policies = {m: consortium.policy(m) for m in consortium.libraries}
    try:
        async with open_state(consortium.config.gateway.state, password) as store:
            return await reconcile(
                store,
                {m: h.ils for m, h in members.items()},
                owners=owners,
                fix=fix,
                now=datetime.now(UTC),
                timeouts={m: p.ils.timeout_s for m, p in policies.items()},
                loan_days={m: p.circulation.visitor_loan_days for m, p in policies.items()},
            )
    finally:
        for handle in members.values():
            if handle.supervised is not None:
                await handle.supervised.aclose()


def _unreachable(exc: BaseException) -> str | None:
    """Why the registry could not be used, when that is what ``exc`` says (the Redis
    client's connection pool may raise its own error, inside a group, on the way out)."""
    from coredis.exceptions import RedisError

    from adapters.state.base import StateUnavailable

    if isinstance(exc, StateUnavailable):
        return exc.detail
    if isinstance(exc, RedisError | OSError):
        return str(exc)
    if isinstance(exc, BaseExceptionGroup):
        found = [_unreachable(inner) for inner in exc.exceptions]
        return next((reason for reason in found if reason is not None), None)
    return None


def _line(check: LoanCheck | HoldCheck, *, fix: bool) -> str:
    from gateway.circulation.reconcile import LoanCheck

    if isinstance(check, LoanCheck):
        loan = check.loan
        what = f"loan {loan.loan_id} {loan.owner}/{loan.item} to {loan.home} ({loan.proxy_patron})"
    else:
        request = check.request
        what = f"hold {request.owner}/{request.item} for {request.home} ({request.proxy_patron})"
    detail = f": {check.detail}" if check.detail else ""
    done = ""
    if check.fixed:
        done = "  [fixed]"
    elif check.finding.fixable and not fix:
        done = "  [--fix would mend it]"
    return f"  {what}: {check.finding.value}{detail}{done}"


def render(result: Reconciliation, *, fix: bool) -> str:
    """The findings for a person: every disagreement, then the counts."""
    from gateway.circulation.reconcile import Finding

    lines = []
    checks: list[LoanCheck | HoldCheck] = [*result.loans, *result.holds]
    odd = [c for c in checks if c.finding is not Finding.AGREES]
    if odd:
        lines.append("Disagreements:")
        lines.extend(_line(c, fix=fix) for c in odd)
    agree = sum(1 for c in result.loans if c.finding is Finding.AGREES)
    fixed = sum(1 for c in checks if c.fixed)
    lines.append(
        f"{len(result.loans)} active loans checked, {agree} agree; "
        f"{len(result.holds)} unconfirmed holds; {fixed} fixed; "
        f"{len(result.disagreements)} left for a person"
        if fix
        else f"{len(result.loans)} active loans checked, {agree} agree; "
        f"{len(result.holds)} unconfirmed holds; {len(result.disagreements)} disagree"
    )
    return "\n".join(lines)


def to_json(result: Reconciliation, *, fix: bool) -> dict[str, object]:
    """The findings as JSON (loans by id, holds by owner and item; no patron barcodes)."""
    return {
        "fix": fix,
        "loans": [
            {
                "loan_id": c.loan.loan_id,
                "owner": c.loan.owner,
                "home": c.loan.home,
                "item": c.loan.item,
                "finding": c.finding.name.lower(),
                "status": c.status,
                "detail": c.detail,
                "fixed": c.fixed,
            }
            for c in result.loans
        ],
        "holds": [
            {
                "owner": c.request.owner,
                "home": c.request.home,
                "item": c.request.item,
                "finding": c.finding.name.lower(),
                "status": c.status,
                "detail": c.detail,
                "fixed": c.fixed,
                "loan_id": c.loan.loan_id if c.loan is not None else None,
            }
            for c in result.holds
        ],
        "disagreements": len(result.disagreements),
    }
