"""Listening sockets shared by the worker processes of ``interlend serve --workers N``.

Two ways to put N processes on one port:

* ``SO_REUSEPORT`` (Linux, the BSDs, macOS): each worker binds and listens on the
  port itself and the kernel spreads new connections over the listening sockets.  The
  supervisor first binds a socket of its own *without listening* to hold the port (and
  to turn port 0 into a concrete one): a socket that never listens takes no
  connections, so the kernel only ever hands them to live workers.  A worker that dies
  drops only the connections it had accepted or had queued.
* Elsewhere, ``shared``: the supervisor binds and listens once, and every worker
  inherits that socket and accepts on it.

``Prebound`` is what a worker hands to the daemon: one listening socket per configured
SIP2 listener, the NCIP one, and the worker's private admin socket.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BACKLOG",
    "Prebound",
    "ShareMode",
    "bind_socket",
    "listening_socket",
    "reuse_port_available",
]

BACKLOG = 1024
"""Connections the kernel queues per listening socket before accept."""

ShareMode = Literal["reuseport", "shared"]


@dataclass(frozen=True)
class Prebound:
    """Listening sockets made before a gateway starts (see the module documentation)."""

    sip2: tuple[socket.socket, ...]
    """One per ``[[gateway.sip2]]`` listener, in the configuration's order."""
    ncip: socket.socket | None = None
    admin: socket.socket | None = None


def reuse_port_available() -> bool:
    """Whether this platform can put several listening sockets on one port."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return False
    try:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        return False
    return True


def bind_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening).

    Raises:
        OSError: The address cannot be bound (in use, not local, bad name).
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A socket listening on ``host:port``, non-blocking and inheritable (a worker
    process may be handed it).

    Raises:
        OSError: The address cannot be bound.
    """
    sock = bind_socket(host, port, reuse_port=reuse_port)
    try:
        sock.listen(BACKLOG)
        sock.setblocking(False)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock
