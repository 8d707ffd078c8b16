"""The temporary item at an NCIP home library, so a reciprocal loan shows in the
patron's own account there (``ils.ncip.accept_item``).

After a reciprocal loan is recorded, the home ILS is sent ``AcceptItem`` for a
temporary item (barcode ``<owner>-<item>``, request id = the registry's loan id) held
for the patron; at the return, ``CheckInItem`` and ``DeleteItem`` remove it.  Both are
best effort: the loan itself is made and recorded at the owner, which is what the
patron's kiosk waits for, so a home ILS that refuses or cannot be reached is logged
for the desk and never undoes the loan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
import trio

from adapters.errors import IlsError, IlsRequestInvalid

if TYPE_CHECKING:
    from adapters.ils.base import ItemRecords
    from adapters.state.base import Loan
    from gateway.circulation.call import Call

__all__ = ["accept_at_home", "remove_at_home", "temporary_barcode"]

log = structlog.get_logger("interlend.temporary")

HOME_CALL_S = 5.0
"""The longest the home library's AcceptItem or return calls may take."""


def temporary_barcode(loan: Loan) -> str:
    """The temporary item's barcode at the home library."""
    return f"{loan.owner}-{loan.item}"


def _home_records(call: Call, loan: Loan) -> ItemRecords | None:
    """The home's item records when it takes temporary items, else ``None``."""
    if not call.rules.policy(loan.home).ils.ncip.accept_item:
        return None
    home = call.services.members.get(loan.home)
    return home.item_records if home is not None else None


async def accept_at_home(call: Call, loan: Loan, patron: str, title: str) -> None:
    """AcceptItem at the patron's home library (when its settings ask for it)."""
    client = _home_records(call, loan)
    if client is None:
        return
    try:
        with trio.CancelScope(shield=True):
            done = await client.accept_item(
                loan.loan_id,
                patron,
                temporary_barcode(loan),
                title=title or None,
                due=loan.due,
                timeout=HOME_CALL_S,
            )
    except (IlsError, IlsRequestInvalid) as exc:
        log.error(
            "temporary item not created at home",
            home=loan.home,
            loan=loan.loan_id,
            detail=exc.detail,
        )
        return
    if not done.ok:
        log.error(
            "temporary item refused at home",
            home=loan.home,
            loan=loan.loan_id,
            reason=" ".join(done.screen_messages),
        )


async def remove_at_home(call: Call, loan: Loan) -> None:
    """CheckInItem and DeleteItem of the temporary item at the home library."""
    records = _home_records(call, loan)
    if records is None:
        return
    barcode = temporary_barcode(loan)
    try:
        with trio.CancelScope(shield=True):
            await call.member(loan.home).ils.checkin(barcode, "", timeout=HOME_CALL_S)
            gone = await records.delete_item(barcode, timeout=HOME_CALL_S)
    except (IlsError, IlsRequestInvalid) as exc:
        log.error(
            "temporary item not removed at home", home=loan.home, item=barcode, detail=exc.detail
        )
        return
    if not gone.ok:
        log.error(
            "temporary item not deleted at home",
            home=loan.home,
            item=barcode,
            reason=" ".join(gone.screen_messages),
        )
