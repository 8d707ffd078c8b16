"""Moving one connection's bytes with as few trips through trio's scheduler as possible.

SIP2 is one request, then one response, on every connection the gateway has (kiosks
in, member ILSs out, the simulated ILS).  For that pattern trio's ``SocketStream``
does more than it needs to, and on the gateway's per-message path it shows:

* ``receive_some`` first tries to read, which after an answer has been sent always
  fails (the peer has not had the time to send the next message), and then waits;
* ``send_all`` reschedules the task after a write that the kernel took at once.

``Wire`` does the same work on a plain TCP socket of a POSIX system through its file
descriptor: it waits until the socket is readable and then reads once, and it writes
at once, waiting (through ``send_all``) only for what the kernel could not take.  The
wait before each read is the caller's checkpoint, so a loop of receive-then-send still
yields to other tasks once per message and is cancelled where it waits.

Any other stream (TLS, an in-memory stream in tests, another platform) goes through
the ``trio.abc.Stream`` methods unchanged.  Errors are the operating system's
(``OSError``: reset, broken pipe) on the direct path and trio's on the other; callers
treat both as a lost connection.
"""

from __future__ import annotations

import os

import trio

__all__ = ["Wire"]

_POSIX = os.name == "posix"


class Wire:
    """One connection's byte transport (see the module documentation).

    Args:
        stream: The connection.  A plain ``trio.SocketStream`` on POSIX is used
            through its file descriptor; anything else through its own methods.
    """

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._fd = -1
        if _POSIX and isinstance(stream, trio.SocketStream):
            self._fd = stream.socket.fileno()

    @property
    def direct(self) -> bool:
        """Whether the bytes go through the file descriptor (a plain socket on POSIX)."""
        return self._fd >= 0

    async def receive(self, max_bytes: int) -> bytes | bytearray:
        """Wait for bytes from the peer and return up to ``max_bytes`` of them.

        Returns empty bytes once the peer has closed its side.
        """
        if self._fd < 0:
            return await self.stream.receive_some(max_bytes)
        while True:
            await trio.lowlevel.wait_readable(self._fd)
            try:
                return os.read(self._fd, max_bytes)
            except BlockingIOError:  # pragma: no cover - readable, then not (a race)
                continue

    def send_nowait(self, data: bytes) -> bytes:
        """Write what the kernel takes now, without waiting; return the rest.

        The rest is all of ``data`` for a stream that is not written directly.
        """
        if self._fd < 0:
            return data
        try:
            sent = os.write(self._fd, data)
        except BlockingIOError:
            return data
        return data[sent:]

    async def send_all(self, data: bytes) -> None:
        """Write all of ``data``, waiting only if the kernel cannot take it at once."""
        rest = self.send_nowait(data)
        if rest:
            await self.stream.send_all(rest)
