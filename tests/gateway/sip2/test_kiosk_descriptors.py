"""Every kiosk connection's socket is closed once it ends, however it ends; the
addresses a kiosk server remembers stay bounded.

Real sockets through the gateway's accept loop (``accept_connections``) into
``KioskServer.serve``: kiosks that log in and leave, leave mid-frame, reset the
connection, send bad frames until closed, are over the per-address cap, or are let go
by a drain.  Once every connection's handler has returned, the process holds exactly
the descriptors it held before the first kiosk came (``/proc/self/fd``).
"""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import trio

from config.models import LimitSettings, Sip2Listener
from gateway.app.accept import accept_connections
from gateway.sip2 import kiosk as kiosk_module
from gateway.sip2.kiosk import KioskServer
from gateway.telemetry.metrics import Metrics
from tests.gateway.sip2.test_hot_path import ITEMS, LOGIN, _Answers, _read_frame

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)"
)

BAD_CHECKSUM = b"9900302.00AY1AZ0000\r"
PER_ADDRESS = 2


def _descriptors() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


async def _until_closed(kiosk: trio.SocketStream) -> None:
    """Read until the gateway closes the connection."""
    while await kiosk.receive_some(65536):
        pass


async def test_no_descriptor_outlives_its_kiosk_connection() -> None:
    settings = SimpleNamespace(
        idle_timeout_s=600.0,
        request_timeout_s=10.0,
        login_required=True,
        max_frame_size=32_768,
        limits=LimitSettings(
            max_connections_per_address=PER_ADDRESS,
            max_bad_frames_before_login=1,
            bad_frames_cool_down_s=0,
        ),
    )
    metrics = Metrics()
    server = KioskServer(cast("Any", _Answers()), lambda: cast("Any", settings), metrics)
    finished = 0
    expected = 0
    all_finished = trio.Event()

    async def handler(stream: trio.abc.Stream) -> None:
        nonlocal finished
        try:
            await server.serve(stream, Sip2Listener())
        finally:
            finished += 1
            if finished == expected:
                all_finished.set()

    async def connect() -> trio.SocketStream:
        nonlocal expected
        expected += 1
        return await trio.open_tcp_stream("127.0.0.1", port)

    async def logged_in() -> trio.SocketStream:
        kiosk = await connect()
        await kiosk.send_all(LOGIN)
        assert (await _read_frame(kiosk, bytearray())).startswith(b"941")
        return kiosk

    with trio.fail_after(20):
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        before = _descriptors()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_connections, listeners[0], handler, nursery, metrics)
            # Served, then left by the kiosk: three times.
            for _ in range(3):
                kiosk = await logged_in()
                await kiosk.send_all(ITEMS[0])
                assert (await _read_frame(kiosk, bytearray())).startswith(b"18")
                await kiosk.aclose()
            # Left in the middle of a frame.
            kiosk = await logged_in()
            await kiosk.send_all(ITEMS[1][:20])
            await kiosk.aclose()
            # Reset (RST) instead of closed.
            kiosk = await logged_in()
            kiosk.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await kiosk.aclose()
            # Bad frames before login until the gateway closes it.
            kiosk = await connect()
            await kiosk.send_all(BAD_CHECKSUM * 4)
            await _until_closed(kiosk)
            await kiosk.aclose()
            # Over the per-address cap: closed at once; then the ones holding it leave.
            holding = [await logged_in() for _ in range(PER_ADDRESS)]
            refused = await connect()
            await _until_closed(refused)
            await refused.aclose()
            for kiosk in holding:
                await kiosk.aclose()
            # Logged in and waiting when the gateway drains.
            waiting = [await logged_in() for _ in range(2)]
            server.drain()
            for kiosk in waiting:
                await _until_closed(kiosk)
                await kiosk.aclose()
            await all_finished.wait()
            nursery.cancel_scope.cancel()
        assert _descriptors() == before
        assert server.open_connections == 0
        assert finished == expected == 11
        refused_total = metrics.connections_refused.labels("per_address")._value.get()
        assert refused_total == 1
        for listener in listeners:
            await listener.aclose()


async def test_addresses_cooling_down_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """More addresses in a bad-frames cool-down at once than remembered: the bound
    holds, the latest still cool down, and the first ones are let go early."""
    monkeypatch.setattr(kiosk_module, "REMEMBERED_ADDRESSES", 100)
    settings = SimpleNamespace(limits=LimitSettings(bad_frames_cool_down_s=60))
    server = KioskServer(cast("Any", _Answers()), lambda: cast("Any", settings), Metrics())
    sizes = set()
    for n in range(1_000):
        server._cool_down(f"10.0.{n // 256}.{n % 256}")
        sizes.add(server.cooling_addresses)
    assert max(sizes) == 100
    assert server._admit("10.0.3.231") == "cool_down"  # the 1,000th
    assert server._admit("10.0.0.0") is None  # the first, forgotten
