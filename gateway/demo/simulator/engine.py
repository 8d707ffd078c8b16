"""What the simulated ILS answers: SIP2 requests in, SIP2 responses out, no I/O.

Behaviour, message by message (``now`` is passed in so tests control time):

* 93: the configured login and the password given at start-up, else refused.
* 99: on-line, everything supported.
* 23/63: an unknown patron gets the "all privileges denied" status with BL N; a known
  one gets BL Y, CQ (when a PIN was sent), name, fines, the patron type in PC, and for
  63 the items of the category asked for.
* 11: refused for an unknown or blocked patron, a wrong PIN, an unknown item, an item
  out to someone else or on hold for someone else; an item already out to the same
  patron is renewed.  The due date is ``loan_days`` ahead (the offline due date of a
  no-block checkout is kept).
* 09: the item is returned; returning an item that was not out is a success with a
  message; a waiting hold raises the alert with CV 01.
* 29/65: renewals up to ``max_renewals``, not while someone waits for the item (the
  offline due date of a no-block renewal is kept).
* 17/19/15/35/37/25/01: item status, item properties, holds, end of session, fee
  payment (reduces fines), patron enable and block.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, assert_never

from gateway.sip2.responses import DENIED
from protocols.sip2 import (
    AcsStatus,
    BlockPatron,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    CirculationStatus,
    Dialect,
    EndPatronSessionRequest,
    EndSessionResponse,
    FeePaidRequest,
    FeePaidResponse,
    HoldMode,
    HoldRequest,
    HoldResponse,
    ItemInformationRequest,
    ItemInformationResponse,
    ItemStatusUpdateRequest,
    ItemStatusUpdateResponse,
    Language,
    LoginRequest,
    LoginResponse,
    Message,
    PatronEnableRequest,
    PatronEnableResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusRequest,
    PatronStatusResponse,
    RenewAllRequest,
    RenewAllResponse,
    RenewRequest,
    RenewResponse,
    RequestAcsResend,
    ScStatus,
    SecurityMarker,
    Summary,
    SupportedMessages,
)
from protocols.sip2.fieldtypes import Date

if TYPE_CHECKING:
    from collections.abc import Callable

    import trio

    from gateway.demo.simulator.data import LibraryData, SimItem, SimPatron

__all__ = ["SimulatedIls"]

_DATE = Date()
_DIALECT = Dialect()
_NO_FLAGS = PatronStatus(0)


class SimulatedIls:
    """The simulated ILS's behaviour over a ``LibraryData`` (mutated as it circulates).

    Args:
        library: The catalogue.
        password: The SIP2 login password the gateway must present.

    Attributes:
        delay_s: Seconds to wait before each answer (to play a slow ILS).
        connections: Connections open right now.
        executed: The codes of the requests handled, in order (for tests).
        last_request: The last request handled, as it arrived.
        on_arrival: Called with each request as it arrives, before ``delay_s`` and
            ``gate`` (tests wait on it for a request to be "at the ILS now").
        gate: While this is an event not yet set, each request waits for it after
            arriving and before being answered: a test holds the ILS's answers for
            exactly as long as it needs (``None``: answer at once).
        gated_codes: The message codes that wait at ``gate`` (``None``: all of them;
            a test holding checkouts lets the logins of new connections through).
    """

    def __init__(self, library: LibraryData, password: str) -> None:
        self.library = library
        self.password = password
        self.delay_s = 0.0
        self.connections = 0
        self.executed: list[str] = []
        self.last_request: Message | None = None
        self.on_arrival: Callable[[Message], None] | None = None
        self.gate: trio.Event | None = None
        self.gated_codes: frozenset[str] | None = None

    def handle(self, message: Message, now: datetime) -> Message:
        """Answer one request (the connection handles 97 and login enforcement)."""
        self.executed.append(message.code)
        self.last_request = message
        # The messages a self-check sends most come first: a match tries its cases in order.
        match message:
            case PatronStatusRequest():
                return self._patron_status(message.patron_identifier, message.patron_password, now)
            case ItemInformationRequest():
                return self._item_information(message.item_identifier, now)
            case CheckoutRequest():
                return self._checkout(message, now)
            case CheckinRequest():
                return self._checkin(message, now)
            case PatronInformationRequest():
                return self._patron_information(message, now)
            case RenewRequest():
                return self._renew(message, now)
            case ScStatus():
                return self._status(now)
            case LoginRequest():
                ok = (
                    message.login_user_id == self.library.login
                    and message.login_password == self.password
                )
                return LoginResponse(ok=ok)
            case RenewAllRequest():
                return self._renew_all(message, now)
            case ItemStatusUpdateRequest():
                return self._item_status_update(message, now)
            case HoldRequest():
                return self._hold(message, now)
            case EndPatronSessionRequest():
                return EndSessionResponse(
                    end_session=True,
                    transaction_date=now,
                    institution_id=self.library.institution_id,
                    patron_identifier=message.patron_identifier,
                )
            case FeePaidRequest():
                return self._fee_paid(message, now)
            case PatronEnableRequest():
                return self._enable(message, now)
            case BlockPatron():
                patron = self.library.patrons.get(message.patron_identifier)
                if patron is not None:
                    patron.blocked = True
                return self._patron_status(message.patron_identifier, None, now)
            case RequestAcsResend():  # pragma: no cover - answered by the connection
                raise AssertionError("97 is answered by the connection")
            case _:
                raise AssertionError(f"{message.code} is not a request")  # pragma: no cover

    # --- patrons --------------------------------------------------------------------------

    def _status(self, now: datetime) -> AcsStatus:
        return AcsStatus(
            online_status=True,
            checkin_ok=True,
            checkout_ok=True,
            acs_renewal_policy=True,
            status_update_ok=True,
            offline_ok=False,
            timeout_period=50,
            retries_allowed=3,
            date_time_sync=now,
            institution_id=self.library.institution_id,
            library_name=self.library.name,
            supported_messages=SupportedMessages(0xFFFF),
        )

    def _flags(self, patron: SimPatron) -> PatronStatus:
        flags = _NO_FLAGS
        if patron.blocked:
            flags |= PatronStatus.CHARGE_PRIVILEGES_DENIED | PatronStatus.HOLD_PRIVILEGES_DENIED
        if patron.fines > 0 and patron.blocked:
            flags |= PatronStatus.EXCESSIVE_OUTSTANDING_FINES
        return flags

    def _patron_status(
        self, patron_id: str, pin: str | None, now: datetime
    ) -> PatronStatusResponse:
        patron = self.library.patrons.get(patron_id)
        if patron is None:
            return PatronStatusResponse(
                patron_status=DENIED,
                language=Language.ENGLISH,
                transaction_date=now,
                institution_id=self.library.institution_id,
                patron_identifier=patron_id,
                valid_patron=False,
                valid_patron_password=False if pin else None,
                screen_messages=("Patron not found",),
            )
        return PatronStatusResponse(
            patron_status=self._flags(patron),
            language=Language.ENGLISH,
            transaction_date=now,
            institution_id=self.library.institution_id,
            patron_identifier=patron_id,
            personal_name=patron.name,
            valid_patron=True,
            valid_patron_password=(pin == patron.pin) if pin else None,
            currency_type=self.library.currency,
            fee_amount=f"{patron.fines:.2f}",
            extensions=(("PC", patron.type),),
        )

    def _patron_information(self, request: PatronInformationRequest, now: datetime) -> Message:
        status = self._patron_status(request.patron_identifier, request.patron_password, now)
        patron = self.library.patrons.get(request.patron_identifier)
        if patron is None:
            return PatronInformationResponse(
                patron_status=status.patron_status,
                language=Language.ENGLISH,
                transaction_date=now,
                institution_id=self.library.institution_id,
                patron_identifier=request.patron_identifier,
                valid_patron=False,
                valid_patron_password=status.valid_patron_password,
                screen_messages=status.screen_messages,
            )
        charged = [i.id for i in self.library.items.values() if i.holder == patron.id]
        overdue = [
            i.id
            for i in self.library.items.values()
            if i.holder == patron.id and i.due and i.due < now
        ]
        holds = [i.id for i in self.library.items.values() if patron.id in i.holds]
        start = max(1, request.start_item or 1)
        end = request.end_item or start + 49

        def page(items: list[str], wanted: Summary) -> tuple[str, ...]:
            return tuple(items[start - 1 : end]) if request.summary & wanted else ()

        return PatronInformationResponse(
            patron_status=status.patron_status,
            language=Language.ENGLISH,
            transaction_date=now,
            hold_items_count=len(holds),
            overdue_items_count=len(overdue),
            charged_items_count=len(charged),
            fine_items_count=0,
            recall_items_count=0,
            unavailable_holds_count=0,
            institution_id=self.library.institution_id,
            patron_identifier=patron.id,
            personal_name=patron.name,
            valid_patron=True,
            valid_patron_password=status.valid_patron_password,
            currency_type=self.library.currency,
            fee_amount=f"{patron.fines:.2f}",
            hold_items=page(holds, Summary.HOLD_ITEMS),
            overdue_items=page(overdue, Summary.OVERDUE_ITEMS),
            charged_items=page(charged, Summary.CHARGED_ITEMS),
            email_address=patron.email,
            extensions=(("PC", patron.type),),
        )

    # --- circulation -----------------------------------------------------------------------

    def _due_text(self, item: SimItem) -> str:
        return _DATE.encode(item.due, _DIALECT) if item.due is not None else ""

    def _checkout_reply(
        self,
        request: CheckoutRequest,
        now: datetime,
        ok: bool,
        message: str,
        item: SimItem | None = None,
        renewal: bool = False,
    ) -> CheckoutResponse:
        return CheckoutResponse(
            ok=ok,
            renewal_ok=renewal,
            magnetic_media=False if item is not None else None,
            desensitize=ok,
            transaction_date=now,
            institution_id=self.library.institution_id,
            patron_identifier=request.patron_identifier,
            item_identifier=request.item_identifier,
            title_identifier=item.title if item is not None else "",
            due_date=self._due_text(item) if ok and item is not None else "",
            media_type=item.media_type if item is not None else None,
            screen_messages=(message,) if message else (),
        )

    def _checkout(self, request: CheckoutRequest, now: datetime) -> CheckoutResponse:
        patron = self.library.patrons.get(request.patron_identifier)
        item = self.library.items.get(request.item_identifier)
        if patron is None:
            return self._checkout_reply(request, now, False, "Patron not found", item)
        if request.patron_password and request.patron_password != patron.pin:
            return self._checkout_reply(request, now, False, "Invalid PIN", item)
        if patron.blocked and not request.no_block:
            return self._checkout_reply(request, now, False, "Patron is blocked", item)
        if item is None:
            return self._checkout_reply(request, now, False, "Item not found")
        if item.holder is not None and item.holder != patron.id:
            return self._checkout_reply(
                request, now, False, "Item is checked out to another patron", item
            )
        if item.holds and item.holds[0] != patron.id:
            return self._checkout_reply(
                request, now, False, "Item is on hold for another patron", item
            )
        renewal = item.holder == patron.id
        if item.holds and item.holds[0] == patron.id:
            item.holds.pop(0)
        item.holder = patron.id
        item.renewals = item.renewals + 1 if renewal else 0
        offline_due = request.nb_due_date if request.no_block else None
        item.due = offline_due or (now + timedelta(days=self.library.loan_days)).replace(
            hour=23, minute=59, second=59
        )
        return self._checkout_reply(request, now, True, f"Due {item.due:%Y-%m-%d}", item, renewal)

    def _checkin(self, request: CheckinRequest, now: datetime) -> CheckinResponse:
        item = self.library.items.get(request.item_identifier)
        if item is None:
            return CheckinResponse(
                ok=False,
                resensitize=False,
                magnetic_media=None,
                alert=False,
                transaction_date=now,
                institution_id=self.library.institution_id,
                item_identifier=request.item_identifier,
                screen_messages=("Item not found",),
            )
        previous = item.holder
        item.holder = None
        item.due = None
        item.renewals = 0
        alert = bool(item.holds)
        messages = ("Item was not checked out",) if previous is None else ()
        if alert:
            messages = (*messages, "Hold waiting: put it on the hold shelf")
        return CheckinResponse(
            ok=True,
            resensitize=not alert,
            magnetic_media=False,
            alert=alert,
            transaction_date=now,
            institution_id=self.library.institution_id,
            item_identifier=item.id,
            permanent_location=item.location,
            title_identifier=item.title,
            patron_identifier=previous,
            media_type=item.media_type,
            screen_messages=messages,
            extensions=(("CV", "01"), ("CY", item.holds[0])) if alert else (),
        )

    def _renew_one(
        self,
        patron_id: str,
        item: SimItem | None,
        now: datetime,
        offline_due: datetime | None = None,
    ) -> str:
        if item is None:
            return "Item not found"
        if item.holder != patron_id:
            return "Item is not checked out to this patron"
        if item.holds:
            return "Item is on hold for another patron"
        if item.renewals >= self.library.max_renewals:
            return "Renewal limit reached"
        item.renewals += 1
        item.due = offline_due or (now + timedelta(days=self.library.loan_days)).replace(
            hour=23, minute=59, second=59
        )
        return ""

    def _renew(self, request: RenewRequest, now: datetime) -> RenewResponse:
        item = self.library.items.get(request.item_identifier or "")
        problem = (
            "Patron not found"
            if request.patron_identifier not in self.library.patrons
            else self._renew_one(
                request.patron_identifier,
                item,
                now,
                request.nb_due_date if request.no_block else None,
            )
        )
        return RenewResponse(
            ok=not problem,
            renewal_ok=not problem,
            magnetic_media=False if item is not None else None,
            desensitize=not problem,
            transaction_date=now,
            institution_id=self.library.institution_id,
            patron_identifier=request.patron_identifier,
            item_identifier=request.item_identifier or "",
            title_identifier=item.title if item is not None else "",
            due_date=self._due_text(item) if not problem and item is not None else "",
            screen_messages=(problem,)
            if problem
            else (f"Due {item.due:%Y-%m-%d}",)
            if item and item.due
            else (),
        )

    def _renew_all(self, request: RenewAllRequest, now: datetime) -> RenewAllResponse:
        renewed, unrenewed = [], []
        for item in self.library.items.values():
            if item.holder == request.patron_identifier:
                problem = self._renew_one(request.patron_identifier, item, now)
                if problem:
                    unrenewed.append(f"{item.id} {problem}")
                else:
                    renewed.append(item.id)
        return RenewAllResponse(
            ok=request.patron_identifier in self.library.patrons,
            renewed_count=len(renewed),
            unrenewed_count=len(unrenewed),
            transaction_date=now,
            institution_id=self.library.institution_id,
            renewed_items=tuple(renewed),
            unrenewed_items=tuple(unrenewed),
        )

    # --- items, holds, fees -------------------------------------------------------------------

    def _item_information(self, item_id: str, now: datetime) -> ItemInformationResponse:
        item = self.library.items.get(item_id)
        if item is None:
            return ItemInformationResponse(
                circulation_status=CirculationStatus.OTHER,
                security_marker=SecurityMarker.NONE,
                fee_type=1,
                transaction_date=now,
                item_identifier=item_id,
                screen_messages=("Item not found",),
            )
        if item.holder is not None:
            status = CirculationStatus.CHARGED
        elif item.holds:
            status = CirculationStatus.WAITING_ON_HOLD_SHELF
        else:
            status = CirculationStatus.AVAILABLE
        return ItemInformationResponse(
            circulation_status=status,
            security_marker=SecurityMarker.TATTLE_TAPE,
            fee_type=1,
            transaction_date=now,
            hold_queue_length=len(item.holds),
            due_date=self._due_text(item) or None,
            item_identifier=item.id,
            title_identifier=item.title,
            owner=self.library.institution_id,
            media_type=item.media_type,
            permanent_location=item.location,
            current_location=item.location if item.holder is None else "on loan",
            item_properties=item.properties or None,
        )

    def _item_status_update(
        self, request: ItemStatusUpdateRequest, now: datetime
    ) -> ItemStatusUpdateResponse:
        item = self.library.items.get(request.item_identifier)
        if item is not None:
            item.properties = request.item_properties
        return ItemStatusUpdateResponse(
            item_properties_ok=item is not None,
            transaction_date=now,
            item_identifier=request.item_identifier,
            title_identifier=item.title if item is not None else None,
            item_properties=request.item_properties if item is not None else None,
            screen_messages=() if item is not None else ("Item not found",),
        )

    def _hold(self, request: HoldRequest, now: datetime) -> HoldResponse:
        item = self.library.items.get(request.item_identifier or "")
        patron = self.library.patrons.get(request.patron_identifier)
        problem = "Patron not found" if patron is None else "Item not found" if item is None else ""
        position = None
        if not problem and item is not None:
            match request.hold_mode:
                case HoldMode.ADD | HoldMode.CHANGE:
                    if request.patron_identifier not in item.holds:
                        item.holds.append(request.patron_identifier)
                    position = item.holds.index(request.patron_identifier) + 1
                case HoldMode.DELETE:
                    if request.patron_identifier in item.holds:
                        item.holds.remove(request.patron_identifier)
                case unreachable:
                    assert_never(unreachable)
        return HoldResponse(
            ok=not problem,
            available=item is not None and item.holder is None,
            transaction_date=now,
            queue_position=position,
            pickup_location=request.pickup_location,
            institution_id=self.library.institution_id,
            patron_identifier=request.patron_identifier,
            item_identifier=request.item_identifier,
            title_identifier=item.title if item is not None else None,
            screen_messages=(problem,) if problem else (),
        )

    def _fee_paid(self, request: FeePaidRequest, now: datetime) -> FeePaidResponse:
        patron = self.library.patrons.get(request.patron_identifier)
        try:
            amount = Decimal(request.fee_amount)
        except InvalidOperation:
            amount = Decimal(-1)
        accepted = patron is not None and amount > 0
        if accepted and patron is not None:
            patron.fines = max(Decimal(0), patron.fines - amount)
        return FeePaidResponse(
            payment_accepted=accepted,
            transaction_date=now,
            institution_id=self.library.institution_id,
            patron_identifier=request.patron_identifier,
            transaction_id=request.transaction_id,
            screen_messages=() if accepted else ("Payment not accepted",),
        )

    def _enable(self, request: PatronEnableRequest, now: datetime) -> PatronEnableResponse:
        patron = self.library.patrons.get(request.patron_identifier)
        if patron is not None:
            patron.blocked = False
        status = self._patron_status(request.patron_identifier, None, now)
        return PatronEnableResponse(
            patron_status=status.patron_status,
            language=Language.ENGLISH,
            transaction_date=now,
            institution_id=self.library.institution_id,
            patron_identifier=request.patron_identifier,
            personal_name=status.personal_name,
            valid_patron=status.valid_patron,
        )
