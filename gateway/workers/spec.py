"""What the supervisor tells a worker process when it starts it: one JSON argument.

The listening sockets travel as inherited file descriptors (``shared``), or as the
address the worker binds itself with ``SO_REUSEPORT`` (``reuseport``).  The worker's
admin socket, on loopback, is always inherited: the supervisor keeps it across the
worker's restarts, so it reads the same port's metrics whichever process serves it.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass

from gateway.app.sockets import Prebound, ShareMode, listening_socket

__all__ = ["Endpoint", "WorkerSpec"]


@dataclass(frozen=True)
class Endpoint:
    """One listener: an inherited descriptor, or an address to bind with SO_REUSEPORT."""

    fd: int | None = None
    host: str | None = None
    port: int | None = None

    def open(self) -> socket.socket:
        """The listening socket, non-blocking (at the worker's start only)."""
        if self.fd is not None:
            sock = socket.socket(fileno=self.fd)
            sock.setblocking(False)
            return sock
        assert self.host is not None
        assert self.port is not None
        return listening_socket(self.host, self.port, reuse_port=True)


@dataclass(frozen=True)
class WorkerSpec:
    """A worker's start-up orders (see the module documentation)."""

    config: str
    index: int
    share: ShareMode
    sip2: tuple[Endpoint, ...]
    ncip: Endpoint | None
    admin_fd: int
    log_level: str = "info"
    log_json: bool | None = None

    def dumps(self) -> str:
        """The JSON argument."""
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str) -> WorkerSpec:
        """Read the JSON argument back."""
        data = json.loads(text)
        return cls(
            config=data["config"],
            index=data["index"],
            share=data["share"],
            sip2=tuple(Endpoint(**e) for e in data["sip2"]),
            ncip=Endpoint(**data["ncip"]) if data["ncip"] else None,
            admin_fd=data["admin_fd"],
            log_level=data["log_level"],
            log_json=data["log_json"],
        )

    def inherited_fds(self) -> tuple[int, ...]:
        """The descriptors the worker must be handed."""
        fds = [e.fd for e in (*self.sip2, self.ncip) if e is not None and e.fd is not None]
        return (*fds, self.admin_fd)

    def prebound(self) -> Prebound:
        """Open the worker's sockets."""
        return Prebound(
            sip2=tuple(e.open() for e in self.sip2),
            ncip=self.ncip.open() if self.ncip is not None else None,
            admin=Endpoint(fd=self.admin_fd).open(),
        )
