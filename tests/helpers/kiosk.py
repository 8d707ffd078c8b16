"""A test kiosk: our SIP2 codec in the SC role over a real socket, plus raw access."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

import trio

from protocols.sip2 import (
    NEED_DATA,
    CheckinRequest,
    CheckoutRequest,
    ConnectionFailed,
    FrameDiscarded,
    Language,
    LoginRequest,
    LoginResponse,
    Message,
    MessageReceived,
    PatronInformationRequest,
    PatronStatusRequest,
    RenewRequest,
    ScConnection,
    SendReply,
    Summary,
)

if TYPE_CHECKING:
    from gateway.demo.network import Demo

M = TypeVar("M", bound=Message)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

OPEN: list[Kiosk] = []
"""Every kiosk a test opened; the fixture closes them all (``close_all``)."""


async def close_all() -> None:
    while OPEN:
        await OPEN.pop().aclose()


class Kiosk:
    """One kiosk connection to the gateway."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = ScConnection()
        OPEN.append(self)

    @classmethod
    async def connect(cls, demo: Demo) -> Kiosk:
        host, port = demo.bound.sip2[0]
        return cls(await trio.open_tcp_stream(host, port))

    @classmethod
    async def at(cls, host: str, port: int, login: str) -> Kiosk:
        """A kiosk logged in (password "demo") to a gateway at ``host:port``."""
        kiosk = cls(await trio.open_tcp_stream(host, port))
        answer = await kiosk.request(LoginRequest(login_user_id=login, login_password="demo"))
        assert isinstance(answer, LoginResponse)
        assert answer.ok
        return kiosk

    @classmethod
    async def logged_in(cls, demo: Demo, login: str) -> Kiosk:
        kiosk = await cls.connect(demo)
        answer = await kiosk.request(LoginRequest(login_user_id=login, login_password="demo"))
        assert isinstance(answer, LoginResponse)
        assert answer.ok
        return kiosk

    async def request(self, message: Message) -> Message:
        """Send a request and return the answer (the codec handles 96/97)."""
        await self.stream.send_all(self.conn.send(message))
        return await self._answer()

    async def expect(self, message: Message, kind: type[M]) -> M:
        answer = await self.request(message)
        assert isinstance(answer, kind), answer
        return answer

    async def _answer(self) -> Message:
        while True:
            event = self.conn.next_event()
            if event is NEED_DATA:
                data = await self.stream.receive_some(65536)
                if not data:
                    raise EOFError("the gateway closed the connection")
                self.conn.receive_data(data)
                continue
            match event:
                case MessageReceived(message=answer):
                    return answer
                case SendReply(data=data):
                    await self.stream.send_all(data)
                case FrameDiscarded():
                    continue
                case ConnectionFailed(error=error):
                    raise AssertionError(f"kiosk link failed: {error}")

    async def raw(self, data: bytes) -> bytes:
        """Write bytes as they are and return the next frame the gateway sends."""
        await self.stream.send_all(data)
        return await self.read_frame()

    async def read_frame(self) -> bytes:
        buffer = b""
        while not buffer.endswith(b"\r"):
            chunk = await self.stream.receive_some(1)
            if not chunk:
                raise EOFError("the gateway closed the connection")
            buffer += chunk
        return buffer

    async def closed(self) -> bool:
        """Whether the gateway has closed the connection (waits for it)."""
        try:
            return await self.stream.receive_some(1) == b""
        except trio.BrokenResourceError:
            return True

    async def aclose(self) -> None:
        await self.stream.aclose()


def status(patron: str, pin: str = "1234", ao: str = "") -> PatronStatusRequest:
    return PatronStatusRequest(
        language=Language.ENGLISH,
        transaction_date=NOW,
        institution_id=ao,
        patron_identifier=patron,
        patron_password=pin,
    )


def information(patron: str, pin: str = "1234") -> PatronInformationRequest:
    return PatronInformationRequest(
        language=Language.ENGLISH,
        transaction_date=NOW,
        summary=Summary.CHARGED_ITEMS,
        patron_identifier=patron,
        patron_password=pin,
    )


def checkout(
    patron: str, item: str, pin: str | None = "1234", when: datetime = NOW
) -> CheckoutRequest:
    return CheckoutRequest(
        sc_renewal_policy=True,
        no_block=False,
        transaction_date=when,
        nb_due_date=when,
        patron_identifier=patron,
        item_identifier=item,
        patron_password=pin,
    )


def renew(patron: str, item: str, pin: str | None = "1234") -> RenewRequest:
    return RenewRequest(
        third_party_allowed=False,
        no_block=False,
        transaction_date=NOW,
        nb_due_date=NOW,
        patron_identifier=patron,
        item_identifier=item,
        patron_password=pin,
    )


def checkin(item: str, location: str = "desk") -> CheckinRequest:
    return CheckinRequest(
        no_block=False,
        transaction_date=NOW,
        return_date=NOW,
        current_location=location,
        item_identifier=item,
    )
