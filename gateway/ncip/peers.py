"""NCIP peers: who a caller is, and what it may write.

A peer is a resource-sharing system configured under a library's ``ncip_peers``
(``gateway.runtime.rules.Peer``).  It proves who it is with its key in ``X-API-Key``,
its token in ``Authorization: Bearer``, or the key as ``FromAgencyAuthentication``,
compared in constant time (``authenticated``); then it acts for that library.

A peer acts for its own library only.  Reads (LookupUser, LookupItem, LookupAgency)
are open to every authenticated peer; a write is carried out only when the peer's
library is one the write concerns (``authority``), decided before anything is asked of
an ILS by the consortium's barcode rules (a barcode no rule claims is the peer's own
library's, as it is for the library's kiosks) and the registry:

==============================  ===================================================
CheckOutItem to a patron        the item's owner (the lender) or the patron's home
CheckOutItem to a library       the item's owner: only the lender's own system lends
                                its stock to another library's institutional account
CheckInItem                     the item's owner, or the library the registry's
                                active loan of the item is lent to (its ``home``)
RenewItem                       the item's owner or the patron's home
RequestItem, CancelRequestItem  the patron's home (the hold is placed for its patron)
AcceptItem                      the patron's home (where the temporary item is made)
DeleteItem                      always the peer's own library's ILS
==============================  ===================================================
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from config.policy import proxy_patron
from protocols.ncip import (
    AcceptItem,
    CancelRequestItem,
    CheckInItem,
    CheckOutItem,
    Patron,
    RenewItem,
    RequestItem,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from adapters.state.base import StateStore
    from config.consortium import Consortium
    from gateway.runtime.rules import Peer
    from protocols.ncip import Header, Request

__all__ = ["Authority", "authenticated", "authority", "home_of", "institution_of", "owner_of"]


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _same(given: str | None, expected: str | None) -> bool:
    """Whether a credential matches, in constant time; compared as UTF-8 bytes, since
    ``compare_digest`` refuses strings outside ASCII (a peer may send anything, and an
    environment variable may hold undecodable bytes as surrogates)."""
    if given is None or expected is None:
        return False
    return hmac.compare_digest(_utf8(given), _utf8(expected))


def authenticated(peer: Peer, header: Header, headers: Mapping[str, str]) -> bool:
    """Whether the caller proved it is ``peer`` (a peer without credentials never is)."""
    key = headers.get("x-api-key")
    authorization = headers.get("authorization", "")
    token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    if peer.api_key is not None and (
        _same(key, peer.api_key) or _same(header.from_agency_authentication, peer.api_key)
    ):
        return True
    return peer.bearer_token is not None and _same(token, peer.bearer_token)


def home_of(consortium: Consortium, patron: str, member: str) -> str:
    """A patron's home library (barcode rules, else the peer's own library)."""
    return consortium.home_of(patron) or member


def owner_of(consortium: Consortium, item: str, member: str) -> str:
    """An item's owner (barcode rules, else the peer's own library)."""
    return consortium.owner_of(item) or member


def institution_of(consortium: Consortium, owner: str, patron: str) -> str | None:
    """The library whose institutional account (proxy patron) at ``owner`` ``patron``
    is, if it is one."""
    return next(
        (
            home
            for home in consortium.libraries
            if home != owner and proxy_patron(consortium, owner, home) == patron
        ),
        None,
    )


@dataclass(frozen=True)
class Authority:
    """The libraries whose peers may ask for one write, and how a refusal says it."""

    libraries: frozenset[str]
    needs: str
    """Who the peer must act for, in words (for the Problem's detail)."""
    element: str
    """The element whose value puts the write beyond the peer's library."""


async def authority(
    consortium: Consortium, store: StateStore, member: str, request: Request
) -> Authority | None:
    """Which libraries' peers may make the write ``request`` asks for (``None``: any
    peer, for reads and for DeleteItem, which only ever reaches the peer's own ILS).

    Raises:
        StateUnavailable: CheckInItem by a peer that is not the owner needs the
            registry's loan, and the registry cannot answer.
    """
    match request:
        case CheckOutItem(patron=patron, item=item):
            owner = owner_of(consortium, item, member)
            if institution_of(consortium, owner, patron.identifier) is not None:
                return Authority(frozenset({owner}), "the item's owner", "ItemId")
            home = home_of(consortium, patron.identifier, member)
            return Authority(
                frozenset({owner, home}), "the item's owner or the patron's home library", "UserId"
            )
        case CheckInItem(item=item):
            owner = owner_of(consortium, item, member)
            holders = {owner}
            if member != owner:
                loan = await store.active_loan(owner, item)
                holders |= {loan.home} if loan is not None else set()
            return Authority(
                frozenset(holders), "the item's owner or the library it is lent to", "ItemId"
            )
        case RenewItem(patron=patron, item=item):
            owner = owner_of(consortium, item, member)
            home = home_of(consortium, patron.identifier, member)
            return Authority(
                frozenset({owner, home}), "the item's owner or the patron's home library", "UserId"
            )
        case (
            RequestItem(patron=patron)
            | CancelRequestItem(patron=patron)
            | AcceptItem(patron=Patron() as patron)
        ):
            home = home_of(consortium, patron.identifier, member)
            return Authority(frozenset({home}), "the patron's home library", "UserId")
    return None
