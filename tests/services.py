"""Real services for the tests: a redis-server of their own on a free port.

``REDIS_URL`` points the tests at another server instead.  Where neither is
available the tests that need Redis skip, unless ``INTERLEND_REQUIRE_SERVICES=1``
(set by ``.ci/run``), which makes them fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["RedisServer", "free_port", "missing_service", "start_redis"]


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_service(reason: str) -> None:
    """Skip, or fail when the run requires real services."""
    if os.environ.get("INTERLEND_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (INTERLEND_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A redis-server this test run started (and stops)."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, appendonly: bool = False) -> None:
        """Start (or restart) the server on its port and wait until it answers."""
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes" if appendonly else "no",
                "--dir", str(self.directory),
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server (it can be started again on the same port)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


def start_redis(directory: Path, *, appendonly: bool = False) -> RedisServer | None:
    """A fresh redis-server on a free port, or ``None`` when the binary is missing."""
    if shutil.which("redis-server") is None:
        return None
    server = RedisServer(free_port(), directory)
    server.start(appendonly=appendonly)
    return server
