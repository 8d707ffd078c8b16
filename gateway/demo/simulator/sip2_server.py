"""The simulated ILS on a real socket: a strict SIP2 server (ACS role) on trio.

``serve_simulator`` binds, reports the bound address through ``task_status`` and then
serves until cancelled.  Every connection must log in first; frames are parsed
strictly; bad frames get 96 as the codec decides.  ``SimulatedIls.delay_s`` slows
every answer down, so tests can play a slow ILS; stopping the task plays a dead one.

Test hooks, in the order a request meets them: ``SimulatedIls.on_arrival`` hears of
it, ``delay_s`` passes, ``SimulatedIls.gate`` (when set to an event, and the request's
code is among ``gated_codes`` unless that is ``None``) is waited for, then the request
is executed and answered.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import structlog
import trio

from adapters.tls import server_context
from adapters.wire import Wire
from gateway.runtime.clock import utc_now
from protocols.sip2 import (
    NEED_DATA,
    AcsConnection,
    ConnectionFailed,
    Dialect,
    ErrorDetection,
    FrameDiscarded,
    MessageReceived,
    SendReply,
)

if TYPE_CHECKING:
    from config.models import TlsSettings
    from gateway.demo.simulator.engine import SimulatedIls

__all__ = ["serve_simulator"]

log = structlog.get_logger("interlend.simulator")

STRICT = Dialect(strict=True)
RECEIVE_SIZE = 65536


async def _connection(
    stream: trio.abc.Stream, ils: SimulatedIls, dialect: Dialect, error_detection: ErrorDetection
) -> None:
    conn = AcsConnection(dialect, error_detection, login_required=True)
    wire = Wire(stream)
    ils.connections += 1
    try:
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                data = await wire.receive(RECEIVE_SIZE)
                if not data:
                    return
                conn.receive_data(data)
                continue
            match event:
                case MessageReceived(message=request):
                    if ils.on_arrival is not None:
                        ils.on_arrival(request)
                    if ils.delay_s:
                        await trio.sleep(ils.delay_s)
                    gate, codes = ils.gate, ils.gated_codes
                    if gate is not None and (codes is None or request.code in codes):
                        await gate.wait()
                    answer = ils.handle(request, utc_now())
                    await wire.send_all(conn.send(answer))
                case SendReply(data=reply):
                    await wire.send_all(reply)
                case FrameDiscarded(error=error):
                    log.info("frame ignored", library=ils.library.institution_id, error=str(error))
                case ConnectionFailed(error=error):
                    log.info(
                        "connection closed", library=ils.library.institution_id, error=str(error)
                    )
                    return
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        return  # also a TLS handshake that failed (ssl.SSLError is an OSError)
    except Exception:
        log.exception("simulated ILS connection failed", library=ils.library.institution_id)
    finally:
        ils.connections -= 1
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.aclose()


async def serve_simulator(
    ils: SimulatedIls,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    dialect: Dialect = STRICT,
    error_detection: ErrorDetection = ErrorDetection.AUTO,
    tls: TlsSettings | None = None,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the simulated ILS until cancelled; reports ``(host, port)`` once bound.
    With ``tls`` it serves SIP2 over TLS (a ``tls://`` endpoint)."""
    plain = await trio.open_tcp_listeners(port, host=host)
    bound = plain[0].socket.getsockname()
    listeners: list[trio.abc.Listener[trio.abc.Stream]] = list(plain)
    if tls is not None:
        context, _ = server_context(tls)
        listeners = [trio.SSLListener(one, context) for one in plain]
    task_status.started((host, int(bound[1])))

    async def handler(stream: trio.abc.Stream) -> None:
        await _connection(stream, ils, dialect, error_detection)

    await trio.serve_listeners(handler, listeners)
