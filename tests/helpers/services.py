"""Real services for the tests: a redis-server of their own on a free port, a
three-node Redis Cluster, and a primary behind a Sentinel.

``REDIS_URL`` points the tests at another server instead.  Where neither is
available the tests that need Redis skip, unless ``INTERLEND_REQUIRE_SERVICES=1``
(set by ``.ci/run``), which makes them fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers.polling import eventually_blocking

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "RedisCluster",
    "RedisServer",
    "dead_port",
    "free_port",
    "free_ports",
    "missing_service",
    "start_redis",
    "start_redis_cluster",
    "start_redis_sentinel",
]


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback): for a server a test starts
    later, or for a peer that must be found dead (connections refused)."""
    [port] = free_ports(1)
    return port


_HELD: list[socket.socket] = []
"""The sockets that keep ``dead_port``'s ports taken until the test process ends."""


def dead_port() -> int:
    """A loopback TCP port where connections are refused for the rest of the test run.

    A port that is merely free now may be taken a moment later by a server of a test
    running beside this one (pytest-xdist): the "dead" peer would then answer.  This
    one stays bound by a socket that never listens, so nothing else can have it and
    every connection to it is refused.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _HELD.append(sock)
    return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` different TCP ports nothing listens on right now (loopback).

    They are held together while chosen, so no two are the same.
    """
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(1000):
        port = free_port()
        if port + 10_000 > 65_535:
            port -= 20_000
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free pair of ports for a Redis Cluster node")


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


def _wait_until_serving(
    process: subprocess.Popen[bytes], serving: Callable[[], bool], what: str, timeout: float = 10
) -> None:
    """Wait until a server this run started answers (failing at once if it exits)."""

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before answering")
        return serving()

    eventually_blocking(answers, timeout=timeout, every=0.02, what=f"{what} to answer")


@dataclass
class RedisServer:
    """A redis-server this test run started (and stops)."""

    port: int
    directory: Path
    cluster: bool = False
    sentinel_config: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, appendonly: bool = False) -> None:
        """Start (or restart) the server on its port and wait until it answers."""
        binary = shutil.which("redis-server")
        assert binary is not None
        if self.sentinel_config:
            mode = [str(self.sentinel_config), "--sentinel"]
        else:
            mode = ["--save", "", "--appendonly", "yes" if appendonly else "no"]
        self.process = subprocess.Popen(
            [
                binary,
                *mode,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--logfile", str(self.directory / "redis.log"),
                *(["--cluster-enabled", "yes"] if self.cluster else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_until_serving(self.process, lambda: _ping(self.port), f"redis-server on {self.port}")

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


@dataclass
class RedisCluster:
    """A three-primary Redis Cluster this test run started (and stops)."""

    nodes: list[RedisServer]

    @property
    def url(self) -> str:
        """A URL naming one node (the client discovers the others)."""
        return self.nodes[0].url

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


def start_redis_cluster(directory: Path) -> RedisCluster | None:
    """Three redis-servers joined into a cluster, or ``None`` without the binaries."""
    cli = shutil.which("redis-cli")
    if shutil.which("redis-server") is None or cli is None:
        return None
    nodes: list[RedisServer] = []
    try:
        for n in range(3):
            node_dir = directory / f"node{n}"
            node_dir.mkdir()
            node = RedisServer(_cluster_port(), node_dir, cluster=True)
            node.start()
            nodes.append(node)
        addresses = [f"127.0.0.1:{node.port}" for node in nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        info = [cli, "-p", str(nodes[0].port), "cluster", "info"]
        eventually_blocking(
            lambda: (
                b"cluster_state:ok" in subprocess.run(info, capture_output=True, timeout=5).stdout
            ),
            timeout=15,
            every=0.1,
            what="the Redis Cluster to come up",
        )
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return RedisCluster(nodes)


@dataclass
class RedisSentinel:
    """A primary watched by one Sentinel (service name ``interlend``)."""

    primary: RedisServer
    sentinel: RedisServer

    @property
    def address(self) -> str:
        """The Sentinel's host:port."""
        return f"127.0.0.1:{self.sentinel.port}"

    def stop(self) -> None:
        """Stop both."""
        self.sentinel.stop()
        self.primary.stop()


def start_redis_sentinel(directory: Path) -> RedisSentinel | None:
    """A primary and a Sentinel watching it, or ``None`` without redis-server."""
    primary = start_redis(directory)
    if primary is None:
        return None
    config = directory / "sentinel.conf"
    config.write_text(f"sentinel monitor interlend 127.0.0.1 {primary.port} 1\n")
    sentinel = RedisServer(free_port(), directory, sentinel_config=config)
    try:
        sentinel.start()
    except BaseException:
        primary.stop()
        raise
    return RedisSentinel(primary, sentinel)


def anvil_binary(root: Path | None = None) -> str | None:
    """The anvil that ``npm ci`` put in ``node_modules``, or ``None``.

    The platform package's native binary is preferred to the ``.bin/anvil`` node
    wrapper, so that stopping the process stops the node itself.  ``INTERLEND_ANVIL``
    names another binary.
    """
    if os.environ.get("INTERLEND_ANVIL"):
        named = os.environ["INTERLEND_ANVIL"]
        return named if os.access(named, os.X_OK) else None
    modules = (root or Path(__file__).resolve().parents[2]) / "node_modules"
    for candidate in sorted(modules.glob("@foundry-rs/anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    wrapper = modules / ".bin" / "anvil"
    if wrapper.exists() and shutil.which("node"):
        return str(wrapper)
    return None


def _rpc_answers(port: int) -> bool:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            return b'"result"' in sock.recv(4096)
    except OSError:
        return False


@dataclass
class AnvilNode:
    """An anvil this test run started (and stops), keeping its chain in ``state``.

    Stopping it dumps the chain to ``state``; starting it again on the same port loads
    it, so a test can take the node away and bring the same chain back.
    """

    binary: str
    port: int
    state: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The node's JSON-RPC URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) the node and wait until it answers JSON-RPC."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--silent",
                # Without it anvil keeps every historical state (gigabytes after a few
                # thousand blocks).
                "--prune-history",
                "--state", str(self.state),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_until_serving(
                self.process, lambda: _rpc_answers(self.port), f"anvil on {self.port}", timeout=15
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the node (its chain is dumped to ``state`` on the way out)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def start_anvil(directory: Path) -> AnvilNode | None:
    """A fresh anvil on a free port with an empty chain, or ``None`` when not installed."""
    binary = anvil_binary()
    if binary is None:
        return None
    node = AnvilNode(binary, free_port(), directory / "anvil-state.json")
    node.start()
    return node
