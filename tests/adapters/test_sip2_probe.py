"""The SIP2 probe against the simulated ILS, served in each dialect it can speak."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from zoneinfo import ZoneInfo

import pytest
import trio

from adapters.ils.sip2_link import Endpoint
from adapters.ils.sip2_probe import ProbeTarget, Sip2Probe, guess_charset, probe_sip2
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.sip2_server import serve_simulator
from protocols.sip2 import (
    Charset,
    CirculationStatus,
    Dialect,
    ErrorDetection,
    SupportedMessages,
    Terminator,
)
from tests.helpers.services import free_port

PASSWORD = "s3cret"
PATRON = "21001000000001"
ITEM = "31001000000001"
ACCENTED = "Zoë Ågren"
LF_GRACE_S = 0.02
"""On loopback a CRLF's two bytes arrive together: no need to wait long for the LF."""


async def _probe(
    dialect: Dialect,
    error_detection: ErrorDetection,
    *,
    password: str = PASSWORD,
    patron: str | None = PATRON,
    item: str | None = ITEM,
) -> Sip2Probe:
    library = packaged_library("alpha")
    library.patrons[PATRON].name = ACCENTED
    ils = SimulatedIls(library, PASSWORD)
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(
            partial(serve_simulator, ils, dialect=dialect, error_detection=error_detection)
        )
        target = ProbeTarget(
            endpoint=Endpoint(host, port),
            login=library.login,
            password=password,
            institution_id="alpha",
            test_patron=patron,
            test_pin="1234" if patron else None,
            test_item=item,
            timeout_s=5.0,
            lf_grace_s=LF_GRACE_S,
        )
        with trio.fail_after(20):
            result = await probe_sip2(target)
        nursery.cancel_scope.cancel()
    return result


async def test_the_default_dialect() -> None:
    """CR, cp850 (seen in a name), checksums checked when sent, local dates in UTC's
    zone, every message supported, the test patron and item answered."""
    found = await _probe(Dialect(strict=True), ErrorDetection.AUTO)
    assert found.ok, found.problems
    assert found.terminator == "CR"
    assert found.error_detection == "auto"
    assert found.sequence_echoed is True
    assert found.login_ok is True
    assert found.charset == "cp850"
    assert found.dates_in_utc is False
    assert found.clock_offset_s == 0
    assert found.institution_id == "alpha"
    assert found.supported == SupportedMessages(0xFFFF)
    assert found.patron is not None
    assert found.patron.valid_patron is True
    assert found.patron.valid_patron_password is True
    assert found.item is not None
    assert found.item.circulation_status == CirculationStatus.AVAILABLE


async def test_crlf_utf8_utc_and_required_checksums() -> None:
    """A server ending its frames with CRLF, writing UTF-8 and UTC dates, and answering
    a frame without a trailer with 96."""
    dialect = Dialect(strict=True, terminator=Terminator.CRLF, charset=Charset.UTF8, utc_dates=True)
    found = await _probe(dialect, ErrorDetection.REQUIRED)
    assert found.ok, found.problems
    assert (found.terminator, found.error_detection, found.charset) == ("CRLF", "required", "utf-8")
    assert found.dates_in_utc is True
    assert found.clock_offset_s is None
    assert found.sequence_echoed is True


async def test_latin1_without_error_detection_and_a_local_zone() -> None:
    """A server that ignores trailers, writes latin-1 and local time an hour ahead."""
    dialect = Dialect(strict=True, charset=Charset.LATIN1, timezone=ZoneInfo("Europe/Paris"))
    found = await _probe(dialect, ErrorDetection.OFF)
    assert found.ok, found.problems
    assert (found.error_detection, found.charset) == ("off", "latin-1")
    assert found.sequence_echoed is None
    assert found.clock_offset_s in (3600, 7200)  # CET or CEST, whenever the test runs


async def test_a_refused_login_stops_the_probe() -> None:
    """A wrong password: the dialect is known, the login refused, nothing else asked."""
    found = await _probe(Dialect(strict=True), ErrorDetection.AUTO, password="wrong")
    assert not found.ok
    assert found.login_ok is False
    assert found.terminator == "CR"
    assert found.supported is None
    assert "refused the login" in found.problems[0]


async def test_unknown_patron_and_item_are_answers_not_failures() -> None:
    """A card and an item the ILS does not know are reported as such."""
    library_patron, library_item = "21001999999999", "31001999999999"
    found = await _probe(
        Dialect(strict=True), ErrorDetection.AUTO, patron=library_patron, item=library_item
    )
    assert found.ok
    assert found.patron is not None
    assert found.patron.valid_patron is False
    assert found.item is not None
    assert found.item.screen_messages == ("Item not found",)


