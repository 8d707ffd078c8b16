"""The policy engine: pure decisions about what a visiting patron may do.

``may_borrow`` applies the owner's and the home library's effective policies to one
checkout and returns a ``Decision``.  Rules are checked in this order, and the first
that refuses decides:

1. the patron's home and the item's owner are known libraries;
2. a patron at their own library is not a reciprocal loan (allowed here; the home ILS
   applies its own rules);
3. the owner lends to the home library's network (``lend_to``);
4. if the owner lends only reciprocally, the home library lends to the owner too;
5. the patron's type is one the owner admits;
6. the patron is not blocked at home (charge privileges denied, card lost);
7. fines at home are not over the owner's limit;
8. the card has not expired, if the owner refuses expired cards;
9. the item's type and location circulate to visitors;
10. the patron is under the owner's cap of loans per visitor, then under the home
    library's cap of reciprocal loans in all.

A refusal carries a short ``reason`` written for the patron: the gateway shows it on
the kiosk's screen (SIP2 AF), so it is plain, under 80 characters where it can be,
and never mentions internal ids.  An allowed reciprocal loan carries the loan period,
renewals and the proxy patron to check it out to at the owner.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .consortium import Consortium
    from .resolved import ResolvedPolicy

__all__ = [
    "Decision",
    "DecisionCode",
    "PatronStanding",
    "effective_policy",
    "may_borrow",
    "may_renew",
    "may_withdraw",
    "proxy_patron",
    "retention_refusal",
]


class DecisionCode(enum.Enum):
    """Why a decision went the way it did."""

    ALLOWED = "allowed"
    LOCAL = "local"
    UNKNOWN_HOME = "unknown-home"
    UNKNOWN_OWNER = "unknown-owner"
    NOT_IN_NETWORK = "not-in-network"
    NOT_RECIPROCAL = "not-reciprocal"
    PATRON_TYPE = "patron-type"
    BLOCKED_AT_HOME = "blocked-at-home"
    FINES = "fines"
    EXPIRED = "expired"
    ITEM_TYPE = "item-type"
    LOCATION = "location"
    OWNER_CAP = "owner-cap"
    TOTAL_CAP = "total-cap"
    RENEWALS = "renewals"
    NO_PROXY = "no-proxy"
    RETENTION = "retention"


@dataclass(frozen=True)
class PatronStanding:
    """What the home library said about the patron (from SIP2 24/64 or NCIP LookupUser)."""

    patron_type: str | None = None
    fines: Decimal = Decimal(0)
    expired: bool = False
    blocked: bool = False


@dataclass(frozen=True)
class Decision:
    """The outcome of a policy check.

    Attributes:
        allowed: Whether the action may go ahead.
        code: The rule that decided.
        reason: For a refusal, the text to show the patron; empty when allowed.
        loan_days: For an allowed reciprocal loan, the loan period.
        renewals: For an allowed reciprocal loan, the renewals allowed.
        proxy_patron: For an allowed reciprocal loan, the account at the owner to
            check the item out to.
    """

    allowed: bool
    code: DecisionCode
    reason: str = ""
    loan_days: int | None = None
    renewals: int | None = None
    proxy_patron: str | None = None


def _refuse(code: DecisionCode, reason: str) -> Decision:
    return Decision(False, code, reason)


def effective_policy(consortium: Consortium, member: str) -> ResolvedPolicy:
    """The effective settings of a member, every default applied (where each value came
    from is in ``consortium.effective``)."""
    return consortium.policy(member)


def proxy_patron(consortium: Consortium, owner: str, home: str) -> str | None:
    """The account at ``owner`` that loans to ``home``'s patrons are checked out to."""
    circulation = consortium.policy(owner).circulation
    explicit = (circulation.proxy_patrons or {}).get(home)
    if explicit:
        return explicit
    template = circulation.proxy_patron_template
    return template.replace("{home}", home) if template is not None else None


def _name(consortium: Consortium, node_id: str) -> str:
    return consortium.nodes[node_id].name


