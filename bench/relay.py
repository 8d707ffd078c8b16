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
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from functools import partial
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.wire import Wire

CHUNK = 65536


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


async def relay_connection(kiosk: trio.SocketStream, *, upstream: tuple[str, int]) -> None:
    """Join one accepted connection to a fresh upstream connection of its own."""
    async with kiosk:
        try:
            with trio.fail_after(5):
                ils = await trio.open_tcp_stream(*upstream)
        except (OSError, trio.TooSlowError):
            return
        async with ils, trio.open_nursery() as nursery:
            near, far = Wire(kiosk), Wire(ils)
            nursery.start_soon(copy, near, far, nursery.cancel_scope)
            nursery.start_soon(copy, far, near, nursery.cancel_scope)


async def serve(upstream: tuple[str, int], port_file: Path) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    partial_file = port_file.with_suffix(".tmp")
    partial_file.write_text(str(port))
    os.replace(partial_file, port_file)  # the reader never sees a half-written file
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                partial(
                    trio.serve_listeners, partial(relay_connection, upstream=upstream), listeners
                )
            )
            async for _ in signals:  # the bench stops the relay with SIGINT
                nursery.cancel_scope.cancel()
                break


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the ILS")
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    trio.run(serve, (host, int(port)), args.port_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
