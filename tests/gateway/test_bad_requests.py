"""A kiosk's bad input is the kiosk's error: it gets a clear answer and never counts
against a member's ILS (over real loopback sockets, the demo network).

The demo data (DESIGN.md): alpha patrons 21001…, PIN 1234; alpha's simulated ILS writes
fields of at most 255 characters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from protocols.sip2 import PatronStatusResponse, checksum

from .kiosk import Kiosk, status

if TYPE_CHECKING:
    from gateway.demo import Demo

ALPHA_PATRON = "21001000000001"
TIMEOUT = 10


async def test_an_unknown_command_gets_96(demo: Demo) -> None:
    """A 2-character command SIP2 does not define is answered with 96 (with or without
    error detection), and the kiosk's next request is served as usual."""
    with trio.fail_after(TIMEOUT):
        kiosk = await Kiosk.logged_in(demo, "alpha-kiosk")
        assert await kiosk.raw(b"XS0\r") == b"96\r"
        body = b"ZZ0000AY5AZ"
        assert await kiosk.raw(body + checksum(body) + b"\r") == b"96AZFEF6\r"
        answer = await kiosk.expect(status(ALPHA_PATRON), PatronStatusResponse)
    assert answer.valid_patron
