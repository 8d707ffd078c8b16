"""A small Redis client on trio with hiredis's C parser, for the registry's scripts.

Why it exists: ``bench/redis_clients.py`` measured coredis at about 200 µs of client
CPU per command on the development machine, against about 65 µs for redis-py's
hiredis-backed client called inline; the difference is the general client's
machinery (command objects, callbacks, retry policy, anyio's task groups), not the
wire.  This client does only what the store's hot path needs: send one command
(packed by hiredis), read one reply (parsed by hiredis), on a pool of connections.  A
command waits for its reply, so it is acknowledged by Redis before the caller goes
on, exactly as with coredis.

A plain TCP connection is driven by non-blocking socket calls, with trio's
``wait_readable``/``wait_writable`` only when the kernel has nothing yet, and a free
pool slot is taken without waiting: a command costs one pass through trio's scheduler
(the wait for Redis's reply) instead of three through trio's streams and semaphore
(a checkpoint after taking the slot, after the send and after the receive).  Each
call is still a checkpoint.  TLS goes through ``trio.SSLStream``.

Rules:

- One command per connection at a time; a connection whose command did not end with
  a whole reply (cancelled, timed out, broken) is closed, never reused, since unread
  bytes would become the next caller's reply.
- An idle connection with something to read when it is taken (Redis restarted or
  closed it) is closed and another taken, so a restart costs no caller a failure;
  a command is never sent twice.
- At most ``pool_size`` connections; callers beyond that wait for a free one.
- Error replies are raised as ``ReplyError`` (a ``RespError``); lost or refused
  connections as ``ConnectionLost`` (a ``RespError`` too).  Time-outs are the
  caller's (``trio.fail_after`` around the call).
- Plain Redis only: no Cluster redirections, no Sentinel discovery.
"""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

import hiredis
import trio

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ConnectionLost", "ReplyError", "RespClient", "RespError"]

_CHUNK = 65536


class RespError(Exception):
    """A command failed (see the subclasses)."""


class ReplyError(RespError):
    """Redis answered with an error reply (its text is the message)."""


class ConnectionLost(RespError):
    """The connection could not be made, or broke before the whole reply came."""


Arg = str | int | float | bytes


class _Connection(Protocol):
    """One open connection and its reply parser."""

    def stale(self) -> bool:
        """Whether the idle connection has something to read: Redis closed it (a
        restart, ``timeout``, ``CLIENT KILL``) or sent what nobody asked for."""
        ...

    async def call(self, packed: bytes) -> Any:
        """Send one packed command and return its reply (an error reply as a value)."""
        ...

    async def aclose(self) -> None:
        """Close at once, whatever is left unread."""
        ...


def _reader() -> hiredis.Reader:
    return hiredis.Reader(encoding="utf-8", replyError=ReplyError)