async def test_nothing_listening() -> None:
    """A closed port is a problem naming the endpoint, found at once."""
    port = free_port()
    with trio.fail_after(10):
        found = await probe_sip2(ProbeTarget(endpoint=Endpoint("127.0.0.1", port)))
    assert not found.connected
    assert len(found.problems) == 1
    assert found.problems[0].startswith(f"cannot connect to 127.0.0.1:{port}: ")


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        ([b"24AEPlain"], None),
        (["Zoë".encode()], "utf-8"),
        (["Zoë".encode("cp850")], "cp850"),
        (["Zoé".encode("latin-1")], "latin-1"),
    ],
)
def test_guess_charset(frames: list[bytes], expected: str | None) -> None:
    """ASCII tells nothing; UTF-8 is recognised; 0x80-0x9F means cp850; else latin-1."""
    assert guess_charset(frames)[0] == expected


# --- servers the simulator cannot play ------------------------------------------------
# Each runs the simulated ILS's own engine behind a framing quirk seen in the field
# (only the bytes on the wire are the test's).


@dataclass(frozen=True)
class Quirks:
    """How the server frames its answers, against the standard."""

    crlf_only: bool = False
    """Only frames ending in CRLF end (a lone CR is part of the next frame)."""
    no_trailers: bool = False
    """96 to every frame carrying AY/AZ."""
    bad_checksum: bool = False
    """Answers carry an AZ that does not match."""
    garbage: bool = False
    """Answers are not SIP2."""


async def _quirky(stream: trio.SocketStream, *, ils: SimulatedIls, quirks: Quirks) -> None:
    from datetime import UTC, datetime

    from protocols.sip2 import decode, encode

    buffer = b""
    ending = b"\r\n" if quirks.crlf_only else b"\r"
    async with stream:
        while data := await stream.receive_some(4096):
            buffer += data
            while ending in buffer:
                frame, _, buffer = buffer.partition(ending)
                if quirks.crlf_only:
                    # Frames ending in a lone CR never end: they run into the next.
                    frame = frame.split(b"\r")[-1]
                decoded = decode(frame, Dialect(), verify=False)
                if quirks.garbage:
                    await stream.send_all(b"?? not sip2\r")
                    continue
                if decoded.checksum is not None and quirks.no_trailers:
                    await stream.send_all(b"96\r")
                    continue
                answer = ils.handle(decoded.message, datetime.now(UTC))
                trailer = decoded.checksum is not None
                reply = encode(
                    answer, Dialect(), sequence=decoded.sequence, error_detection=trailer
                )
                if quirks.bad_checksum and trailer:
                    reply = reply[:-5] + b"0000\r"
                await stream.send_all(reply[:-1] + ending)


async def _probe_quirky(quirks: Quirks, timeout_s: float = 2.0) -> Sip2Probe:
    ils = SimulatedIls(packaged_library("alpha"), PASSWORD)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, partial(_quirky, ils=ils, quirks=quirks), 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        target = ProbeTarget(
            endpoint=Endpoint("127.0.0.1", port),
            login="gateway",
            password=PASSWORD,
            test_item=ITEM,
            timeout_s=timeout_s,
            lf_grace_s=LF_GRACE_S,
        )
        with trio.fail_after(20):
            found = await probe_sip2(target)
        nursery.cancel_scope.cancel()
    return found


async def test_a_server_that_needs_crlf() -> None:
    """No answer to CR-terminated frames: a new connection with CRLF works, and the
    time-out on CR is noted."""
    found = await _probe_quirky(Quirks(crlf_only=True), timeout_s=0.3)
    assert found.ok, found.problems
    assert found.terminator == "CRLF"
    assert found.notes == ["no answer within 0.3s to frames ending CR"]


async def test_a_server_that_refuses_trailers() -> None:
    """A 96 to every frame with AY/AZ: the probe goes on without them ("off")."""
    found = await _probe_quirky(Quirks(no_trailers=True))
    assert found.ok, found.problems
    assert found.error_detection == "off"
    assert found.item is not None


async def test_a_server_with_wrong_checksums() -> None:
    """Its AZ does not match its frames: reported as a problem."""
    found = await _probe_quirky(Quirks(bad_checksum=True))
    assert found.login_ok is True
    assert found.error_detection == "off"
    assert found.problems == ["the server's checksum (AZ) does not match its frame"]


async def test_a_server_that_does_not_speak_sip2() -> None:
    """An answer that is not SIP2: the probe stops and says so."""
    found = await _probe_quirky(Quirks(garbage=True))
    assert not found.ok
    assert found.problems[0].startswith("the first answer cannot be read")
