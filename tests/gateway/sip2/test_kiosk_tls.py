"""Kiosk connections on a TLS listener, over in-memory streams with trio's clock: the
handshake comes before any frame, within the listener's time limit, and a connection
in its handshake counts against the caps."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from adapters.tls import ServerTls
from config.models import LimitSettings, Sip2Listener
from gateway.sip2.kiosk import KioskServer
from gateway.telemetry.metrics import Metrics
from tests.helpers.tls import Authority

if TYPE_CHECKING:
    from pathlib import Path


def _server(limits: LimitSettings) -> tuple[KioskServer, Metrics]:
    settings = SimpleNamespace(
        idle_timeout_s=60.0, login_required=True, max_frame_size=32_768, limits=limits
    )
    metrics = Metrics()
    dispatcher = SimpleNamespace()  # never reached: no frame gets past the handshake
    server = KioskServer(cast("Any", dispatcher), lambda: cast("Any", settings), metrics)
    return server, metrics


async def test_a_silent_kiosk_holds_a_slot_only_for_the_handshake_time(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Connected and silent: counted against the caps (a second one from its address
    is refused) until ``handshake_timeout_s``, then closed and counted by kind."""
    tls = ServerTls("gateway.sip2[0].tls", Authority.new(tmp_path).tls("gw", handshake_timeout_s=4))
    server, metrics = _server(LimitSettings(max_connections_per_address=1))
    silent, gateway_side = trio.testing.memory_stream_pair()
    second, second_side = trio.testing.memory_stream_pair()
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            started = trio.current_time()
            nursery.start_soon(server.serve, gateway_side, Sip2Listener(), tls)
            await trio.testing.wait_all_tasks_blocked()
            assert server.open_connections == 1
            await server.serve(second_side, Sip2Listener(), tls)  # over the per-address cap
            assert await second.receive_some(1) == b""
            assert await silent.receive_some(1) == b""
            closed_after = trio.current_time() - started
    assert closed_after == pytest.approx(4)
    assert server.open_connections == 0
    failed = metrics.registry.get_sample_value(
        "interlend_tls_handshakes_failed_total",
        {"listener": "gateway.sip2[0].tls", "kind": "timeout"},
    )
    refused = metrics.registry.get_sample_value(
        "interlend_sip2_connections_refused_total", {"cap": "per_address"}
    )
    assert failed == 1
    assert refused == 1
    [line] = [e for e in logs if e["event"] == "kiosk TLS handshake failed"]
    assert line["kind"] == "timeout"
    assert line["listener"] == "gateway.sip2[0].tls"
