"""The SIP2 codec's self-check, run by ``interlend selfcheck``.

It proves on the user's own machine that the codec behaves as the standard says: the
published checksum vectors, every message in every charset, and a kiosk talking to an
ACS through the two connection state machines, including a corrupted frame (answered
with 96), a corrupted answer (the kiosk sends 97) and a repeated request (answered
again, not executed twice).  Every frame is logged with PINs masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from protocols.sip2 import (
    AcsConnection,
    Charset,
    CheckinRequest,
    CheckinResponse,
    CheckoutRequest,
    CheckoutResponse,
    Dialect,
    ErrorDetection,
    Event,
    LocalProtocolError,
    LoginRequest,
    LoginResponse,
    Message,
    MessageReceived,
    Pending,
    ReplyCause,
    ScConnection,
    SendReply,
    Unencodable,
    checksum,
    decode,
    encode,
    redact_frame,
)
from protocols.sip2.samples import sample_messages

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["SelfCheck", "run_selfcheck"]

log = structlog.get_logger("interlend.selfcheck")

# Published vectors (reference §1.3): prefix through "AZ" -> checksum.
GOLDEN_CHECKSUMS = {
    b"9900302.00AY1AZ": b"FCA5",
    b"97AZ": b"FEF5",
    b"96AZ": b"FEF6",
    b"9900802.00AY1AZ": b"FCA0",
}


@dataclass
class SelfCheck:
    """The outcome of the self-check."""

    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, **details: object) -> None:
        """Record one check and log it."""
        (self.passed if ok else self.failed).append(name)
        if ok:
            log.info("check passed", check=name, **details)
        else:
            log.error("check failed", check=name, **details)


def _checksums(result: SelfCheck) -> None:
    for prefix, expected in GOLDEN_CHECKSUMS.items():
        result.check(
            f"checksum {prefix.decode()}", checksum(prefix) == expected, expected=expected.decode()
        )


def _round_trips(result: SelfCheck) -> None:
    for charset in (Charset.CP850, Charset.LATIN1, Charset.UTF8):
        dialect = Dialect(charset=charset)
        failures = [
            m.code
            for m in sample_messages()
            if decode(encode(m, dialect, sequence=7, error_detection=True), dialect).message != m
        ]
        result.check(f"31 messages round trip in {charset.value}", not failures, failures=failures)
    title = CheckoutResponse(
        ok=True,
        renewal_ok=False,
        magnetic_media=None,
        desensitize=None,
        transaction_date=None,
        patron_identifier="21001000000001",
        item_identifier="31002000000001",
        title_identifier="Les Misérables",
    )
    try:
        encode(title, Dialect(charset=Charset.ASCII))
        refused = False
    except LocalProtocolError:
        refused = True
    result.check("an unencodable character is refused, not dropped", refused)
    spelled = encode(title, Dialect(charset=Charset.ASCII, unencodable=Unencodable.TRANSLITERATE))
    result.check(
        "transliteration is used only when the dialect chooses it", b"AJLes Miserables|" in spelled
    )


def _deliver(data: bytes, to: AcsConnection | ScConnection) -> Event | Pending:
    to.receive_data(data)
    return to.next_event()


def _conversation(result: SelfCheck) -> None:
    dialect = Dialect()
    kiosk = ScConnection(dialect, ErrorDetection.REQUIRED)
    acs = AcsConnection(dialect, ErrorDetection.REQUIRED)
    when = datetime.now(UTC).replace(microsecond=0)
    executed: list[str] = []

    def serve(event: Event | Pending, answer: Callable[[Message], Message]) -> bytes:
        assert isinstance(event, MessageReceived), event
        executed.append(event.message.code)
        return acs.send(answer(event.message))

    login = kiosk.send(LoginRequest(login_user_id="beta-kiosk", login_password="demo"))
    log.info("kiosk sends", frame=login)
    reply = serve(_deliver(login, acs), lambda _: LoginResponse(ok=True))
    event = _deliver(reply, kiosk)
    result.check(
        "login accepted",
        isinstance(event, MessageReceived) and event.message == LoginResponse(ok=True),
        reply=reply,
    )

    checkout = kiosk.send(
        CheckoutRequest(
            sc_renewal_policy=True,
            no_block=False,
            transaction_date=when,
            nb_due_date=None,
            institution_id="beta",
            patron_identifier="21001000000001",
            item_identifier="31002000000001",
            patron_password="1234",
        )
    )
    corrupted = checkout.replace(b"31002", b"31092")
    event = _deliver(corrupted, acs)
    log.info("kiosk frame corrupted on the wire", frame=corrupted)
    result.check(
        "corrupted request answered with 96",
        isinstance(event, SendReply) and event.data == b"96AZFEF6\r",
    )
    assert isinstance(event, SendReply)
    event = _deliver(event.data, kiosk)
    result.check(
        "kiosk resends after 96",
        isinstance(event, SendReply) and event.data == checkout,
    )

    def lend(message: Message) -> Message:
        assert isinstance(message, CheckoutRequest)
        return CheckoutResponse(
            ok=True,
            renewal_ok=False,
            magnetic_media=False,
            desensitize=True,
            transaction_date=when,
            institution_id="beta",
            patron_identifier=message.patron_identifier,
            item_identifier=message.item_identifier,
            title_identifier="Les Misérables",
            due_date="2026-12-13",
        )

    answer = serve(_deliver(checkout, acs), lend)
    event = _deliver(answer[:-3] + b"0\r", kiosk)
    result.check(
        "corrupted answer gets a 97",
        isinstance(event, SendReply) and event.data == b"97AZFEF5\r",
    )
    assert isinstance(event, SendReply)
    event = _deliver(event.data, acs)
    result.check(
        "97 is answered with the last response",
        isinstance(event, SendReply)
        and event.cause is ReplyCause.RESEND_REQUESTED
        and event.data == answer,
    )
    event = _deliver(answer, kiosk)
    result.check("kiosk accepts the resent answer", isinstance(event, MessageReceived))

    checkin = kiosk.send(
        CheckinRequest(
            no_block=False,
            transaction_date=when,
            return_date=when,
            current_location="beta",
            institution_id="beta",
            item_identifier="31002000000001",
        )
    )
    first = serve(
        _deliver(checkin, acs),
        lambda m: CheckinResponse(
            ok=True,
            resensitize=True,
            magnetic_media=False,
            alert=False,
            transaction_date=when,
            institution_id="beta",
            item_identifier="31002000000001",
            permanent_location="beta",
        ),
    )
    again = _deliver(checkin, acs)
    result.check(
        "a repeated request is answered, not executed twice",
        isinstance(again, SendReply)
        and again.cause is ReplyCause.DUPLICATE
        and again.data == first
        and executed.count("09") == 1,
        executed=executed,
    )
    result.check(
        "frames in logs never show the PIN",
        # The PIN's field, not the bare digits: a transaction time such as 16:12:34
        # holds "1234" too.
        "|AD1234|" not in redact_frame(checkout)
        and "|AD***|" in redact_frame(checkout)
        and "|COdemo|" not in redact_frame(login),
        frame=checkout,
    )


def run_selfcheck() -> SelfCheck:
    """Run every check and return the outcome (each check is logged as it runs)."""
    result = SelfCheck()
    _checksums(result)
    _round_trips(result)
    _conversation(result)
    return result
