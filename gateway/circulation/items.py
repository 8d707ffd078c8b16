"""Items: what an item's owner says about it (an NCIP peer's LookupItem; a kiosk's 17
for an owner whose ILS speaks NCIP)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.circulation.outcomes import Refusal, RefusalCode

if TYPE_CHECKING:
    from adapters.ils.base import ItemRecord
    from gateway.circulation.call import Call

__all__ = ["look_up_item"]


async def look_up_item(call: Call, *, owner: str, item: str) -> ItemRecord | Refusal:
    """The owner's record of ``item``.

    Raises:
        IlsError: The owner's ILS could not answer.
        IlsRequestInvalid: An item id the owner's ILS cannot take.
    """
    record = await call.member(owner).ils.item_information(item, timeout=call.budget(owner))
    if not record.found:
        return Refusal(RefusalCode.ITEM_UNKNOWN, f"Item not recognised by {call.name(owner)}")
    return record