class _PlainConnection:
    """A TCP connection driven by non-blocking socket calls, waiting through trio only
    when the kernel has nothing yet: a command Redis answers costs one trip through
    trio's scheduler (the wait for the reply), where its streams take three (a
    checkpoint after the send and after the receive too).  ``bench/redis_clients.py``
    measures the difference."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.reader = _reader()

    def stale(self) -> bool:
        try:
            self.sock.recv(1, socket.MSG_PEEK)  # data, or b"" for a closed connection
        except BlockingIOError:
            return False
        except OSError:
            pass
        return True

    async def call(self, packed: bytes) -> Any:
        sock, waited = self.sock, False
        try:
            view = memoryview(packed)
            while view:
                try:
                    view = view[sock.send(view) :]
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(sock)
                    waited = True
            while True:
                reply = self.reader.gets()
                if reply is not False:
                    break
                try:
                    data = sock.recv(_CHUNK)
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(sock)
                    waited = True
                    continue
                if not data:
                    raise ConnectionLost("Redis closed the connection")
                self.reader.feed(data)
        except OSError as exc:
            raise ConnectionLost(f"connection to Redis failed: {exc}") from exc
        except hiredis.ProtocolError as exc:
            raise ConnectionLost(f"Redis's reply could not be read: {exc}") from exc
        if not waited:
            await trio.lowlevel.checkpoint()  # every call is a checkpoint, as trio's are
        return reply

    async def aclose(self) -> None:
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()
        await trio.lowlevel.checkpoint_if_cancelled()


class _StreamConnection:
    """A connection through a trio stream: TLS."""

    def __init__(self, stream: trio.SSLStream[trio.SocketStream]) -> None:
        self.stream = stream
        self.socket = stream.transport_stream.socket
        self.reader = _reader()

    def stale(self) -> bool:
        return self.socket.is_readable()

    async def call(self, packed: bytes) -> Any:
        try:
            await self.stream.send_all(packed)
            while True:
                reply = self.reader.gets()
                if reply is not False:
                    return reply
                data = await self.stream.receive_some(_CHUNK)
                if not data:
                    raise ConnectionLost("Redis closed the connection")
                self.reader.feed(bytes(data))
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ConnectionLost(f"connection to Redis failed: {exc}") from exc
        except hiredis.ProtocolError as exc:
            raise ConnectionLost(f"Redis's reply could not be read: {exc}") from exc

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


class RespClient:
    """A pool of connections to one Redis server (see the module documentation).

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]`` or ``rediss://…`` (TLS with
            the system's trust store, or ``ssl_context``).  The user and password are
            read as ``coredis.Redis.from_url`` reads them (as written, no %-decoding),
            so the two clients log in alike on one URL.
        pool_size: The most connections open at once.
        password: Used when the URL has no password (the URL's wins, as with coredis).
        ssl_context: The TLS settings for ``rediss://``.

    Raises:
        ValueError: The URL is not a redis:// or rediss:// URL with a host.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 16,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"{url!r} is not a redis:// or rediss:// URL")
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self._host, self._port = parts.hostname, parts.port or 6379
        self._tls = ssl_context or (
            ssl.create_default_context() if parts.scheme == "rediss" else None
        )
        self._username = parts.username or None
        self._password = parts.password or password
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ValueError(f"{url!r}: the database must be a number")
        self._db = int(path) if path else 0
        self._idle: list[_Connection] = []
        self._slots = trio.Semaphore(pool_size)
        self._closed = False

    async def _connect(self) -> _Connection:
        try:
            plain = await trio.open_tcp_stream(self._host, self._port)
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to Redis: {exc}") from exc
        connection: _Connection
        if self._tls is not None:
            stream = trio.SSLStream(plain, self._tls, server_hostname=self._host)
            connection = _StreamConnection(stream)
        else:
            # The socket leaves trio's stream (TCP_NODELAY set by it) for plain calls.
            connection = _PlainConnection(socket.socket(fileno=plain.socket.detach()))
        try:
            hello: list[tuple[Arg, ...]] = []
            if self._password is not None:
                user = (self._username,) if self._username else ()
                hello.append(("AUTH", *user, self._password))
            if self._db:
                hello.append(("SELECT", self._db))
            for command in hello:
                reply = await connection.call(pack(command))
                if isinstance(reply, ReplyError):
                    raise reply
        except BaseException:
            with trio.CancelScope(shield=True):
                await connection.aclose()
            raise
        return connection

    async def execute(self, *args: Arg) -> Any:
        """Send one command and return its reply (decoded: str, int, None, lists).

        Raises:
            ReplyError: Redis answered with an error.
            ConnectionLost: No connection, or it broke before the reply came.
        """
        if self._closed:
            raise ConnectionLost("the client is closed")
        # A free slot is taken without a trip through the scheduler (the call itself
        # is the checkpoint); only a caller that must wait for one waits.
        try:
            self._slots.acquire_nowait()
        except trio.WouldBlock:
            await self._slots.acquire()
        try:
            connection = await self._take()
            try:
                reply = await connection.call(pack(args))
            except BaseException:
                # Cancelled or failed mid-command: what is left unread is not ours.
                with trio.CancelScope(shield=True):
                    await connection.aclose()
                raise
            await self._give_back(connection)
        finally:
            self._slots.release()
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def _give_back(self, connection: _Connection) -> None:
        """Keep a connection for the next caller, unless the client was closed while
        its command ran."""
        if self._closed:
            await connection.aclose()
        else:
            self._idle.append(connection)

    async def _take(self) -> _Connection:
        """An idle connection Redis still holds open, else a new one."""
        while self._idle:
            connection = self._idle.pop()
            if not connection.stale():
                return connection
            await connection.aclose()
        return await self._connect()

    async def aclose(self) -> None:
        """Close every idle connection; later calls fail with ``ConnectionLost``."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.aclose()


def pack(args: Sequence[Arg]) -> bytes:
    """One command in Redis's wire format (hiredis's packer; its stub types the
    argument as a one-element tuple)."""
    return cast("bytes", hiredis.pack_command(cast("Any", tuple(args))))
