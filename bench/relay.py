"""A bare byte relay: the yardstick the gateway's pass-through is measured against.

Run by ``bench/passthrough.py --relay`` in a process of its own (as the gateway runs):
``python bench/relay.py --upstream HOST:PORT --port-file FILE``.  It listens on a free
loopback port, writes that port to ``FILE`` once it listens, and for every connection
it accepts opens one connection to the upstream (the member's ILS) and copies bytes
both ways until either side closes.  Nothing is decoded, logged or counted: whatever
the gateway does beyond this is the gateway's own cost.

The relay moves bytes with the gateway's own transport (``adapters.wire.Wire``: wait
until readable, read once, write at once), so the comparison is the gateway's work
and not a difference of socket handling.  Each direction is its own task, as a relay
that does not know where a message ends must copy whatever arrives.

``--work`` makes it do more of what any SIP2 gateway must, one layer at a time, so
that each layer's cost is measured in the same harness as the gateway (the ladder of
``bench/passthrough.py --relay-work``):

* ``bytes``: the above;
* ``frames``: one task per connection, one message at a time, as the gateway serves
  a kiosk: read the kiosk's frame to its terminator, check its checksum, send it on;
  the same for the answer;
* ``codec``: and decode each frame into a typed message and encode it again (the
  gateway's own SIP2 codec, with the sequence number it came with);
* ``log``: and one JSON line per request through the gateway's logging
  configuration (``hot_line``, to a file) and its two request metrics (a counter and
  a latency histogram).

What the gateway spends beyond ``log`` is its own logic: routing, the PIN gate, the
session, the member's client (pool, bulkhead, balancer, time-outs), the answer.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from functools import partial
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.wire import Wire
from protocols.sip2 import ProtocolError, decode, encode
from protocols.sip2.checksum import checksum_ok

CHUNK = 65536
WORK = ("bytes", "frames", "codec", "log")


async def copy(source: Wire, sink: Wire, done: trio.CancelScope) -> None:
    """Copy bytes from ``source`` to ``sink`` until ``source`` closes or fails."""
    try:
        while True:
            data = await source.receive(CHUNK)
            if not data:
                break
            await sink.send_all(bytes(data))
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        done.cancel()  # one side gone: the relayed connection is over


class Frames:
    """Whole frames from one side of a connection (up to and including the CR)."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self._buffer = bytearray()

    async def next(self) -> bytes | None:
        """The next frame, or ``None`` once the peer has closed."""
        buffer = self._buffer
        while (end := buffer.find(b"\r")) < 0:
            data = await self.wire.receive(CHUNK)
            if not data:
                return None
            buffer += data
        frame = bytes(buffer[: end + 1])
        del buffer[: end + 1]
        return frame


def checked(frame: bytes) -> bytes:
    """``frame`` once its checksum is right (what a gateway checks before acting)."""
    body = frame[:-1]
    if len(body) > 6 and body[-6:-4] == b"AZ" and not checksum_ok(body[:-4], body[-4:]):
        raise ValueError("bad checksum")
    return frame


def recoded(frame: bytes) -> bytes:
    """``frame`` decoded into a typed message and encoded again, trailer and all."""
    read = decode(frame)
    trailer = read.checksum is not None
    return encode(read.message, sequence=read.sequence, error_detection=trailer)


class Accounting:
    """A request's JSON log line and metrics, as the gateway writes them."""

    def __init__(self, log_file: Path) -> None:
        import structlog
        from prometheus_client import CollectorRegistry, Counter, Histogram

        from gateway.telemetry.logs import configure_logging, hot_line

        self._file = log_file.open("a", encoding="utf-8")
        configure_logging(json=True, stream=self._file)
        self._log = structlog.get_logger("interlend.sip2")
        self._hot_line = hot_line
        registry = CollectorRegistry()
        requests = Counter("requests", "requests", ["code", "route", "result"], registry=registry)
        latency = Histogram("latency", "latency", ["code"], registry=registry)
        self._counted = {code: requests.labels(code, "local", "ok") for code in ("23", "17", "93")}
        self._timed = {code: latency.labels(code) for code in ("23", "17", "93")}

    def close(self) -> None:
        self._file.close()

    def request(self, conn: str, code: str, started: float) -> None:
        elapsed = trio.current_time() - started
        self._counted[code].inc()
        self._timed[code].observe(elapsed)
        self._hot_line(
            self._log,
            "request",
            conn=conn,
            terminal="relay",
            member="alpha",
            code=code,
            route="local",
            target="alpha",
            result="ok",
            reason=None,
            patron=None,
            latency_ms=round(elapsed * 1000, 2),
        )


async def serve_messages(
    kiosk: Wire, ils: Wire, work: str, accounting: Accounting | None, conn: str
) -> None:
    """One message at a time: the kiosk's request to the ILS, its answer back.  A frame
    that cannot be read (a wrong checksum, no message) ends the connection."""
    from_kiosk, from_ils = Frames(kiosk), Frames(ils)
    with contextlib.suppress(
        OSError, trio.BrokenResourceError, trio.ClosedResourceError, ValueError, ProtocolError
    ):
        while (request := await from_kiosk.next()) is not None:
            started = trio.current_time()
            request = recoded(request) if work != "frames" else checked(request)
            await ils.send_all(request)
            answer = await from_ils.next()
            if answer is None:
                return
            answer = recoded(answer) if work != "frames" else checked(answer)
            await kiosk.send_all(answer)
            if accounting is not None:
                accounting.request(conn, request[:2].decode("ascii"), started)


async def relay_connection(
    kiosk: trio.SocketStream,
    *,
    upstream: tuple[str, int],
    work: str = "bytes",
    accounting: Accounting | None = None,
) -> None:
    """Join one accepted connection to a fresh upstream connection of its own."""
    async with kiosk:
        try:
            with trio.fail_after(5):
                ils = await trio.open_tcp_stream(*upstream)
        except (OSError, trio.TooSlowError):
            return
        async with ils, trio.open_nursery() as nursery:
            near, far = Wire(kiosk), Wire(ils)
            if work != "bytes":
                conn = f"c{kiosk.socket.getpeername()[1]}"
                await serve_messages(near, far, work, accounting, conn)
                return
            nursery.start_soon(copy, near, far, nursery.cancel_scope)
            nursery.start_soon(copy, far, near, nursery.cancel_scope)


async def serve(
    upstream: tuple[str, int],
    port_file: Path,
    work: str = "bytes",
    log_file: Path | None = None,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Relay until SIGINT or SIGTERM (or cancelled); reports the port once listening."""
    accounting = None
    if work == "log":
        accounting = Accounting(log_file or port_file.with_suffix(".log"))
    handler = partial(relay_connection, upstream=upstream, work=work, accounting=accounting)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    partial_file = port_file.with_suffix(".tmp")
    partial_file.write_text(str(port))
    os.replace(partial_file, port_file)  # the reader never sees a half-written file
    task_status.started(port)
    try:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(trio.serve_listeners, handler, listeners))
                async for _ in signals:  # the bench stops the relay with SIGINT
                    nursery.cancel_scope.cancel()
                    break
    finally:
        if accounting is not None:
            accounting.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the ILS")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--work", choices=WORK, default="bytes", help="see the module doc")
    parser.add_argument(
        "--log-file", type=Path, help="with --work log (default: beside the port file)"
    )
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    trio.run(serve, (host, int(port)), args.port_file, args.work, args.log_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
