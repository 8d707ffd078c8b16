"""``bench/relay.py``'s rungs: each relays whole SIP2 exchanges to a real simulated ILS.

The ladder (``bench/passthrough.py --relay-work``) is only a yardstick if every rung
does the work it claims and still answers as the ILS does; these checks run each rung
between a kiosk and the demo's simulated ILS over real sockets.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import pytest
import structlog
import trio

from bench.relay import WORK, relay_connection, serve
from gateway.demo.simulator.data import packaged_library
from gateway.demo.simulator.engine import SimulatedIls
from gateway.demo.simulator.sip2_server import serve_simulator
from protocols.sip2 import (
    ItemInformationRequest,
    ItemInformationResponse,
    Language,
    LoginRequest,
    LoginResponse,
    PatronStatusRequest,
    PatronStatusResponse,
    decode,
    encode,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    """The ``log`` rung configures logging for its process: put it back afterwards."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


PASSWORD = "ils-secret"
PATRON, ITEM = "21001000000001", "31001000000001"


async def _read_frame(stream: trio.SocketStream, buffer: bytearray) -> bytes:
    while (end := buffer.find(b"\r")) < 0:
        data = await stream.receive_some(4096)
        assert data, "the relay closed the connection"
        buffer += data
    frame = bytes(buffer[: end + 1])
    del buffer[: end + 1]
    return frame


@pytest.mark.parametrize("work", WORK)
async def test_every_rung_relays_a_kiosk_session_to_the_ils(work: str, tmp_path: Path) -> None:
    """Login, patron status with PIN and item information come back as the ILS answers
    them, with the kiosk's sequence numbers; the ``log`` rung writes a line a request."""
    library = packaged_library("alpha")
    ils = SimulatedIls(library, PASSWORD)
    now = datetime.now(UTC)
    requests = [
        LoginRequest(login_user_id=library.login, login_password=PASSWORD),
        PatronStatusRequest(
            language=Language.ENGLISH,
            transaction_date=now,
            institution_id="alpha",
            patron_identifier=PATRON,
            patron_password="1234",
        ),
        ItemInformationRequest(transaction_date=now, institution_id="alpha", item_identifier=ITEM),
    ]
    port_file = tmp_path / "port"
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(partial(serve_simulator, ils))
            relay_port = await nursery.start(partial(serve, (host, port), port_file, work))
            assert int(port_file.read_text()) == relay_port
            kiosk = await trio.open_tcp_stream("127.0.0.1", relay_port)
            answers = []
            buffer = bytearray()
            for sequence, request in enumerate(requests):
                await kiosk.send_all(encode(request, sequence=sequence, error_detection=True))
                answers.append(decode(await _read_frame(kiosk, buffer)))
            await kiosk.aclose()
            nursery.cancel_scope.cancel()
    login, status, item = (a.message for a in answers)
    assert isinstance(login, LoginResponse)
    assert login.ok
    assert isinstance(status, PatronStatusResponse)
    assert status.patron_identifier == PATRON
    assert status.valid_patron_password
    assert isinstance(item, ItemInformationResponse)
    assert item.item_identifier == ITEM
    assert [a.sequence for a in answers] == [0, 1, 2]
    log = tmp_path / "port.log"
    if work == "log":
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        assert [line["code"] for line in lines if line["event"] == "request"] == ["93", "23", "17"]
    else:
        assert not log.exists()


async def test_a_rung_that_reads_frames_drops_a_frame_with_a_bad_checksum() -> None:
    """A frame whose checksum is wrong never reaches the ILS (the rung checks it, as a
    gateway must before acting); the bare relay would have passed it on."""
    forwarded: list[bytes] = []

    async def ils_side(stream: trio.SocketStream) -> None:
        forwarded.append(await stream.receive_some(4096))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, ils_side, 0, host="127.0.0.1"))
            upstream = listeners[0].socket.getsockname()[:2]
            relay_listeners = await nursery.start(
                partial(
                    trio.serve_tcp,
                    partial(relay_connection, upstream=upstream, work="frames"),
                    0,
                    host="127.0.0.1",
                )
            )
            kiosk = await trio.open_tcp_stream(*relay_listeners[0].socket.getsockname()[:2])
            async with kiosk:
                await kiosk.send_all(b"9300CNgateway|COsecret|AY0AZ0000\r")
                assert await kiosk.receive_some(4096) == b""  # the rung gave up on the kiosk
            nursery.cancel_scope.cancel()
    assert forwarded in ([], [b""])