def may_borrow(
    consortium: Consortium,
    patron_home: str | None,
    owner: str | None,
    patron_type: str | None = None,
    *,
    standing: PatronStanding | None = None,
    loans_at_owner: int = 0,
    loans_total: int = 0,
    item_type: str | None = None,
    location: str | None = None,
    item: str | None = None,
) -> Decision:
    """Decide whether a patron of ``patron_home`` may borrow an item of ``owner``.

    Args:
        consortium: The validated consortium.
        patron_home: The patron's home library (``None``: not recognised).
        owner: The item's owning library (``None``: not recognised).
        patron_type: The patron's type at home, if known.
        standing: What the home library reported about the patron.
        loans_at_owner: Reciprocal loans the patron already has from ``owner``.
        loans_total: Reciprocal loans the patron already has in all.
        item_type: The item's type (SIP2 media type or ILS code), if known.
        location: The item's location, if known.
        item: The item's barcode, if known (a jointly owned collection's retention
            commitment is checked by it).
    """
    libraries = consortium.libraries
    if patron_home not in libraries:
        return _refuse(DecisionCode.UNKNOWN_HOME, "Library card not recognised")
    if owner not in libraries:
        return _refuse(DecisionCode.UNKNOWN_OWNER, "Item not recognised")
    assert patron_home is not None
    assert owner is not None
    if patron_home == owner:
        return Decision(True, DecisionCode.LOCAL)
    standing = standing or PatronStanding(patron_type=patron_type)
    patron_type = patron_type or standing.patron_type
    rules = consortium.policy(owner).circulation
    home_rules = consortium.policy(patron_home).circulation
    owner_name = _name(consortium, owner)
    home_name = _name(consortium, patron_home)
    if not consortium.in_network(patron_home, rules.lend_to, owner):
        return _refuse(
            DecisionCode.NOT_IN_NETWORK, f"{owner_name} does not lend to {home_name} patrons"
        )
    if rules.reciprocal_only and not consortium.in_network(owner, home_rules.lend_to, patron_home):
        return _refuse(
            DecisionCode.NOT_RECIPROCAL,
            f"{owner_name} lends only to libraries that lend to it",
        )
    if rules.patron_types is not None and patron_type not in rules.patron_types:
        return _refuse(
            DecisionCode.PATRON_TYPE,
            f"Your patron type cannot borrow at {owner_name}",
        )
    if standing.blocked:
        return _refuse(DecisionCode.BLOCKED_AT_HOME, f"Your account is blocked at {home_name}")
    if rules.block_fines_over is not None and standing.fines > rules.block_fines_over:
        return _refuse(
            DecisionCode.FINES,
            f"Fines of {standing.fines:.2f} are over the {rules.block_fines_over:.2f} limit",
        )
    if rules.block_expired and standing.expired:
        return _refuse(DecisionCode.EXPIRED, "Your library card has expired")
    if item_type is not None and item_type in rules.non_circulating_item_types:
        return _refuse(DecisionCode.ITEM_TYPE, "This item does not circulate to visitors")
    if location is not None and location in rules.non_circulating_locations:
        return _refuse(DecisionCode.LOCATION, "Items from this shelf do not circulate to visitors")
    kept = retention_refusal(consortium, item, patron_home)
    if kept is not None:
        return kept
    if rules.loan_cap_per_owner is not None and loans_at_owner >= rules.loan_cap_per_owner:
        return _refuse(
            DecisionCode.OWNER_CAP,
            f"Limit of {rules.loan_cap_per_owner} loans from {owner_name} reached",
        )
    if home_rules.loan_cap_total is not None and loans_total >= home_rules.loan_cap_total:
        return _refuse(
            DecisionCode.TOTAL_CAP,
            f"Limit of {home_rules.loan_cap_total} loans from other libraries reached",
        )
    proxy = proxy_patron(consortium, owner, patron_home)
    if proxy is None:
        return _refuse(
            DecisionCode.NO_PROXY, f"{owner_name} cannot lend to {home_name} patrons yet"
        )
    return Decision(
        True,
        DecisionCode.ALLOWED,
        loan_days=rules.visitor_loan_days,
        renewals=rules.visitor_renewals,
        proxy_patron=proxy,
    )


def retention_refusal(consortium: Consortium, item: str | None, borrower: str) -> Decision | None:
    """The refusal to lend ``item`` to ``borrower``'s patrons (or to ``borrower`` itself)
    when the item is in a jointly owned collection under a last-copy commitment and
    ``borrower`` is not a library of the consortium or hybrid that declared it; ``None``
    when nothing is kept from it."""
    collection = consortium.collection_of(item) if item is not None else None
    if collection is None or collection.retention != "last-copy":
        return None
    if collection.declared_at in consortium.ancestors[borrower]:
        return None
    keeper = _name(consortium, collection.declared_at)
    return _refuse(
        DecisionCode.RETENTION,
        f"This item is a last copy kept by {keeper} ({collection.name}); "
        f"it is not lent beyond {keeper}",
    )


def may_withdraw(consortium: Consortium, item: str) -> Decision:
    """Decide whether an item's record may be removed from its ILS (NCIP DeleteItem):
    not while it is in a jointly owned collection under a last-copy commitment."""
    collection = consortium.collection_of(item)
    if collection is None or collection.retention != "last-copy":
        return Decision(True, DecisionCode.ALLOWED)
    keeper = _name(consortium, collection.declared_at)
    return _refuse(
        DecisionCode.RETENTION,
        f"This item is a last copy kept by {keeper} ({collection.name}); it cannot be withdrawn",
    )


def may_renew(
    consortium: Consortium, patron_home: str | None, owner: str | None, renewals_done: int
) -> Decision:
    """Decide whether a reciprocal loan may be renewed once more."""
    libraries = consortium.libraries
    if patron_home not in libraries:
        return _refuse(DecisionCode.UNKNOWN_HOME, "Library card not recognised")
    if owner not in libraries:
        return _refuse(DecisionCode.UNKNOWN_OWNER, "Item not recognised")
    assert patron_home is not None
    assert owner is not None
    if patron_home == owner:
        return Decision(True, DecisionCode.LOCAL)
    rules = consortium.policy(owner).circulation
    allowed = rules.visitor_renewals
    if renewals_done >= allowed:
        return _refuse(
            DecisionCode.RENEWALS,
            f"No more renewals: {_name(consortium, owner)} allows {allowed}",
        )
    return Decision(True, DecisionCode.ALLOWED, loan_days=rules.visitor_loan_days, renewals=allowed)
